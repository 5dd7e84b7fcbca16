//! Streaming decoder: bytes in chunks of any size in, messages out, with link statistics.
//!
//! Corruption costs only the packets it touches: after any error the decoder discards bytes up to the next 0x00
//! delimiter and starts afresh there. It never allocates and never panics on input.

use super::message::{LayoutId, Message};
use super::packet::{decode_packet, DecodeError, MAX_PACKET_LEN};

/// Counters of everything the decoder saw. They wrap rather than saturate-panic on very long runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LinkStats {
    /// Bytes fed in.
    pub bytes: u64,
    /// Packets that decoded into a message.
    pub packets_ok: u32,
    pub oversize: u32,
    pub too_short: u32,
    pub cobs_errors: u32,
    pub crc_errors: u32,
    pub version_errors: u32,
    pub malformed: u32,
    pub count_errors: u32,
    pub non_finite: u32,
    pub joint_count_errors: u32,
    /// Frames missing according to sequence numbers (lost in transit, corrupted, or never sent).
    pub dropped_frames: u32,
    /// Times the sequence number went backwards (a sensor restart); the gap is not counted as drops.
    pub sequence_restarts: u32,
}

impl LinkStats {
    /// All packets that failed to decode, of any kind.
    pub fn errors(&self) -> u32 {
        self.oversize
            .wrapping_add(self.too_short)
            .wrapping_add(self.cobs_errors)
            .wrapping_add(self.crc_errors)
            .wrapping_add(self.version_errors)
            .wrapping_add(self.malformed)
            .wrapping_add(self.count_errors)
            .wrapping_add(self.non_finite)
            .wrapping_add(self.joint_count_errors)
    }

    fn count(&mut self, error: &DecodeError) {
        let counter = match error {
            DecodeError::Oversize { .. } => &mut self.oversize,
            DecodeError::TooShort { .. } => &mut self.too_short,
            DecodeError::Cobs => &mut self.cobs_errors,
            DecodeError::Crc { .. } => &mut self.crc_errors,
            DecodeError::UnsupportedVersion { .. } => &mut self.version_errors,
            DecodeError::Malformed => &mut self.malformed,
            DecodeError::CountOutOfRange => &mut self.count_errors,
            DecodeError::NonFinite => &mut self.non_finite,
            DecodeError::JointCount { .. } => &mut self.joint_count_errors,
        };
        *counter = counter.wrapping_add(1);
    }
}

/// A streaming protocol-v1 decoder holding at most `N` bytes of one packet.
///
/// ```
/// use skelact_runtime::wire::{Decoder, Message, Heartbeat, encode_packet};
/// let mut bytes = [0u8; 64];
/// let n = encode_packet(&Message::Heartbeat(Heartbeat { timestamp_us: 7 }), &mut bytes).unwrap();
/// let mut decoder: Decoder = Decoder::new();
/// let mut input = &bytes[..n];
/// let message = decoder.decode_next(&mut input).unwrap().unwrap();
/// assert_eq!(message, &Message::Heartbeat(Heartbeat { timestamp_us: 7 }));
/// ```
#[derive(Debug)]
pub struct Decoder<const N: usize = MAX_PACKET_LEN> {
    buffer: [u8; N],
    len: usize,
    /// Set when the current packet outgrew the buffer; bytes are dropped until the next delimiter.
    overflowed: bool,
    message: Option<Message>,
    layout: Option<LayoutId>,
    last_sequence: Option<u32>,
    stats: LinkStats,
}

impl<const N: usize> Default for Decoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Decoder<N> {
    pub const fn new() -> Self {
        Decoder {
            buffer: [0; N],
            len: 0,
            overflowed: false,
            message: None,
            layout: None,
            last_sequence: None,
            stats: LinkStats {
                bytes: 0,
                packets_ok: 0,
                oversize: 0,
                too_short: 0,
                cobs_errors: 0,
                crc_errors: 0,
                version_errors: 0,
                malformed: 0,
                count_errors: 0,
                non_finite: 0,
                joint_count_errors: 0,
                dropped_frames: 0,
                sequence_restarts: 0,
            },
        }
    }

    /// Counters since construction.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// The layout announced by the latest `Hello`, if any.
    pub fn layout(&self) -> Option<LayoutId> {
        self.layout
    }

    /// Forgets any partial packet and the sequence history, for example after a reconnect. Counters stay.
    pub fn reset_link(&mut self) {
        self.len = 0;
        self.overflowed = false;
        self.last_sequence = None;
    }

    /// Consumes bytes from the front of `input` until one packet ends, and returns its outcome.
    ///
    /// Returns `None` once `input` is used up without completing a packet; the partial packet is kept for the
    /// next call. Empty packets (two delimiters in a row, which senders use to flush a line) are skipped silently.
    pub fn decode_next(&mut self, input: &mut &[u8]) -> Option<Result<&Message, DecodeError>> {
        loop {
            let chunk = *input;
            if chunk.is_empty() {
                return None;
            }
            let (data, delimited) = match chunk.iter().position(|b| *b == 0) {
                Some(end) => (&chunk[..end], true),
                None => (chunk, false),
            };
            *input = &chunk[data.len() + usize::from(delimited)..];
            self.stats.bytes = self.stats.bytes.wrapping_add((data.len() + usize::from(delimited)) as u64);
            self.append(data);
            if !delimited {
                return None;
            }
            if self.overflowed {
                self.overflowed = false;
                self.len = 0;
                return Some(self.fail(DecodeError::Oversize { limit: N }));
            }
            if self.len == 0 {
                continue;
            }
            let outcome = decode_packet(&mut self.buffer[..self.len]);
            self.len = 0;
            return Some(match outcome {
                Ok(message) => self.accept(message),
                Err(error) => self.fail(error),
            });
        }
    }

    fn append(&mut self, data: &[u8]) {
        if self.overflowed {
            return;
        }
        match self.buffer.get_mut(self.len..self.len + data.len()) {
            Some(slot) => {
                slot.copy_from_slice(data);
                self.len += data.len();
            }
            None => self.overflowed = true,
        }
    }

    fn fail(&mut self, error: DecodeError) -> Result<&Message, DecodeError> {
        self.stats.count(&error);
        Err(error)
    }

    fn accept(&mut self, message: Message) -> Result<&Message, DecodeError> {
        match &message {
            Message::Hello(hello) => self.layout = Some(hello.layout),
            Message::Frame(frame) => {
                if let Some(layout) = self.layout {
                    let expected = layout.joint_count();
                    if let Some(body) = frame.bodies.iter().find(|b| b.joints.len() != expected) {
                        let error =
                            DecodeError::JointCount { expected: expected as u8, actual: body.joints.len() as u8 };
                        return self.fail(error);
                    }
                }
                self.track_sequence(frame.sequence);
            }
            Message::Heartbeat(_) | Message::Event(_) | Message::Status(_) => {}
        }
        self.stats.packets_ok = self.stats.packets_ok.wrapping_add(1);
        Ok(self.message.insert(message))
    }

    fn track_sequence(&mut self, sequence: u32) {
        if let Some(last) = self.last_sequence {
            let gap = sequence.wrapping_sub(last.wrapping_add(1));
            // A forward jump is a loss; a "jump" of more than half the sequence space is a step backwards.
            if gap < u32::MAX / 2 {
                self.stats.dropped_frames = self.stats.dropped_frames.wrapping_add(gap);
            } else {
                self.stats.sequence_restarts = self.stats.sequence_restarts.wrapping_add(1);
            }
        }
        self.last_sequence = Some(sequence);
    }
}
