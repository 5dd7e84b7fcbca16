//! Protocol-v1 recordings: the raw packet bytes exactly as they came off the link, nothing added.
//!
//! Because a recording is the stream itself, replaying it is writing its bytes; what `replay` adds is pacing:
//! each `Frame` (and `Heartbeat`) goes out when its sensor timestamp says, relative to the first one, divided by a
//! speed factor. Damaged packets are replayed as they were recorded, so a replay reproduces the link's faults too.

use std::io::{self, Write};
use std::time::Duration;

use skelact_runtime::wire::{Decoder, Message};

/// Why a recording stopped or failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("cannot write the recording: {0}")]
    Write(#[from] io::Error),
}

/// Captures a stream, counting the frames it holds.
#[derive(Debug)]
pub struct Recorder<W: Write> {
    out: W,
    decoder: Decoder,
    frames: u64,
    bytes: u64,
    frame_limit: Option<u64>,
}

impl<W: Write> Recorder<W> {
    /// Records into `out`; with a `frame_limit`, stops right after the packet that completes that many frames.
    pub fn new(out: W, frame_limit: Option<u64>) -> Self {
        Recorder { out, decoder: Decoder::new(), frames: 0, bytes: 0, frame_limit }
    }

    /// Appends bytes from the link. Returns `true` once the frame limit is reached; bytes after the packet that
    /// reached it are not recorded.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<bool, RecordingError> {
        if self.is_done() {
            return Ok(true);
        }
        let mut input = bytes;
        let mut keep = bytes.len();
        while let Some(outcome) = self.decoder.decode_next(&mut input) {
            if let Ok(Message::Frame(_)) = outcome {
                self.frames += 1;
                if self.is_done() {
                    keep = bytes.len() - input.len();
                    break;
                }
            }
        }
        self.out.write_all(&bytes[..keep])?;
        self.bytes += keep as u64;
        Ok(self.is_done())
    }

    fn is_done(&self) -> bool {
        self.frame_limit.is_some_and(|limit| self.frames >= limit)
    }

    /// Valid frames recorded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Bytes recorded so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Decoder counters of the recorded stream (damaged packets, dropped frames).
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> Result<W, RecordingError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// How fast to replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// Sensor time divided by this factor (1.0 is real time, 2.0 twice as fast). Must be positive and finite.
    Speed(f64),
    /// As fast as the sink takes the bytes.
    Fast,
}

/// When each timestamped packet is due, relative to the start of the replay.
///
/// The first timestamp is due at zero. A timestamp that goes backwards (the sensor restarted during the recording)
/// is due right after the previous packet, and the timeline continues from it.
#[derive(Clone, Debug)]
pub struct Pacer {
    speed: f64,
    /// The sensor timestamp and due time that later timestamps are measured from.
    anchor: Option<(u64, Duration)>,
    last_due: Duration,
}

impl Pacer {
    pub fn new(speed: f64) -> Self {
        Pacer { speed, anchor: None, last_due: Duration::ZERO }
    }

    /// When the packet with sensor time `timestamp_us` is due.
    pub fn due(&mut self, timestamp_us: u64) -> Duration {
        let due = match self.anchor {
            Some((anchor_us, anchor_due)) if timestamp_us >= anchor_us => {
                anchor_due + Duration::from_secs_f64((timestamp_us - anchor_us) as f64 / 1e6 / self.speed)
            }
            _ => {
                self.anchor = Some((timestamp_us, self.last_due));
                self.last_due
            }
        };
        self.last_due = due;
        due
    }
}

/// The sensor timestamp of a packet, if it carries one.
fn timestamp_of(message: &Message) -> Option<u64> {
    match message {
        Message::Frame(frame) => Some(frame.timestamp_us),
        Message::Heartbeat(heartbeat) => Some(heartbeat.timestamp_us),
        _ => None,
    }
}

/// Counters of one replay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub packets: u64,
    pub frames: u64,
    /// Packets that do not decode; they are sent anyway, as recorded.
    pub damaged: u64,
    pub bytes: u64,
}

/// Splits a recording into packets (each ending at its 0x00 delimiter; a trailing fragment without one is the last
/// packet) and hands each to `send` once it is due. `wait` is called with the due time of each timestamped packet;
/// the CLI sleeps in it, tests record the schedule.
pub fn replay<E>(
    recording: &[u8],
    pacing: Pacing,
    mut wait: impl FnMut(Duration),
    mut send: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<ReplayStats, E> {
    let mut stats = ReplayStats::default();
    let mut pacer = match pacing {
        Pacing::Speed(speed) => Some(Pacer::new(speed)),
        Pacing::Fast => None,
    };
    let mut decoder: Decoder = Decoder::new();
    let mut rest = recording;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == 0).map_or(rest.len(), |i| i + 1);
        let (packet, tail) = rest.split_at(end);
        rest = tail;
        let mut input = packet;
        match decoder.decode_next(&mut input) {
            Some(Ok(message)) => {
                if let Message::Frame(_) = message {
                    stats.frames += 1;
                }
                if let (Some(pacer), Some(timestamp)) = (pacer.as_mut(), timestamp_of(message)) {
                    wait(pacer.due(timestamp));
                }
            }
            Some(Err(_)) => stats.damaged += 1,
            // An empty packet (two delimiters in a row), or a trailing fragment: nothing to pace.
            None => {}
        }
        send(packet)?;
        stats.packets += 1;
        stats.bytes += packet.len() as u64;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use skelact_runtime::wire::{encode_packet, Frame, Heartbeat};

    fn packet(message: &Message) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        let n = encode_packet(message, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    fn frame(sequence: u32, timestamp_us: u64) -> Message {
        Message::Frame(Frame { sequence, timestamp_us, bodies: heapless::Vec::new() })
    }

    #[test]
    fn pacer_follows_sensor_time_and_survives_a_restart() {
        let mut pacer = Pacer::new(2.0);
        assert_eq!(pacer.due(1_000_000), Duration::ZERO);
        assert_eq!(pacer.due(1_100_000), Duration::from_millis(50));
        assert_eq!(pacer.due(1_300_000), Duration::from_millis(150));
        // The sensor restarted: no waiting for time that went backwards, and the timeline goes on from here.
        assert_eq!(pacer.due(10), Duration::from_millis(150));
        assert_eq!(pacer.due(200_010), Duration::from_millis(250));
    }

    #[test]
    fn recorder_stops_after_the_frame_limit_and_replay_sends_the_same_bytes() {
        let mut stream = packet(&Message::Heartbeat(Heartbeat { timestamp_us: 0 }));
        for i in 0..5 {
            stream.extend(packet(&frame(i, 33_333 * u64::from(i))));
        }
        let mut recorder = Recorder::new(Vec::new(), Some(3));
        let mut done = false;
        for chunk in stream.chunks(7) {
            done = recorder.feed(chunk).unwrap();
            if done {
                break;
            }
        }
        assert!(done);
        assert_eq!(recorder.frames(), 3);
        let recording = recorder.finish().unwrap();
        let three_frames = packet(&Message::Heartbeat(Heartbeat { timestamp_us: 0 })).len()
            + (0..3).map(|i| packet(&frame(i, 33_333 * u64::from(i))).len()).sum::<usize>();
        assert_eq!(recording, stream[..three_frames]);

        let mut schedule = Vec::new();
        let mut sent = Vec::new();
        let stats = replay(
            &recording,
            Pacing::Speed(1.0),
            |due| schedule.push(due),
            |p| {
                sent.extend_from_slice(p);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert_eq!(sent, recording);
        assert_eq!(stats, ReplayStats { packets: 4, frames: 3, damaged: 0, bytes: recording.len() as u64 });
        assert_eq!(schedule, [0, 0, 33_333, 66_666].map(Duration::from_micros));
    }

    #[test]
    fn damaged_packets_are_replayed_as_recorded() {
        let mut recording = packet(&frame(0, 0));
        let mut damaged = packet(&frame(1, 33_000));
        damaged[3] = if damaged[3] == 0x10 { 0x20 } else { damaged[3] ^ 0x10 };
        recording.extend(&damaged);
        recording.extend(b"\x05tail"); // a fragment cut off by the end of the recording
        let mut sent = Vec::new();
        let stats = replay(
            &recording,
            Pacing::Fast,
            |_| panic!("fast replay never waits"),
            |p| {
                sent.push(p.to_vec());
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert_eq!(sent.concat(), recording);
        assert_eq!((stats.packets, stats.frames, stats.damaged), (3, 1, 1));
    }
}
