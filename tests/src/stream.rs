//! Long protocol-v1 streams built from the real NTU recordings, for pipeline tests and benches.

use skelact_formats::ntu;
use skelact_runtime::wire::{encode_packet, Frame, Message, MAX_PACKET_LEN};

/// The frames of every NTU fixture played forwards then backwards, repeated until `count` frames, with
/// continuous sequence numbers and timestamps so that tracks see one long, gapless session. Without recordings,
/// why not (for [`crate::skip`]); a recording that does not parse is a failure, not a skip.
pub fn looped_ntu_frames(count: usize) -> Result<Vec<Frame>, String> {
    let mut source = Vec::new();
    for path in crate::ntu_recordings()? {
        let recording = ntu::read_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let frames = ntu::to_protocol_frames(&recording, ntu::NTU_FPS_MILLIHERTZ);
        source.extend(frames.iter().cloned());
        source.extend(frames.iter().rev().cloned());
    }
    if source.is_empty() {
        return Err("the NTU recordings hold no frame".into());
    }
    let frames = (0..count)
        .map(|i| {
            let mut frame = source[i % source.len()].clone();
            frame.sequence = i as u32;
            frame.timestamp_us = i as u64 * 1_000_000 / 30;
            frame
        })
        .collect();
    Ok(frames)
}

/// Encodes messages into one byte stream.
pub fn encode_stream<'m>(messages: impl IntoIterator<Item = &'m Message>) -> Vec<u8> {
    let mut stream = Vec::new();
    let mut buf = vec![0u8; MAX_PACKET_LEN + 1];
    for message in messages {
        let n = encode_packet(message, &mut buf).expect("message fits a packet");
        stream.extend_from_slice(&buf[..n]);
    }
    stream
}
