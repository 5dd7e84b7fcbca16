//! Streaming decoder: bytes in chunks of any size in, messages out, with link statistics.
//!
//! Corruption costs only the packets it touches: after any error the decoder discards bytes up to the next 0x00
//! delimiter and starts afresh there. It never allocates and never panics on input.

use super::message::{Heartbeat, LayoutId, Message, PROTOCOL_MAJOR};
use super::packet::{decode_unstuffed_into, DecodeError, MAX_PACKET_LEN};

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
    /// The current packet, already COBS-decoded: bytes are unstuffed as they arrive, so each is copied once.
    buffer: [u8; N],
    len: usize,
    /// Raw bytes of the current packet seen so far (0 means we are between packets).
    raw_len: usize,
    /// Data bytes left in the current COBS run; 0 means the next raw byte is a code byte.
    run_left: usize,
    /// The previous code byte was below 0xFF, so a zero precedes the next run.
    zero_pending: bool,
    /// Set when the current packet outgrew the buffer; bytes are dropped until the next delimiter.
    overflowed: bool,
    message: Message,
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
            raw_len: 0,
            run_left: 0,
            zero_pending: false,
            overflowed: false,
            message: Message::Heartbeat(Heartbeat { timestamp_us: 0 }),
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
        self.start_packet();
        self.last_sequence = None;
    }

    fn start_packet(&mut self) {
        self.len = 0;
        self.raw_len = 0;
        self.run_left = 0;
        self.zero_pending = false;
        self.overflowed = false;
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
            let (data, delimited) = match memchr::memchr(0, chunk) {
                Some(end) => (&chunk[..end], true),
                None => (chunk, false),
            };
            *input = &chunk[data.len() + usize::from(delimited)..];
            self.stats.bytes = self.stats.bytes.wrapping_add((data.len() + usize::from(delimited)) as u64);
            self.unstuff(data);
            if !delimited {
                return None;
            }
            if self.raw_len == 0 {
                continue;
            }
            let outcome = if self.overflowed {
                Err(DecodeError::Oversize { limit: N })
            } else if self.run_left != 0 {
                // The last code byte promised more data than arrived before the delimiter.
                Err(DecodeError::Cobs)
            } else {
                decode_unstuffed_into(&self.buffer[..self.len], &mut self.message)
            };
            self.start_packet();
            return Some(match outcome {
                Ok(()) => self.accept(),
                Err(error) => self.fail(error),
            });
        }
    }

    /// COBS-decodes raw packet bytes (no delimiters among them) into the buffer.
    fn unstuff(&mut self, mut data: &[u8]) {
        // The oversize limit applies to raw bytes, as documented, and is checked before any copy.
        self.raw_len += data.len();
        if self.raw_len > N {
            self.overflowed = true;
        }
        if self.overflowed {
            return;
        }
        while let Some((&first, rest)) = data.split_first() {
            if self.run_left == 0 {
                let code = usize::from(first);
                data = rest;
                if self.zero_pending {
                    // raw_len <= N bounds the decoded length, so this index is in range.
                    self.buffer[self.len] = 0;
                    self.len += 1;
                }
                self.run_left = code - 1;
                self.zero_pending = code != 0xFF;
            } else {
                let n = self.run_left.min(data.len());
                self.buffer[self.len..self.len + n].copy_from_slice(&data[..n]);
                self.len += n;
                self.run_left -= n;
                data = &data[n..];
            }
        }
    }

    fn fail(&mut self, error: DecodeError) -> Result<&Message, DecodeError> {
        self.stats.count(&error);
        Err(error)
    }

    fn accept(&mut self) -> Result<&Message, DecodeError> {
        match &self.message {
            // A Hello of another major version is passed on (the frontend refuses and counts it) but its layout is
            // not adopted, so that the frames that follow are still checked against the layout in use.
            Message::Hello(hello) if hello.protocol_major == PROTOCOL_MAJOR => self.layout = Some(hello.layout),
            Message::Hello(_) => {}
            Message::Frame(frame) => {
                if let Some(layout) = self.layout {
                    let expected = layout.joint_count();
                    if let Some(body) = frame.bodies.iter().find(|b| b.joints.len() != expected) {
                        let error =
                            DecodeError::JointCount { expected: expected as u8, actual: body.joints.len() as u8 };
                        return self.fail(error);
                    }
                }
                let sequence = frame.sequence;
                self.track_sequence(sequence);
            }
            Message::Heartbeat(_) | Message::Event(_) | Message::Status(_) => {}
        }
        self.stats.packets_ok = self.stats.packets_ok.wrapping_add(1);
        Ok(&self.message)
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
