//! `skelact replay`: a recording out to a port (serial, `udp://HOST:PORT` or `unix:///PATH`, as the daemon's `port`
//! setting names them) or stdout, paced by its timestamps.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::bail;
use skelact_formats::recording::{replay, Pacing};
use skelact_formats::{self as sources, InputFormat};
use skelact_links::address::LinkAddress;
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
            let address = LinkAddress::parse(&path)?;
            tracing::info!(file = %file.display(), ?format, port = %address, ?pacing, "replaying");
            match &address {
                LinkAddress::Serial(path) => {
                    let mut port = SerialLink::open(&SerialConfig::new(path, baud))?;
                    replay(&recording, pacing, wait, |packet| port.write_all(packet))?
                }
                #[cfg(unix)]
                LinkAddress::Unix(path) => {
                    let mut socket = skelact_links::unix::UnixLink::connect(path)?;
                    replay(&recording, pacing, wait, |packet| socket.write_all(packet))?
                }
                #[cfg(not(unix))]
                LinkAddress::Unix(_) => bail!("Unix-domain sockets are not available on this system"),
                LinkAddress::Udp(to) => {
                    // One packet per datagram, from an ephemeral port of the same address family.
                    let any = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                    let socket = std::net::UdpSocket::bind(any)?;
                    socket.connect(to)?;
                    replay(&recording, pacing, wait, |packet| {
                        socket
                            .send(packet)
                            .map(drop)
                            .map_err(|e| skelact_links::LinkError::Disconnected { reason: e.to_string() })
                    })?
                }
            }
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
