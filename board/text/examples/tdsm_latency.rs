//! TDSM's cost per window on tract, for docs/performance.md: `cargo run --release -p skelact-text --example
//! tdsm_latency -- CANDIDATES [RUNS]`. Plans the shipped scorer (`models/zoo/text-aligned-hcn/tdsm.onnx`) for
//! CANDIDATES prompts (the golden prompts, cycled; their features by the text encoder) and times RUNS windows (default
//! 20, after one warm-up) of one embedding each. Prints one JSON line. `models/tools/tdsm_latency.py` runs it in
//! alternating rounds with onnxruntime on the same ONNX.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use skelact_text::{TdsmScorer, TextEncoder};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let candidates: usize = args.next().context("usage: tdsm_latency CANDIDATES [RUNS]")?.parse()?;
    let runs: usize = args.next().map(|s| s.parse()).transpose().context("RUNS")?.unwrap_or(20);
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = repo.join("models/build/text");
    let encoder = TextEncoder::load(
        &std::fs::read(dir.join("text.onnx")).context("text.onnx: run `cargo xtask text-encoder`")?,
        &std::fs::read(dir.join("tokenizer.json")).context("tokenizer.json")?,
    )?;
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.join("tests/fixtures/text/golden.json"))?)?;
    let prompts: Vec<&str> =
        golden["cases"].as_array().context("cases")?.iter().filter_map(|c| c["prompt"].as_str()).collect();
    let features = prompts.iter().cycle().take(candidates).map(|p| encoder.encode(p)).collect::<Result<Vec<_>, _>>()?;
    let onnx = std::fs::read(repo.join("models/zoo/text-aligned-hcn/tdsm.onnx")).context("tdsm.onnx")?;
    let started = Instant::now();
    let scorer = TdsmScorer::load(&onnx, encoder.dim(), &features)?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    // A unit embedding, as the text-aligned model gives; the cost does not depend on its values.
    let embedding: Vec<f32> =
        (0..encoder.dim()).map(|i| ((i as f32) * 0.37).sin() / (encoder.dim() as f32).sqrt()).collect();
    let mut errors = vec![0.0; candidates];
    scorer.score(&embedding, &mut errors)?;
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            scorer.score(&embedding, &mut errors).map(|()| t.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<_, _>>()?;
    times.sort_by(f64::total_cmp);
    let percentile = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "{}",
        serde_json::json!({"backend": "tract", "candidates": candidates, "runs": runs, "load_ms": load_ms,
                           "p50_ms": percentile(0.5), "p90_ms": percentile(0.9)})
    );
    Ok(())
}
