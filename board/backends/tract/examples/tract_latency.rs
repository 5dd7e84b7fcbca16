//! Per-run latency of the tract backend on any ONNX file, with heap allocations per run (`skelact bench` takes a bundle).
//!
//! `cargo run -p skelact-tract --release --example tract_latency -- MODEL.onnx [THREADS] [RUNS] [OUTPUT]`
//! (OUTPUT names the output to read when the model has several, e.g. `logits`), or
//! `... --example tract_latency -- --rec T REC.onnx [THREADS] [RUNS]` for a reconstruction model (inputs `joint`
//! [1, 3, T, 25, 2] and `missing` [1, 1, T, 25, 2], a tenth of the joints missing).
//! Prints min / p50 / p99 over RUNS runs (default 200) after 10 warm-up runs, on a seeded input, and the heap
//! allocations per run (all of them tract's: the engine reuses its own buffers).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Counts allocations, to show what a run costs the heap.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

use skelact_runtime::engine::Engine;
use skelact_tract::{TractEngine, TractOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let rec_frames: Option<usize> = match args.peek().map(String::as_str) {
        Some("--rec") => {
            args.next();
            Some(args.next().ok_or_else(|| anyhow::anyhow!("--rec needs T"))?.parse()?)
        }
        _ => None,
    };
    let path =
        args.next().ok_or_else(|| anyhow::anyhow!("usage: tract_latency MODEL.onnx [THREADS] [RUNS] [OUTPUT]"))?;
    let threads: usize = args.next().map_or(Ok(1), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(200), |a| a.parse())?;
    let output_name = args.next();
    let onnx = std::fs::read(&path)?;
    let started = Instant::now();
    let options = TractOptions { threads, input_shape: None, output_name };
    let mut engine = match rec_frames {
        Some(t) => TractEngine::load_inputs(&onnx, &options, &skelact_conformance::reconstruction_inputs(t))?,
        None => TractEngine::load(&onnx, &options)?,
    };
    let load = started.elapsed();
    // A deterministic input in the range of centred coordinates.
    let mut input: Vec<f32> =
        (0..engine.input_len()).map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.6).collect();
    if let Some(t) = rec_frames {
        // The mask part: every tenth entry missing.
        let joint_len = 3 * t * 25 * 2;
        for (i, value) in input[joint_len..].iter_mut().enumerate() {
            *value = if i % 10 == 3 { 1.0 } else { 0.0 };
        }
    }
    let mut output = vec![0.0; engine.output_len()];
    for _ in 0..10 {
        engine.run(&input, &mut output)?;
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    engine.run(&input, &mut output)?;
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            engine.run(&input, &mut output).map(|()| t.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<_, _>>()?;
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "{path}: input {:?}, threads {threads}, load {:.0} ms, runs {runs}: min {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, \
         {allocations} allocations per run",
        engine.input_shape(),
        load.as_secs_f64() * 1e3,
        pick(0.0),
        pick(0.5),
        pick(0.99)
    );
    Ok(())
}
