//! Time to encode one prompt on tract (tokenizer + model), for docs/performance.md:
//! `cargo run --release -p skelact-text --example text_latency -- [RUNS]`. Prints one JSON line: per-prompt
//! percentiles over the golden prompts, each encoded RUNS times (default 5) after one warm-up, and the load time.
//! `models/tools/text_latency.py` runs it in alternating rounds with onnxruntime on the same ONNX.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use skelact_text::TextEncoder;

fn main() -> Result<()> {
    let runs: usize = std::env::args().nth(1).map(|s| s.parse()).transpose().context("RUNS")?.unwrap_or(5);
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = repo.join("models/build/text");
    let started = Instant::now();
    let encoder = TextEncoder::load(
        &std::fs::read(dir.join("text.onnx")).context("text.onnx: run `cargo xtask text-encoder`")?,
        &std::fs::read(dir.join("tokenizer.json")).context("tokenizer.json")?,
    )?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.join("tests/fixtures/text/golden.json"))?)?;
    let prompts: Vec<String> = golden["cases"]
        .as_array()
        .context("cases")?
        .iter()
        .filter_map(|c| c["prompt"].as_str().map(String::from))
        .collect();
    let mut tokenize_ms = Vec::new();
    let mut encode_ms = Vec::new();
    for prompt in &prompts {
        encoder.encode(prompt)?;
        for _ in 0..runs {
            let t = Instant::now();
            encoder.tokenize(prompt)?;
            tokenize_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            encoder.encode(prompt)?;
            encode_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let percentile = |values: &mut Vec<f64>, q: f64| {
        values.sort_by(f64::total_cmp);
        values[((values.len() - 1) as f64 * q).round() as usize]
    };
    println!(
        "{}",
        serde_json::json!({
            "backend": "tract", "prompts": prompts.len(), "runs": runs, "load_ms": load_ms,
            "encode_p50_ms": percentile(&mut encode_ms, 0.5), "encode_p90_ms": percentile(&mut encode_ms, 0.9),
            "tokenize_p50_ms": percentile(&mut tokenize_ms, 0.5),
        })
    );
    Ok(())
}
