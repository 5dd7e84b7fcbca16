//! skelact-formats: the files the device's tools read and write, each turned into (or read from) a protocol-v1
//! byte stream, so that a file reaches the device exactly as a sensor's bytes would.
//!
//! Inputs that `replay`, `convert`, `demo` and `enroll` read:
//!
//! | format | files | what becomes of it |
//! |---|---|---|
//! | [`InputFormat::Recording`] | `*.skr` | the packet bytes as they are |
//! | [`InputFormat::Ntu`] | `*.skeleton` | NTU RGB+D: a Kinect v2 `Hello`, then one frame per file frame at 30 Hz |
//! | [`InputFormat::PkuMmd`] | `*.txt` | PKU-MMD skeleton rows ([`pkummd`]) |
//! | [`InputFormat::Session`] | `*.jsonl` | synthetic sessions ([`session`]), sequences derived from timestamps |
//! | [`InputFormat::NwUcla`] | `*.json` | an NW-UCLA sequence ([`kinect_v1`]): a Kinect v1 `Hello`, then its frames at 30 Hz |
//! | [`InputFormat::UtdMhad`] | `*.mat` | a UTD-MHAD `d_skel` sequence ([`kinect_v1`]), likewise |
//!
//! [`InputFormat::detect`] goes by the extension and refuses any other ([`FormatError::UnknownExtension`]): a tool
//! that took an unknown file for a recording would send its bytes to the device as if they were packets.
//!
//! Beside them: [`recording`] (capture and paced replay of protocol-v1 bytes) and [`npy`] (the `.npy` arrays that
//! carry windows and reference outputs between the desktop pipeline and the device).

pub mod dropout;
pub mod kinect_v1;
pub mod npy;
pub mod ntu;
pub mod pkummd;
pub mod recording;
pub mod retime;
pub mod session;

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use kinect_v1::Dataset;

use skelact_runtime::wire::{
    encode_packet, Axes, Decoder, EncodeError, Frame, Hello, LayoutId, Message, Units, MAX_PACKET_LEN, PROTOCOL_MAJOR,
    PROTOCOL_MINOR,
};

/// Why a file could not be turned into messages. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Ntu { path: PathBuf, source: ntu::ReadError },
    #[error("{path}: {source}")]
    Text { path: PathBuf, source: SourceError },
    #[error("{path}: {source}")]
    Dataset { path: PathBuf, source: kinect_v1::DatasetError },
    #[error("{path} is a protocol-v1 recording, not a text input")]
    NotText { path: PathBuf },
    #[error(
        "{path}: unknown file extension {extension:?}; supported: {} (or name the format explicitly)",
        supported_extensions()
    )]
    UnknownExtension { path: PathBuf, extension: String },
    #[error("cannot encode a message: {0}")]
    Encode(EncodeError),
}

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
    /// An NW-UCLA sequence (JSON, Kinect v1).
    NwUcla,
    /// A UTD-MHAD skeleton sequence (MATLAB v5 `.mat`, Kinect v1).
    UtdMhad,
}

/// Every extension [`InputFormat::from_extension`] knows (lower case, without the dot), with its format and what such
/// a file holds, in words.
pub const EXTENSIONS: [(&str, InputFormat, &str); 6] = [
    ("skr", InputFormat::Recording, "protocol-v1 recording"),
    ("skeleton", InputFormat::Ntu, "NTU RGB+D"),
    ("txt", InputFormat::PkuMmd, "PKU-MMD"),
    ("jsonl", InputFormat::Session, "synthetic session"),
    ("json", InputFormat::NwUcla, "NW-UCLA sequence"),
    ("mat", InputFormat::UtdMhad, "UTD-MHAD sequence"),
];

/// The supported extensions as a sentence for messages: `.skr (protocol-v1 recording), .skeleton (NTU RGB+D), …`.
pub fn supported_extensions() -> String {
    let named: Vec<String> = EXTENSIONS.iter().map(|(ext, _, what)| format!(".{ext} ({what})")).collect();
    named.join(", ")
}

impl InputFormat {
    /// The format a file's extension names (any case), or `None` when no format uses it.
    pub fn from_extension(path: &Path) -> Option<InputFormat> {
        let extension = path.extension().and_then(|e| e.to_str())?.to_ascii_lowercase();
        EXTENSIONS.iter().find(|(ext, _, _)| *ext == extension).map(|&(_, format, _)| format)
    }

    /// The format to read `path` as: `explicit` when the user named one, else the one its extension names. Any other
    /// extension is refused rather than guessed, because a guess of "recording" would send the file's bytes to
    /// the device as if they were packets.
    pub fn detect(path: &Path, explicit: Option<InputFormat>) -> Result<InputFormat, FormatError> {
        if let Some(format) = explicit {
            return Ok(format);
        }
        InputFormat::from_extension(path).ok_or_else(|| FormatError::UnknownExtension {
            path: path.to_path_buf(),
            extension: path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default(),
        })
    }

    /// The format a file name suggests, taking any unknown extension for a recording. Tools that read what a user
    /// names use [`InputFormat::detect`], which refuses unknown extensions instead.
    pub fn from_path(path: &Path) -> InputFormat {
        InputFormat::from_extension(path).unwrap_or(InputFormat::Recording)
    }
}

/// The `Hello` sent before converted frames: NTU-25 (Kinect v2) in metres and camera axes.
fn kinect_hello(name: &str) -> Hello {
    ntu::kinect_v2_hello(name, ntu::NTU_FPS_MILLIHERTZ)
}

/// The `Hello` of a Kinect sender (v1 or v2 layout): metres, Kinect camera axes. `sensor_name` is cut to the
/// protocol's 32 bytes at a character boundary.
pub fn kinect_camera_hello(layout: LayoutId, sensor_name: &str, fps_millihertz: NonZeroU32) -> Hello {
    let mut name = heapless::String::new();
    for c in sensor_name.chars() {
        if name.push(c).is_err() {
            break;
        }
    }
    Hello {
        protocol_major: PROTOCOL_MAJOR,
        protocol_minor: PROTOCOL_MINOR,
        layout,
        units: Units::Metres,
        axes: Axes::XLeftYUpZForward,
        nominal_fps_millihertz: fps_millihertz.get(),
        sensor_name: name,
    }
}

/// The messages of a text input (not of a recording, which is bytes already).
pub fn read_messages(path: &Path, format: InputFormat) -> Result<Vec<Message>, FormatError> {
    let text = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| FormatError::Io { path: path.to_path_buf(), source })
    };
    let refused = |source: SourceError| FormatError::Text { path: path.to_path_buf(), source };
    let (hello, frames): (Hello, Vec<Frame>) = match format {
        InputFormat::Recording => return Err(FormatError::NotText { path: path.to_path_buf() }),
        InputFormat::Ntu => {
            let recording =
                ntu::read_file(path).map_err(|source| FormatError::Ntu { path: path.to_path_buf(), source })?;
            (kinect_hello("NTU RGB+D replay"), ntu::to_protocol_frames(&recording, ntu::NTU_FPS_MILLIHERTZ))
        }
        InputFormat::PkuMmd => (kinect_hello("PKU-MMD replay"), pkummd::parse(&text(path)?).map_err(refused)?),
        InputFormat::Session => {
            let session = session::parse(&text(path)?).map_err(refused)?;
            (session.hello, session.frames)
        }
        InputFormat::NwUcla | InputFormat::UtdMhad => {
            let (dataset, name) = match format {
                InputFormat::NwUcla => (Dataset::NwUcla, "NW-UCLA replay"),
                _ => (Dataset::UtdMhad, "UTD-MHAD replay"),
            };
            let frames =
                dataset.read(path).map_err(|source| FormatError::Dataset { path: path.to_path_buf(), source })?;
            (kinect_v1::kinect_v1_hello(name), kinect_v1::to_protocol_frames(&frames))
        }
    };
    debug_assert!(
        matches!(hello.layout, LayoutId::KinectV2 | LayoutId::KinectV1)
            && hello.units == Units::Metres
            && hello.axes == Axes::XLeftYUpZForward
    );
    let mut messages = Vec::with_capacity(frames.len() + 1);
    messages.push(Message::Hello(hello));
    messages.extend(frames.into_iter().map(Message::Frame));
    Ok(messages)
}

/// Encodes messages as one protocol-v1 stream.
pub fn encode(messages: &[Message]) -> Result<Vec<u8>, FormatError> {
    let mut stream = Vec::new();
    let mut packet = vec![0u8; MAX_PACKET_LEN + 1];
    for message in messages {
        let n = encode_packet(message, &mut packet).map_err(FormatError::Encode)?;
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
pub fn read_stream(path: &Path, format: InputFormat) -> Result<Vec<u8>, FormatError> {
    match format {
        InputFormat::Recording => {
            std::fs::read(path).map_err(|source| FormatError::Io { path: path.to_path_buf(), source })
        }
        other => encode(&read_messages(path, other)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_name_their_format_and_unknown_ones_are_refused_with_the_list() {
        for (extension, format, _) in EXTENSIONS {
            let path = PathBuf::from(format!("dir/file.{}", extension.to_ascii_uppercase()));
            assert_eq!(InputFormat::detect(&path, None).ok(), Some(format), "{extension}");
        }
        for name in ["notes.pdf", "capture.bin", "no-extension"] {
            let path = Path::new(name);
            let message = InputFormat::detect(path, None).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains(name) && message.contains("unknown file extension"), "{message}");
            for (extension, _, what) in EXTENSIONS {
                assert!(message.contains(&format!(".{extension} ({what})")), "{message}");
            }
            // Naming the format reads any file; the lenient guess stays a recording.
            assert_eq!(InputFormat::detect(path, Some(InputFormat::Ntu)).ok(), Some(InputFormat::Ntu));
            assert_eq!(InputFormat::from_path(path), InputFormat::Recording);
        }
    }
}
