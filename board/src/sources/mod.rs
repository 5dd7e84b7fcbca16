//! Inputs that `replay`, `convert`, `demo` and `enroll` read, all turned into a protocol-v1 byte stream:
//!
//! | format | files | what becomes of it |
//! |---|---|---|
//! | [`InputFormat::Recording`] | `*.skr` (anything else by default) | the packet bytes as they are |
//! | [`InputFormat::Ntu`] | `*.skeleton` | NTU RGB+D: a Kinect v2 `Hello`, then one frame per file frame at 30 Hz |
//! | [`InputFormat::PkuMmd`] | `*.txt` | PKU-MMD skeleton rows ([`pkummd`]) |
//! | [`InputFormat::Session`] | `*.jsonl` | synthetic sessions ([`session`]), sequences derived from timestamps |

pub mod pkummd;
pub mod session;

use std::path::Path;

use anyhow::Context;
use skelact_runtime::ntu;
use skelact_runtime::wire::{encode_packet, Axes, Decoder, Frame, Hello, LayoutId, Message, Units, MAX_PACKET_LEN};

/// A line-numbered reason why a text input was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct SourceError {
    pub line: usize,
    pub reason: String,
}

impl SourceError {
    pub fn at(line: usize, reason: impl Into<String>) -> Self {
        SourceError { line, reason: reason.into() }
    }
}

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// Protocol-v1 packet bytes (`skelact record`, `skelact convert`).
    Recording,
    /// NTU RGB+D `.skeleton` text.
    Ntu,
    /// PKU-MMD skeleton text, 150 values per row.
    PkuMmd,
    /// Synthetic session JSON lines.
    Session,
}

impl InputFormat {
    /// The format a file name suggests.
    pub fn from_path(path: &Path) -> InputFormat {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        match extension.as_str() {
            "skeleton" => InputFormat::Ntu,
            "txt" => InputFormat::PkuMmd,
            "jsonl" => InputFormat::Session,
            _ => InputFormat::Recording,
        }
    }
}

/// The `Hello` sent before converted frames: NTU-25 (Kinect v2) in metres and camera axes.
fn kinect_hello(name: &str) -> Hello {
    ntu::kinect_v2_hello(name, ntu::NTU_FPS_MILLIHERTZ)
}

/// The messages of a text input (not of a recording, which is bytes already).
pub fn read_messages(path: &Path, format: InputFormat) -> anyhow::Result<Vec<Message>> {
    let name = path.display();
    let (hello, frames): (Hello, Vec<Frame>) = match format {
        InputFormat::Recording => anyhow::bail!("{name} is a protocol-v1 recording, not a text input"),
        InputFormat::Ntu => {
            let recording = ntu::read_file(path).with_context(|| format!("{name}"))?;
            (kinect_hello("NTU RGB+D replay"), ntu::to_protocol_frames(&recording, ntu::NTU_FPS_MILLIHERTZ))
        }
        InputFormat::PkuMmd => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
            (kinect_hello("PKU-MMD replay"), pkummd::parse(&text).with_context(|| format!("{name}"))?)
        }
        InputFormat::Session => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
            let session = session::parse(&text).with_context(|| format!("{name}"))?;
            (session.hello, session.frames)
        }
    };
    debug_assert!(
        matches!(hello.layout, LayoutId::KinectV2)
            && hello.units == Units::Metres
            && hello.axes == Axes::XLeftYUpZForward
    );
    let mut messages = Vec::with_capacity(frames.len() + 1);
    messages.push(Message::Hello(hello));
    messages.extend(frames.into_iter().map(Message::Frame));
    Ok(messages)
}

/// Encodes messages as one protocol-v1 stream.
pub fn encode(messages: &[Message]) -> anyhow::Result<Vec<u8>> {
    let mut stream = Vec::new();
    let mut packet = vec![0u8; MAX_PACKET_LEN + 1];
    for message in messages {
        let n = encode_packet(message, &mut packet).map_err(|e| anyhow::anyhow!("cannot encode a message: {e}"))?;
        stream.extend_from_slice(&packet[..n]);
    }
    Ok(stream)
}

/// Decodes a whole protocol-v1 stream: the inverse of [`encode`]. Packets that fail to decode are skipped, as the
/// device would skip them.
pub fn decode(stream: &[u8]) -> Vec<Message> {
    let mut decoder: Decoder = Decoder::new();
    let mut input = stream;
    let mut messages = Vec::new();
    while let Some(outcome) = decoder.decode_next(&mut input) {
        if let Ok(message) = outcome {
            messages.push(message.clone());
        }
    }
    messages
}

/// Any input as protocol-v1 bytes: a recording's bytes as they are, a text input encoded.
pub fn read_stream(path: &Path, format: InputFormat) -> anyhow::Result<Vec<u8>> {
    match format {
        InputFormat::Recording => std::fs::read(path).with_context(|| format!("cannot read {}", path.display())),
        other => encode(&read_messages(path, other)?),
    }
}
