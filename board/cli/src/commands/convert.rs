//! `skelact convert`: any input `replay` takes, written as a protocol-v1 recording.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
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
}

pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    // An unknown extension is refused: copied as if it were a recording, any file would "convert".
    let format = InputFormat::detect(&args.input, args.format)?;
    let stream = sources::read_stream(&args.input, format)?;
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
