//! `skelact replay`: a recording out to a port or stdout, paced by its timestamps.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use skelact_board::link::serial::{SerialConfig, SerialLink};
use skelact_board::link::ByteLink;
use skelact_board::recording::{replay, Pacing};

#[derive(Debug)]
pub enum Sink {
    Port { path: PathBuf, baud: u32 },
    Stdout,
}

pub fn run(file: &Path, sink: Sink, speed: Option<f64>) -> anyhow::Result<()> {
    let pacing = match speed {
        None => Pacing::Fast,
        Some(s) if s.is_finite() && s > 0.0 => Pacing::Speed(s),
        Some(s) => bail!("--speed must be a positive number, got {s}"),
    };
    let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    if extension.eq_ignore_ascii_case("skeleton") || extension.eq_ignore_ascii_case("txt") {
        bail!(
            "{}: NTU .skeleton and PKU-MMD text replay arrive with the NTU reader; only protocol-v1 recordings \
             (from `skelact record`) can be replayed so far",
            file.display()
        );
    }
    let recording = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
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
            tracing::info!(file = %file.display(), port = %path.display(), ?pacing, "replaying");
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
