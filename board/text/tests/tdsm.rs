//! TDSM's scorer on tract against PyTorch: the shipped scorer (`models/zoo/text-aligned-hcn/tdsm.onnx`) scores a
//! few real window embeddings against prompts, their features computed by this crate's text encoder, and must give
//! PyTorch's errors (`tdsm_golden.json`, written by `python -m skelact_models.tdsm --device`) and the same nearest
//! prompt. The text encoder is built, not committed (`cargo xtask text-encoder`, which CI runs first).

mod common;

use common::{encoder, repo};
use serde_json::Value;
use skelact_text::{TdsmScorer, TextError, MAX_CANDIDATES};

fn scorer_onnx() -> Vec<u8> {
    std::fs::read(repo().join("models/zoo/text-aligned-hcn/tdsm.onnx")).expect("the committed TDSM scorer")
}

fn floats(value: &Value) -> Vec<f32> {
    value.as_array().expect("array").iter().map(|v| v.as_f64().expect("number") as f32).collect()
}

fn argmin(values: &[f32]) -> usize {
    (0..values.len()).fold(0, |best, i| if values[i] < values[best] { i } else { best })
}

#[test]
fn the_scorer_on_tract_gives_pytorchs_errors_and_nearest_prompt() {
    let Some(encoder) = encoder() else { return };
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("models/zoo/text-aligned-hcn/tdsm_golden.json")).expect("golden file"),
    )
    .expect("golden JSON");
    let prompts: Vec<&str> = golden["prompts"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    let candidates: Vec<_> = prompts.iter().map(|p| encoder.encode(p).expect("encode")).collect();
    let embeddings: Vec<Vec<f32>> = golden["embeddings"].as_array().unwrap().iter().map(floats).collect();
    let scorer = TdsmScorer::load(&scorer_onnx(), embeddings[0].len(), &candidates).expect("load the scorer");
    assert_eq!(scorer.candidates(), prompts.len());
    let mut worst = 0.0f32;
    for (embedding, want) in embeddings.iter().zip(golden["errors"].as_array().unwrap()) {
        let want = floats(want);
        let mut errors = vec![f32::NAN; prompts.len()];
        scorer.score(embedding, &mut errors).expect("score");
        for (got, want) in errors.iter().zip(&want) {
            worst = worst.max((got - want).abs() / want.abs().max(1e-3));
        }
        assert_eq!(argmin(&errors), argmin(&want), "nearest prompt: tract {errors:?}, PyTorch {want:?}");
        // The prompts are not all alike to the denoiser: the errors must differ, or nothing was ranked.
        let spread = want.iter().fold(f32::MIN, |a, b| a.max(*b)) - want.iter().fold(f32::MAX, |a, b| a.min(*b));
        assert!(spread > 1e-3, "PyTorch's errors barely differ: {want:?}");
    }
    assert!(worst < 1e-3, "largest relative difference to PyTorch {worst}");
    println!(
        "TDSM scorer on tract: {} windows x {} prompts, worst relative difference {worst:e}",
        embeddings.len(),
        prompts.len()
    );
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let Some(encoder) = encoder() else { return };
    let onnx = scorer_onnx();
    let candidate = encoder.encode("tennis serve").expect("encode");
    let refusal = |result: Result<TdsmScorer, TextError>| result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refusal(TdsmScorer::load(&onnx, 384, &[])).contains("1 to 256 candidates, not 0"));
    let many = vec![candidate.clone(); MAX_CANDIDATES + 1];
    assert!(refusal(TdsmScorer::load(&onnx, 384, &many)).contains("not 257"));
    assert!(refusal(TdsmScorer::load(b"not onnx", 384, std::slice::from_ref(&candidate))).contains("TDSM scorer"));
    let mut short = candidate.clone();
    short.tokens.pop();
    assert!(refusal(TdsmScorer::load(&onnx, 384, &[candidate.clone(), short])).contains("differ in shape"));
    // Another embedding length than the model's: refused when planned or when run, never a panic.
    let scorer = TdsmScorer::load(&onnx, 384, std::slice::from_ref(&candidate)).expect("load");
    let mut errors = [0.0f32];
    assert!(scorer.score(&[0.0; 383], &mut errors).is_err());
    assert!(scorer.score(&[0.0; 384], &mut [0.0, 0.0]).is_err());
    // A non-finite embedding gives non-finite errors, refused rather than ranked.
    let error = scorer.score(&[f32::NAN; 384], &mut errors).unwrap_err();
    assert!(error.to_string().contains("finite"), "{error}");
    assert!(TdsmScorer::load(&onnx, 100, &[candidate]).and_then(|s| s.score(&[0.0; 100], &mut errors)).is_err());
}
