//! A postcard-compatible reader for `Frame`, the one message on the hot path.
//!
//! postcard through serde builds a fresh 3.7 kB `Frame` per packet and moves it several times; this reader fills
//! the caller's `Frame` in place and checks limits and finiteness as it goes. The byte layout is exactly
//! postcard's (checked against postcard by property tests), so the wire format is unchanged.

use super::message::{Body, Frame, Joint, MAX_BODIES, MAX_JOINTS};
use super::packet::DecodeError;

/// Bytes of one joint on the wire: three little-endian f32 and a confidence byte.
const JOINT_BYTES: usize = 13;

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&first, rest) = self.bytes.split_first().ok_or(DecodeError::Malformed)?;
        self.bytes = rest;
        Ok(first)
    }

    /// An unsigned LEB128 varint of at most `max_bytes` bytes whose value fits `bits` bits (postcard's rule).
    fn varint(&mut self, max_bytes: u32, bits: u32) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                if bits < 64 && value >> bits != 0 {
                    return Err(DecodeError::Malformed);
                }
                // The last byte of a maximal varint may only carry the bits that remain.
                if i == max_bytes - 1 && u32::from(byte) >> (bits - 7 * i).min(7) != 0 {
                    return Err(DecodeError::Malformed);
                }
                return Ok(value);
            }
        }
        Err(DecodeError::Malformed)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(self.varint(5, 32)? as u32)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.varint(10, 64)
    }

    fn len(&mut self, limit: usize) -> Result<usize, DecodeError> {
        // postcard encodes lengths as usize varints; anything above the limit is out of range, not malformed.
        let len = self.varint(10, 64)?;
        if len > limit as u64 {
            return Err(DecodeError::CountOutOfRange);
        }
        Ok(len as usize)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::Malformed);
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(taken)
    }
}

fn f32_at(bytes: &[u8], at: usize) -> f32 {
    f32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Reads the fields of a `Frame` (the bytes after the message's variant index) into `frame`, reusing its storage.
///
/// On error `frame` holds partial contents and must not be used.
pub(crate) fn read_frame_into(bytes: &[u8], frame: &mut Frame) -> Result<(), DecodeError> {
    let mut reader = Reader { bytes };
    frame.sequence = reader.u32()?;
    frame.timestamp_us = reader.u64()?;
    let body_count = reader.len(MAX_BODIES)?;
    // Reuse bodies from earlier frames so that steady state moves no 600-byte `Body` values around.
    frame.bodies.truncate(body_count);
    while frame.bodies.len() < body_count {
        if frame.bodies.push(Body { id: 0, joints: heapless::Vec::new() }).is_err() {
            return Err(DecodeError::CountOutOfRange);
        }
    }
    for body in frame.bodies.iter_mut() {
        body.id = reader.u32()?;
        let joint_count = reader.len(MAX_JOINTS)?;
        let raw = reader.take(joint_count * JOINT_BYTES)?;
        body.joints.clear();
        for chunk in raw.chunks_exact(JOINT_BYTES) {
            let joint = Joint { x: f32_at(chunk, 0), y: f32_at(chunk, 4), z: f32_at(chunk, 8), confidence: chunk[12] };
            if !(joint.x.is_finite() && joint.y.is_finite() && joint.z.is_finite()) {
                return Err(DecodeError::NonFinite);
            }
            // Cannot fail: joint_count <= MAX_JOINTS was checked above.
            let _ = body.joints.push(joint);
        }
    }
    if !reader.bytes.is_empty() {
        return Err(DecodeError::Malformed);
    }
    Ok(())
}
