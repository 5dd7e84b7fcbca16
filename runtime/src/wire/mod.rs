//! Wire protocol v1 (normative spec: `docs/protocol.md`).
//!
//! Layers, bottom up: a packet is `COBS(version ‖ postcard(message) ‖ CRC-32)` followed by a `0x00` delimiter.

mod message;

pub use message::*;
