//! Wire protocol v1 (normative spec: `docs/protocol.md`).
//!
//! Layers, bottom up: [`cobs`] framing, packets ([`encode_packet`] and [`decode_packet`]: version byte, postcard
//! message, CRC-32, delimiter), and the streaming [`Decoder`] that turns byte chunks of any size into messages and
//! link statistics.

pub mod cobs;
mod decoder;
mod frame_reader;
mod message;
mod packet;

pub use decoder::{Decoder, LinkStats};
pub use message::*;
pub use packet::{crc32, decode_packet, encode_packet, DecodeError, EncodeError, FRAMING_BYTES, MAX_PACKET_LEN};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;
