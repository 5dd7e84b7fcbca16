//! One packet: `COBS(version ‖ postcard(message) ‖ CRC-32/ISO-HDLC little-endian) ‖ 0x00`.
//!
//! The CRC covers the version byte and the message. The version byte comes first so that a receiver can refuse a
//! foreign major version before it tries to read a message it does not understand.

use super::cobs;
use super::frame_reader::read_frame_into;
use super::message::{Message, MAX_BODIES, MAX_JOINTS, PROTOCOL_MAJOR};

/// Bytes of the version prefix and the CRC suffix around the postcard message.
pub const FRAMING_BYTES: usize = 1 + 4;

/// Upper bound of an encoded packet without its delimiter: a `Frame` with [`MAX_BODIES`] bodies of [`MAX_JOINTS`]
/// joints (3016 bytes of postcard), framing, and COBS overhead, rounded up.
pub const MAX_PACKET_LEN: usize = 3072;

/// Postcard discriminant of `Message::Frame`, which has its own in-place reader.
const FRAME_VARIANT: u8 = 1;

/// Why a packet could not be decoded. Each variant has its own counter in [`super::LinkStats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// More bytes arrived before a delimiter than the decoder can hold; the packet was discarded.
    Oversize { limit: usize },
    /// The decoded packet is too short to hold a version, a message and a CRC.
    TooShort { len: usize },
    /// The bytes between two delimiters are not valid COBS.
    Cobs,
    /// The CRC does not match: the packet was damaged in transit.
    Crc { computed: u32, received: u32 },
    /// The packet's major protocol version is not one this build speaks.
    UnsupportedVersion { major: u8 },
    /// The bytes do not form a message: truncated, an unknown variant, bad UTF-8, or trailing bytes.
    Malformed,
    /// A frame has more than `MAX_BODIES` bodies or a body more than `MAX_JOINTS` joints.
    CountOutOfRange,
    /// A joint coordinate is NaN or infinite.
    NonFinite,
    /// A body's joint count differs from the layout the sensor announced in `Hello`.
    JointCount { expected: u8, actual: u8 },
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::Oversize { limit } => write!(f, "packet longer than {limit} bytes, discarded"),
            DecodeError::TooShort { len } => write!(f, "packet of {len} bytes is too short"),
            DecodeError::Cobs => f.write_str("invalid COBS framing"),
            DecodeError::Crc { computed, received } => {
                write!(f, "CRC mismatch: computed {computed:#010x}, packet says {received:#010x}")
            }
            DecodeError::UnsupportedVersion { major } => {
                write!(f, "protocol major version {major} is not supported (this build speaks v{PROTOCOL_MAJOR})")
            }
            DecodeError::Malformed => f.write_str("malformed message"),
            DecodeError::CountOutOfRange => {
                write!(f, "a frame has more than {MAX_BODIES} bodies or a body more than {MAX_JOINTS} joints")
            }
            DecodeError::NonFinite => f.write_str("a joint coordinate is NaN or infinite"),
            DecodeError::JointCount { expected, actual } => {
                write!(f, "a body has {actual} joints but the announced layout has {expected}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// Why a message could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncodeError {
    /// The output buffer is too small for this message.
    BufferTooSmall,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodeError::BufferTooSmall => f.write_str("output buffer too small for the packet"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

/// CRC-32/ISO-HDLC (the zlib/Ethernet CRC), as in `docs/protocol.md`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(bytes);
    hasher.finalize()
}

/// Encodes `message` as one complete packet, delimiter included, into `out`; returns the packet's length.
///
/// `out.len() >= MAX_PACKET_LEN + 1` always suffices. Nothing is allocated: the message is serialised into the
/// tail of `out` and COBS-encoded forward into its head.
pub fn encode_packet(message: &Message, out: &mut [u8]) -> Result<usize, EncodeError> {
    // Reserve room for COBS's growth in front and the delimiter at the end.
    let room = out.len().checked_sub(1).ok_or(EncodeError::BufferTooSmall)?;
    let start = cobs::max_overhead(room);
    if room <= start + FRAMING_BYTES {
        return Err(EncodeError::BufferTooSmall);
    }
    out[start] = PROTOCOL_MAJOR;
    let body_end = room - 4;
    let message_len =
        postcard::to_slice(message, &mut out[start + 1..body_end]).map_err(|_| EncodeError::BufferTooSmall)?.len();
    let crc_at = start + 1 + message_len;
    let crc = crc32(&out[start..crc_at]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
    let data_len = 1 + message_len + 4;
    let encoded = cobs::encode_in_place(out, start, data_len);
    out[encoded] = 0;
    Ok(encoded + 1)
}

/// Decodes the bytes between two delimiters. `raw` is COBS-decoded in place (its contents are clobbered).
pub fn decode_packet(raw: &mut [u8]) -> Result<Message, DecodeError> {
    let len = cobs::decode_in_place(raw).map_err(|_| DecodeError::Cobs)?;
    let mut message = Message::Heartbeat(super::message::Heartbeat { timestamp_us: 0 });
    decode_unstuffed_into(&raw[..len], &mut message)?;
    Ok(message)
}

/// Checks length, CRC and version of a COBS-decoded packet and decodes its message into `slot`.
///
/// A `Frame` is read in place into `slot` when it already holds one, reusing its storage; on error `slot` is
/// unspecified.
pub(crate) fn decode_unstuffed_into(packet: &[u8], slot: &mut Message) -> Result<(), DecodeError> {
    let len = packet.len();
    // A message is at least one byte (its variant), so a valid packet is at least six.
    if len < FRAMING_BYTES + 1 {
        return Err(DecodeError::TooShort { len });
    }
    let (checked, crc_bytes) = packet.split_at(len - 4);
    let received = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
    let computed = crc32(checked);
    if computed != received {
        return Err(DecodeError::Crc { computed, received });
    }
    let major = checked[0];
    if major != PROTOCOL_MAJOR {
        return Err(DecodeError::UnsupportedVersion { major });
    }
    let body = &checked[1..];
    if body[0] == FRAME_VARIANT {
        if !matches!(slot, Message::Frame(_)) {
            *slot =
                Message::Frame(super::message::Frame { sequence: 0, timestamp_us: 0, bodies: heapless::Vec::new() });
        }
        if let Message::Frame(frame) = slot {
            read_frame_into(&body[1..], frame)?;
        }
        return Ok(());
    }
    let (message, rest) = postcard::take_from_bytes::<Message>(body).map_err(|_| DecodeError::Malformed)?;
    if !rest.is_empty() {
        return Err(DecodeError::Malformed);
    }
    *slot = message;
    Ok(())
}
