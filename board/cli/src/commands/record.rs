//! `skelact record`: raw protocol-v1 bytes from a port into a file.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use skelact_formats::recording::Recorder;
use skelact_links::reconnect::{Backoff, ReconnectingLink};
use skelact_links::serial::{SerialConfig, SerialOpener};
use skelact_links::ByteLink;

/// How long one read waits, which bounds how late a `--seconds` limit is noticed.
const POLL: Duration = Duration::from_millis(100);

pub fn run(port: &Path, baud: u32, out: &Path, frames: Option<u64>, seconds: Option<f64>) -> anyhow::Result<()> {
    let limit = match seconds {
        Some(s) if !(s.is_finite() && s > 0.0) => bail!("--seconds must be a positive number, got {s}"),
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => None,
    };
    // Unbuffered on purpose: every chunk is on disk as soon as it is read, so stopping with Ctrl-C loses nothing.
    let file = File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut recorder = Recorder::new(file, frames);
    let mut link = ReconnectingLink::new(SerialOpener(SerialConfig::new(port, baud)), Backoff::default());
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    tracing::info!(port = %port.display(), out = %out.display(), ?frames, ?seconds, "recording");
    loop {
        let wait = match limit {
            Some(limit) => match limit.checked_sub(started.elapsed()) {
                Some(left) => left.min(POLL),
                None => break,
            },
            None => POLL,
        };
        let n = link.read(&mut buf, wait)?;
        if recorder.feed(&buf[..n])? {
            break;
        }
    }
    let (frames, bytes) = (recorder.frames(), recorder.bytes());
    let stats = *recorder.decoder().stats();
    recorder.finish()?;
    tracing::info!(
        frames,
        bytes,
        damaged_packets = stats.errors(),
        dropped_frames = stats.dropped_frames,
        reconnects = link.stats().connects.saturating_sub(1),
        "recording finished"
    );
    Ok(())
}
