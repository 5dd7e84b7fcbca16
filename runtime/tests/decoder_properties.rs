//! Property tests of the streaming decoder: arbitrary bytes never panic, and corruption costs only the packets it
//! touches.

use proptest::prelude::*;
use skelact_runtime::wire::{encode_packet, Body, Decoder, Frame, Joint, Message, MAX_PACKET_LEN};

fn frame(sequence: u32, bodies: usize, seed: u32) -> Message {
    let mut f = Frame { sequence, timestamp_us: u64::from(sequence) * 33_333, bodies: heapless::Vec::new() };
    for b in 0..bodies {
        let mut body = Body { id: seed.wrapping_add(b as u32), joints: heapless::Vec::new() };
        for j in 0..25u32 {
            let v = (seed.wrapping_mul(31).wrapping_add(j) % 1000) as f32 / 500.0 - 1.0;
            body.joints.push(Joint { x: v, y: v * 0.5, z: 2.0 + v, confidence: (j * 9) as u8 }).unwrap();
        }
        f.bodies.push(body).unwrap();
    }
    Message::Frame(f)
}

/// Encodes messages back to back and returns the stream and each packet's delimiter position.
fn stream_of(messages: &[Message]) -> (Vec<u8>, Vec<usize>) {
    let mut stream = Vec::new();
    let mut ends = Vec::new();
    let mut buf = [0u8; MAX_PACKET_LEN + 1];
    for m in messages {
        let n = encode_packet(m, &mut buf).unwrap();
        stream.extend_from_slice(&buf[..n]);
        ends.push(stream.len() - 1);
    }
    (stream, ends)
}

fn decode_in_chunks(bytes: &[u8], chunk: usize) -> Vec<Message> {
    let mut decoder: Decoder = Decoder::new();
    let mut got = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        let mut input = piece;
        while let Some(outcome) = decoder.decode_next(&mut input) {
            if let Ok(m) = outcome {
                got.push(m.clone());
            }
        }
    }
    got
}

#[derive(Clone, Debug)]
enum Corruption {
    FlipBit { at: usize, bit: u8 },
    Drop { at: usize, len: usize },
    Insert { at: usize, garbage: Vec<u8> },
}

impl Corruption {
    /// Positions of the original stream this corruption touches: a drop touches its range, an insertion touches
    /// the byte it lands before.
    fn touched(&self, len: usize) -> std::ops::Range<usize> {
        match self {
            Corruption::FlipBit { at, .. } => at % len..at % len + 1,
            Corruption::Drop { at, len: n } => at % len..(at % len + n).min(len),
            Corruption::Insert { at, .. } => at % len..at % len + 1,
        }
    }
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Corruption::FlipBit { at, bit }),
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Corruption::Drop { at, len }),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..60))
            .prop_map(|(at, garbage)| Corruption::Insert { at, garbage }),
    ]
}

/// Applies corruptions to the original stream; positions refer to the original bytes.
fn apply(original: &[u8], corruptions: &[Corruption]) -> Vec<u8> {
    let len = original.len();
    let mut flips = vec![0u8; len];
    let mut dropped = vec![false; len];
    let mut inserted: Vec<Vec<u8>> = vec![Vec::new(); len];
    for c in corruptions {
        match c {
            Corruption::FlipBit { at, bit } => flips[at % len] ^= 1 << bit,
            Corruption::Drop { .. } => c.touched(len).for_each(|i| dropped[i] = true),
            Corruption::Insert { at, garbage } => inserted[at % len].extend_from_slice(garbage),
        }
    }
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        out.extend_from_slice(&inserted[i]);
        if !dropped[i] {
            out.push(original[i] ^ flips[i]);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..8000), chunk in 1usize..512) {
        let mut decoder: Decoder = Decoder::new();
        for piece in bytes.chunks(chunk) {
            let mut input = piece;
            while let Some(outcome) = decoder.decode_next(&mut input) {
                let _ = outcome;
            }
        }
        prop_assert_eq!(decoder.stats().bytes, bytes.len() as u64);
    }

    #[test]
    fn corruption_loses_only_the_packets_it_touches(
        shapes in proptest::collection::vec((0usize..4, any::<u32>()), 1..24),
        corruptions in proptest::collection::vec(corruption(), 0..6),
        chunk in 1usize..700,
    ) {
        let messages: Vec<Message> =
            shapes.iter().enumerate().map(|(i, (bodies, seed))| frame(i as u32, *bodies, *seed)).collect();
        let (original, ends) = stream_of(&messages);
        let corrupted = apply(&original, &corruptions);
        let got = decode_in_chunks(&corrupted, chunk);

        // Packet i spans from the previous delimiter (whose loss would merge it with its predecessor) to its own.
        let mut expected = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let span = if i == 0 { 0..=ends[0] } else { ends[i - 1]..=ends[i] };
            let hit = corruptions.iter().any(|c| {
                let r = c.touched(original.len());
                r.start <= *span.end() && *span.start() < r.end
            });
            if !hit {
                expected.push(m);
            }
        }
        // Every untouched packet comes back, in order; anything else that decoded must be a sent message.
        let mut next = 0;
        for m in &got {
            prop_assert!(messages.contains(m), "decoded a message that was never sent");
            if next < expected.len() && m == expected[next] {
                next += 1;
            }
        }
        prop_assert_eq!(next, expected.len(), "an untouched packet was lost");
    }
}
