//! `skelact replay`: a recording out to a port or stdout, paced by its timestamps.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::bail;
use skelact_formats::recording::{replay, Pacing};
use skelact_formats::{self as sources, InputFormat};
use skelact_links::serial::{SerialConfig, SerialLink};
use skelact_links::ByteLink;

#[derive(Debug)]
pub enum Sink {
    Port { path: PathBuf, baud: u32 },
    Stdout,
}

/// Replays `file` (any [`InputFormat`]; `format` `None` goes by the extension, and refuses one no format uses: its
/// bytes would otherwise go out as if they were a recording).
pub fn run(file: &Path, format: Option<InputFormat>, sink: Sink, speed: Option<f64>) -> anyhow::Result<()> {
    let pacing = match speed {
        None => Pacing::Fast,
        Some(s) if s.is_finite() && s > 0.0 => Pacing::Speed(s),
        Some(s) => bail!("--speed must be a positive number, got {s}"),
    };
    let format = InputFormat::detect(file, format)?;
    // Text inputs are converted in memory first, exactly as `skelact convert` would write them.
    let recording = sources::read_stream(file, format)?;
    let started = Instant::now();
    let wait = |due| {
        let now = started.elapsed();
        if due > now {
            std::thread::sleep(due - now);
        }
    };
    let stats = match sink {
        Sink::Port { path, baud } => {
            let mut port = SerialLink::open(&SerialConfig::new(&path, baud))?;
            tracing::info!(file = %file.display(), ?format, port = %path.display(), ?pacing, "replaying");
            replay(&recording, pacing, wait, |packet| port.write_all(packet))?
        }
        Sink::Stdout => {
            let mut stdout = std::io::stdout().lock();
            let stats = replay(&recording, pacing, wait, |packet| stdout.write_all(packet))?;
            stdout.flush()?;
            stats
        }
    };
    tracing::info!(
        packets = stats.packets,
        frames = stats.frames,
        damaged = stats.damaged,
        bytes = stats.bytes,
        seconds = started.elapsed().as_secs_f64(),
        "replay finished"
    );
    Ok(())
}
