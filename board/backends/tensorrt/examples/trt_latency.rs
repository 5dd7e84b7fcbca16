//! Per-window latency of a TensorRT plan on this GPU: `cargo run --release -p skelact-tensorrt --example
//! trt_latency -- PLAN [RUNS]`. Prints p50, p90 and p99 in milliseconds over RUNS (default 1000) windows after
//! 50 warm-up runs, each run a full round trip (copy in, `enqueueV3`, copy out, synchronize) as the daemon does it.
//! `gpu-check.sh` runs it for the FP32, FP16 and INT8 plans.

use std::time::Instant;

use skelact_runtime::engine::Engine;
use skelact_tensorrt::{TensorRtEngine, TensorRtOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let plan_path = args.next().ok_or("usage: trt_latency PLAN [RUNS]")?;
    let runs: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(1000).max(1);
    let device = TensorRtEngine::device_info(&TensorRtOptions::default())?;
    let mut engine = TensorRtEngine::load(&std::fs::read(&plan_path)?, &TensorRtOptions::default())?;
    // A fixed, non-trivial window: the values do not change the work a dense engine does.
    let input: Vec<f32> = (0..engine.input_len()).map(|i| (i % 97) as f32 / 97.0).collect();
    let mut output = vec![0.0; engine.output_len()];
    for _ in 0..50 {
        engine.run(&input, &mut output)?;
    }
    let mut times_ms: Vec<f64> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        engine.run(&input, &mut output)?;
        times_ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times_ms.sort_by(f64::total_cmp);
    let at = |q: f64| times_ms[((times_ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "{plan_path}: TensorRT {} on {} (sm {}), {runs} runs: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms",
        device.tensorrt,
        device.gpu_name,
        device.compute_capability,
        at(0.5),
        at(0.9),
        at(0.99)
    );
    Ok(())
}
