//! `cargo xtask engine`: builds a TensorRT engine from the model's Q/DQ INT8 (or FP16) ONNX with `trtexec` and
//! records it in `model.json`, so that the next `cargo xtask bundle` carries it with the TensorRT version and GPU
//! compute capability it was built for. TensorRT engines only load on the exact TensorRT version and GPU they were
//! built with, so this runs on the device itself (a Jetson) or an identical one.
//!
//! Where TensorRT or the GPU is missing, it says exactly which of them and how to get it, and builds nothing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{bundle, project_root};

const DEFAULT_MODEL_DIR: &str = "models/build/default";

/// Places `trtexec` is installed by JetPack and NVIDIA's packages, besides `PATH` and `$TENSORRT_ROOT/bin`.
const TRTEXEC_PLACES: [&str; 2] = ["/usr/src/tensorrt/bin/trtexec", "/usr/local/tensorrt/bin/trtexec"];

pub fn run(args: &[String]) -> Result<()> {
    let mut model_dir = project_root().join(DEFAULT_MODEL_DIR);
    let mut precision = "int8".to_string();
    let mut trtexec_arg = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--model" => model_dir = project_root().join(value()?),
            "--precision" => precision = value()?,
            "--trtexec" => trtexec_arg = Some(PathBuf::from(value()?)),
            other => bail!("unexpected argument {other:?}; usage: cargo xtask engine [--model DIR] [--precision int8|fp16] [--trtexec PATH]"),
        }
    }
    if precision != "int8" && precision != "fp16" {
        bail!("--precision must be int8 (from the Q/DQ model) or fp16");
    }
    let description = bundle::read_description(&model_dir)?;

    let trtexec = find_trtexec(trtexec_arg.as_deref());
    let gpu = compute_capability();
    if trtexec.is_none() || gpu.is_err() {
        let mut missing = String::from("cargo xtask engine cannot build a TensorRT engine on this machine:\n");
        if trtexec.is_none() {
            missing.push_str(&format!(
                "  - TensorRT's trtexec was not found (looked in PATH, $TENSORRT_ROOT/bin, {}). On a Jetson with \
                 JetPack 6: `sudo apt-get install tensorrt` (TensorRT 10.3; trtexec lands in /usr/src/tensorrt/bin). \
                 Elsewhere: install TensorRT 10 from NVIDIA and pass --trtexec PATH.\n",
                TRTEXEC_PLACES.join(", ")
            ));
        }
        if let Err(reason) = &gpu {
            missing.push_str(&format!("  - no NVIDIA GPU could be queried: {reason}\n"));
        }
        missing.push_str("The bundle's ONNX models (FP32, FP16, INT8 Q/DQ) still run on every device through tract.");
        bail!(missing);
    }
    let (trtexec, gpu) = (trtexec.unwrap_or_default(), gpu.unwrap_or_default());

    let mut json: serde_json::Value = serde_json::from_str(&fs::read_to_string(model_dir.join("model.json"))?)?;
    let mut engines = Vec::new();
    for stream in &description.streams {
        let onnx = match precision.as_str() {
            "int8" => stream.onnx.int8.as_ref(),
            _ => stream.onnx.fp16.as_ref(),
        }
        .with_context(|| {
            format!("the {} stream has no {precision} ONNX: run `cargo xtask quantize` first", stream.stream)
        })?;
        let engine_file = format!("{}.{precision}.engine", stream.stream);
        let mut command = Command::new(&trtexec);
        command
            .arg(format!("--onnx={}", model_dir.join(onnx).display()))
            .arg(format!("--saveEngine={}", model_dir.join(&engine_file).display()))
            .arg("--skipInference");
        // Explicit quantization: the Q/DQ nodes decide what runs in INT8; FP16 lets the rest use half precision.
        if precision == "int8" {
            command.arg("--int8");
        }
        command.arg("--fp16");
        eprintln!("xtask: running {command:?}");
        let output = command.output().with_context(|| format!("could not run {}", trtexec.display()))?;
        let log = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            bail!("trtexec failed ({}):\n{}", output.status, tail(&log, 40));
        }
        let version = tensorrt_version(&log).context("trtexec did not report its TensorRT version")?;
        engines.push(serde_json::json!({
            "stream": stream.stream, "precision": precision, "file": engine_file,
            "tensorrt": version, "compute_capability": gpu,
        }));
        eprintln!("xtask: built {engine_file} with TensorRT {version} for compute capability {gpu}");
    }
    json["engines"] = serde_json::Value::Array(engines);
    fs::write(model_dir.join("model.json"), serde_json::to_string_pretty(&json)? + "\n")?;
    eprintln!("xtask: recorded the engines in model.json; `cargo xtask bundle` adds them to the bundle");
    Ok(())
}

fn find_trtexec(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = given {
        return path.is_file().then(|| path.to_path_buf());
    }
    let from_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("trtexec"));
    let from_root = std::env::var_os("TENSORRT_ROOT").map(|root| PathBuf::from(root).join("bin").join("trtexec"));
    from_path.chain(from_root).chain(TRTEXEC_PLACES.iter().map(PathBuf::from)).find(|p| p.is_file())
}

/// The GPU's compute capability, `major.minor`, from `nvidia-smi` (or, on a Jetson, which has none, the
/// devicetree's model name).
fn compute_capability() -> Result<String, String> {
    match Command::new("nvidia-smi").args(["--query-gpu=compute_cap", "--format=csv,noheader"]).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let first = text.lines().next().unwrap_or("").trim().to_string();
            if first.split('.').count() == 2 {
                return Ok(first);
            }
            Err(format!("nvidia-smi printed {first:?} instead of a compute capability"))
        }
        Ok(out) => Err(format!("nvidia-smi failed: {}", String::from_utf8_lossy(&out.stderr).trim())),
        Err(_) => jetson_compute_capability()
            .ok_or_else(|| "nvidia-smi is not installed and this is not a Jetson Orin/Xavier (no GPU driver)".into()),
    }
}

/// Jetsons have no nvidia-smi; their model string names the module (Orin = 8.7, Xavier = 7.2).
fn jetson_compute_capability() -> Option<String> {
    let model = fs::read_to_string("/proc/device-tree/model").ok()?;
    if model.contains("Orin") {
        Some("8.7".into())
    } else if model.contains("Xavier") {
        Some("7.2".into())
    } else {
        None
    }
}

/// `major.minor.patch.0` from trtexec's banner (`[TensorRT v100300]`). The build part is 0 because the device
/// learns its version from `getInferLibVersion()`, which has no build number, and bundles compare all four parts.
fn tensorrt_version(log: &str) -> Option<String> {
    let start = log.find("TensorRT v")? + "TensorRT v".len();
    let digits: String = log[start..].chars().take_while(|c| c.is_ascii_digit()).collect();
    let code: u32 = digits.parse().ok()?;
    let (major, minor, patch) = if code >= 10_000 {
        (code / 10_000, code / 100 % 100, code % 100)
    } else {
        (code / 1000, code / 100 % 10, code % 100)
    };
    Some(format!("{major}.{minor}.{patch}.0"))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_tensorrt_version_from_the_trtexec_banner() {
        let log = "&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec --onnx=x.onnx\n";
        assert_eq!(tensorrt_version(log).as_deref(), Some("10.3.0.0"));
        assert_eq!(tensorrt_version("[TensorRT v8602]").as_deref(), Some("8.6.2.0"));
        assert_eq!(tensorrt_version("no banner"), None);
    }

    #[test]
    fn a_missing_trtexec_is_not_found() {
        assert_eq!(find_trtexec(Some(Path::new("/nonexistent/trtexec"))), None);
    }
}
