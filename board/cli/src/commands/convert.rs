//! `skelact convert`: any input `replay` takes, written as a protocol-v1 recording, optionally retimed to another
//! sensor rate (`--rate`, `--jitter`; see `skelact_formats::retime`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use skelact_formats::retime::{retime, Retime};
use skelact_formats::{self as sources, InputFormat};
use skelact_runtime::wire::{Decoder, Message};

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// NTU .skeleton, PKU-MMD .txt, session .jsonl, NW-UCLA .json, UTD-MHAD .mat or a protocol-v1 recording (.skr).
    pub input: PathBuf,
    /// The protocol-v1 recording to write (conventionally .skr).
    pub output: PathBuf,
    /// The input's format [default: from its extension; other extensions are refused].
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,
    /// Retime to this sensor rate in Hz (1-1000): frames at the new rate, each body interpolated between the two
    /// recorded frames around it, and a `Hello` that announces the new rate.
    #[arg(long)]
    pub rate: Option<f64>,
    /// With --rate: move each frame by up to this many ms from its even time (a variable-rate sensor), below half
    /// a period.
    #[arg(long, default_value_t = 0.0, requires = "rate")]
    pub jitter: f64,
    /// With --jitter: the seed of the offsets, so that the same arguments give the same file.
    #[arg(long, default_value_t = 1, requires = "rate")]
    pub seed: u64,
}

pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    // An unknown extension is refused: copied as if it were a recording, any file would "convert".
    let format = InputFormat::detect(&args.input, args.format)?;
    let stream = match args.rate {
        None => sources::read_stream(&args.input, format)?,
        Some(rate_hz) => {
            let messages = sources::read_messages(&args.input, format)?;
            let options = Retime { rate_hz, jitter_ms: args.jitter, seed: args.seed };
            sources::encode(&retime(&messages, &options)?)?
        }
    };
    write(&args.output, &stream)?;
    let (frames, damaged) = census(&stream);
    tracing::info!(input = %args.input.display(), ?format, output = %args.output.display(), frames, damaged, bytes = stream.len(), "converted");
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Frames and damaged packets in a stream.
fn census(stream: &[u8]) -> (usize, u32) {
    let mut decoder: Decoder = Decoder::new();
    let mut input = stream;
    let mut frames = 0;
    while let Some(outcome) = decoder.decode_next(&mut input) {
        if let Ok(Message::Frame(_)) = outcome {
            frames += 1;
        }
    }
    (frames, decoder.stats().errors())
}
