//! `skelact bench`: per-window inference latency of a bundle on this machine on the three CPU paths, with the same
//! thread count, as ratios taken in the same run: tract, the device's onnxruntime backend (where its library is
//! found), and onnxruntime from Python (where it can be imported), the reference.
//!
//! Every engine gets the same deterministic input of the model's shape, warms up, then they alternate in rounds
//! (tract, onnxruntime backend, Python onnxruntime, tract, ...) so that a change of machine load touches all alike. onnxruntime runs in a Python
//! child process with `intra_op_num_threads = threads`, `inter_op_num_threads = 1`, sequential execution, and
//! computes only the output the bundle names.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use skelact_device::model::{BackendChoice, BundleFile, EngineOptions, LoadedModel, OverlayChoice};
use skelact_runtime::bundle::{Precision, StreamKind};
use skelact_runtime::engine::Engine;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Model bundle [default: $SKELACT_BUNDLE, else default.skb on the search path (board/README.md, "Installing")].
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Threads for both engines.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Timed runs per engine and round.
    #[arg(long, default_value_t = 100)]
    pub runs: usize,
    /// Untimed runs before the first round.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Rounds (each engine once per round, alternating).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// ONNX precision.
    #[arg(long, value_enum, default_value_t = PrecisionArg::Fp32)]
    pub precision: PrecisionArg,
    /// Python with onnxruntime [default: .venv/bin/python of the repository, if present].
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Skip onnxruntime.
    #[arg(long)]
    pub no_onnxruntime: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PrecisionArg {
    Fp32,
    Int8,
}

/// Latency percentiles of a list of milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Percentiles {
    pub runs: usize,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
}

/// Nearest-rank percentiles.
pub fn percentiles(samples: &[f64]) -> Option<Percentiles> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    Some(Percentiles {
        runs: sorted.len(),
        min_ms: sorted[0],
        p50_ms: rank(0.5),
        p90_ms: rank(0.9),
        p99_ms: rank(0.99),
        mean_ms: sorted.iter().sum::<f64>() / sorted.len() as f64,
    })
}

const ORT_SCRIPT: &str = r#"
import json, sys, time
try:
    import numpy as np
    import onnxruntime as ort
except Exception as e:
    print(json.dumps({"error": "cannot import onnxruntime: %s" % e}))
    sys.exit(0)
path, threads, output = sys.argv[1], int(sys.argv[2]), sys.argv[3]
shape = [int(d) for d in sys.argv[4].split(",")]
options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
n = 1
for d in shape:
    n *= d
x = ((((np.arange(n) * 7919) % 1000) / 1000.0 - 0.5) * 0.6).astype(np.float32).reshape(shape)
print(json.dumps({"ready": True, "version": ort.__version__}), flush=True)
for line in sys.stdin:
    runs = int(line)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run([output], {name: x})
        times.append((time.perf_counter() - t) * 1e3)
    print(json.dumps({"times_ms": times}), flush=True)
"#;

/// The Python to use: `--python`, else the repository's `.venv/bin/python`.
fn python_for(given: Option<&PathBuf>) -> Option<PathBuf> {
    if let Some(path) = given {
        return Some(path.clone());
    }
    [PathBuf::from(".venv/bin/python"), Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")]
        .into_iter()
        .find(|p| p.exists())
}

/// onnxruntime in a child process, fed run counts on stdin, answering with times.
struct OrtChild {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    version: String,
}

impl OrtChild {
    fn start(python: &Path, onnx: &Path, threads: usize, output: &str, shape: &[u32]) -> anyhow::Result<Self> {
        use std::io::BufRead;
        let shape = shape.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let mut child = Command::new(python)
            .args(["-c", ORT_SCRIPT])
            .arg(onnx)
            .arg(threads.to_string())
            .arg(output)
            .arg(shape)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", python.display()))?;
        let mut stdout = std::io::BufReader::new(child.stdout.take().context("child stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let hello: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("onnxruntime said {line:?}"))?;
        if let Some(error) = hello.get("error") {
            let _ = child.kill();
            anyhow::bail!("{}", error.as_str().unwrap_or("onnxruntime failed"));
        }
        let version = hello["version"].as_str().unwrap_or("?").to_string();
        Ok(OrtChild { child, stdout, version })
    }

    fn time(&mut self, runs: usize) -> anyhow::Result<Vec<f64>> {
        use std::io::{BufRead, Write};
        let stdin = self.child.stdin.as_mut().context("child stdin")?;
        writeln!(stdin, "{runs}")?;
        stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let answer: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("onnxruntime said {line:?}"))?;
        let times = answer["times_ms"].as_array().context("no times from onnxruntime")?;
        Ok(times.iter().filter_map(serde_json::Value::as_f64).collect())
    }
}

impl Drop for OrtChild {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs >= 1 && args.rounds >= 1, "--runs and --rounds must be at least 1");
    let bundle_path = super::search_path::bundle(args.bundle.as_deref())?;
    let file = BundleFile::read(&bundle_path)?;
    let model = LoadedModel::open(&file, &OverlayChoice::Ignore)?;
    let precision = match args.precision {
        PrecisionArg::Fp32 => Precision::Fp32,
        PrecisionArg::Int8 => Precision::Int8,
    };
    let bundle = &model.bundle;
    let manifest = bundle.manifest();
    anyhow::ensure!(
        manifest.streams.iter().all(|s| s.onnx(precision).is_some()),
        "the bundle has no {precision:?} ONNX model for every stream"
    );
    let options = EngineOptions {
        backend: BackendChoice::Tract,
        threads: args.threads,
        onnxruntime: None,
        precision,
        exact_precision: true,
    };
    let mut engines = model.engines(&options)?;
    let (mut backend_engines, backend_note) =
        match model.engines(&EngineOptions { backend: BackendChoice::Onnxruntime, ..options.clone() }) {
            Ok(engines) => (Some(engines), String::new()),
            Err(error) => (None, format!("unavailable: {error}")),
        };
    let input: Vec<f32> =
        (0..engines.joint.input_len()).map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.6).collect();
    let mut output = vec![0.0f32; engines.joint.output_len()];
    let mut window = |engines: &mut skelact_runtime::pipeline::StreamEngines<_>| -> anyhow::Result<f64> {
        let started = Instant::now();
        for engine in [Some(&mut engines.joint), engines.bone.as_mut(), engines.motion.as_mut()].into_iter().flatten() {
            Engine::run(engine, &input, &mut output).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(started.elapsed().as_secs_f64() * 1e3)
    };

    // onnxruntime, when it is there: one child per stream model, each timed per run, summed per window.
    let mut ort: Vec<OrtChild> = Vec::new();
    let mut ort_note = String::new();
    let mut temporary = Vec::new();
    if args.no_onnxruntime {
        ort_note = "skipped (--no-onnxruntime)".into();
    } else if let Some(python) = python_for(args.python.as_ref()) {
        let shape: Vec<u32> = manifest.input.shape.to_vec();
        let mut started = Vec::new();
        for stream in [StreamKind::Joint, StreamKind::Bone, StreamKind::Motion] {
            let Some(onnx) = bundle.onnx(stream, precision) else { continue };
            let file = tempfile_with(onnx)?;
            match OrtChild::start(&python, file.path(), args.threads, manifest.output.name, &shape) {
                Ok(child) => started.push(child),
                Err(error) => {
                    ort_note = format!("unavailable: {error:#}");
                    started.clear();
                    break;
                }
            }
            temporary.push(file);
        }
        ort = started;
    } else {
        ort_note = "unavailable: no .venv/bin/python here (run `cargo xtask setup`, or give --python PATH)".into();
    }

    for _ in 0..args.warmup {
        window(&mut engines)?;
        if let Some(backend) = backend_engines.as_mut() {
            window(backend)?;
        }
    }
    for child in &mut ort {
        child.time(args.warmup)?;
    }
    let mut tract_times = Vec::new();
    let mut backend_times = Vec::new();
    let mut ort_times = Vec::new();
    for _ in 0..args.rounds {
        for _ in 0..args.runs {
            tract_times.push(window(&mut engines)?);
        }
        if let Some(backend) = backend_engines.as_mut() {
            for _ in 0..args.runs {
                backend_times.push(window(backend)?);
            }
        }
        if !ort.is_empty() {
            let mut per_window = vec![0.0; args.runs];
            for child in &mut ort {
                for (sum, t) in per_window.iter_mut().zip(child.time(args.runs)?) {
                    *sum += t;
                }
            }
            ort_times.extend(per_window);
        }
    }
    let tract = percentiles(&tract_times).context("no tract runs")?;
    let backend = percentiles(&backend_times);
    let onnxruntime = percentiles(&ort_times);
    let version = ort.first().map(|c| c.version.clone());
    drop(ort);
    drop(temporary);
    let ratio = onnxruntime.map(|o| tract.p50_ms / o.p50_ms);
    let backend_ratio = backend.zip(onnxruntime).map(|(b, o)| b.p50_ms / o.p50_ms);
    let stride = manifest.window.stride_frames.max(1) as f64;
    if args.json {
        let document = json!({
            "bundle": bundle_path.display().to_string(),
            "model": manifest.model_name,
            "precision": format!("{precision:?}"),
            "threads": args.threads,
            "streams": manifest.streams.len(),
            "input_shape": manifest.input.shape.as_slice(),
            "tract": tract,
            "onnxruntime_backend": backend,
            "onnxruntime_backend_note": backend_note,
            "onnxruntime": onnxruntime,
            "onnxruntime_version": version,
            "onnxruntime_note": ort_note,
            "tract_over_onnxruntime_p50": ratio,
            "onnxruntime_backend_over_onnxruntime_p50": backend_ratio,
        });
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(());
    }
    println!(
        "{} ({precision:?}, {} stream(s), input {:?}), {} thread(s), {} rounds x {} runs after {} warm-up runs",
        manifest.model_name,
        manifest.streams.len(),
        manifest.input.shape.as_slice(),
        args.threads,
        args.rounds,
        args.runs,
        args.warmup
    );
    let row = |name: &str, p: &Percentiles| {
        println!(
            "  {name:<26} min {:>7.2} ms  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  mean {:>7.2} ms",
            p.min_ms, p.p50_ms, p.p90_ms, p.p99_ms, p.mean_ms
        )
    };
    row("tract", &tract);
    match &backend {
        Some(b) => row("onnxruntime backend", b),
        None => println!("  onnxruntime backend {backend_note}"),
    }
    match (&onnxruntime, &version) {
        (Some(o), Some(v)) => {
            row(&format!("Python onnxruntime {v}"), o);
            println!(
                "  tract / Python onnxruntime: {:.2}x at p50, {:.2}x at min",
                tract.p50_ms / o.p50_ms,
                tract.min_ms / o.min_ms
            );
            if let Some(b) = &backend {
                println!(
                    "  onnxruntime backend / Python onnxruntime: {:.2}x at p50, {:.2}x at min",
                    b.p50_ms / o.p50_ms,
                    b.min_ms / o.min_ms
                );
            }
        }
        _ => println!("  Python onnxruntime {ort_note}"),
    }
    println!(
        "  at p50 one core keeps up with {:.0} windows/s; a body at 30 Hz with stride {} needs {:.2}",
        1000.0 / tract.p50_ms,
        stride,
        30.0 / stride
    );
    Ok(())
}

/// The bytes in a temporary file (onnxruntime reads models by path).
fn tempfile_with(bytes: &[u8]) -> anyhow::Result<tempfile_lite::TempFile> {
    tempfile_lite::TempFile::with(bytes)
}

/// A minimal temporary file, removed on drop (the `tempfile` crate is only a dev-dependency).
mod tempfile_lite {
    use std::path::{Path, PathBuf};

    pub struct TempFile(PathBuf);

    impl TempFile {
        pub fn with(bytes: &[u8]) -> anyhow::Result<Self> {
            use std::sync::atomic::{AtomicU32, Ordering};
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let name = format!("skelact-bench-{}-{}.onnx", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, bytes)?;
            Ok(TempFile(path))
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let p = percentiles(&samples).unwrap();
        assert_eq!((p.min_ms, p.p50_ms, p.p90_ms, p.p99_ms, p.mean_ms), (1.0, 50.0, 90.0, 99.0, 50.5));
        assert!(percentiles(&[]).is_none());
    }
}
