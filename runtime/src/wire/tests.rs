//! Wire-level tests: golden vectors from `docs/protocol.md`, streaming, resynchronisation and every error path.

extern crate std;
use std::string::String as StdString;
use std::vec::Vec as StdVec;

use super::vectors::golden_messages;
use super::*;

const PROTOCOL_DOC: &str = include_str!("../../../docs/protocol.md");

fn encode(message: &Message) -> StdVec<u8> {
    let mut out = [0u8; MAX_PACKET_LEN + 1];
    let n = encode_packet(message, &mut out).expect("encodes");
    out[..n].to_vec()
}

fn hex(bytes: &[u8]) -> StdString {
    bytes.iter().map(|b| std::format!("{b:02x}")).collect::<StdVec<_>>().join(" ")
}

fn parse_hex(text: &str) -> StdVec<u8> {
    text.split_whitespace().map(|h| u8::from_str_radix(h, 16).expect("hex byte in protocol.md")).collect()
}

/// Finds `vector: NAME` in the doc and returns the bytes on the `bytes:` lines that follow it.
fn doc_vector(name: &str) -> StdVec<u8> {
    let marker = std::format!("vector: {name}\n");
    let start = PROTOCOL_DOC.find(&marker).unwrap_or_else(|| panic!("docs/protocol.md lacks `vector: {name}`"));
    let mut bytes = StdVec::new();
    let mut in_bytes = false;
    for line in PROTOCOL_DOC[start + marker.len()..].lines() {
        if let Some(rest) = line.strip_prefix("bytes:") {
            in_bytes = true;
            bytes.extend(parse_hex(rest));
        } else if in_bytes && line.starts_with("       ") {
            bytes.extend(parse_hex(line));
        } else if in_bytes || line.starts_with("```") {
            break;
        }
    }
    assert!(!bytes.is_empty(), "vector {name} has no bytes");
    bytes
}

fn decode_all(bytes: &[u8]) -> (StdVec<Result<Message, DecodeError>>, LinkStats) {
    let mut decoder: Decoder = Decoder::new();
    let mut out = StdVec::new();
    let mut input = bytes;
    while let Some(outcome) = decoder.decode_next(&mut input) {
        out.push(outcome.cloned());
    }
    (out, *decoder.stats())
}

fn body(id: u32, joints: usize, seed: f32) -> Body {
    let mut body = Body { id, joints: heapless::Vec::new() };
    for j in 0..joints {
        let v = seed + j as f32 * 0.01;
        body.joints.push(Joint { x: v, y: -v, z: 2.0 + v, confidence: (j * 10 % 256) as u8 }).unwrap();
    }
    body
}

fn frame(sequence: u32, bodies: usize, joints: usize) -> Message {
    let mut f = Frame { sequence, timestamp_us: u64::from(sequence) * 33_333, bodies: heapless::Vec::new() };
    for b in 0..bodies {
        f.bodies.push(body(b as u32 + 1, joints, sequence as f32 * 0.001 + b as f32)).unwrap();
    }
    Message::Frame(f)
}

#[test]
fn golden_vectors_in_the_doc_decode_and_encode() {
    for (name, message) in golden_messages() {
        let doc = doc_vector(name);
        let ours = encode(&message);
        assert_eq!(hex(&doc), hex(&ours), "vector `{name}`: docs/protocol.md disagrees with the encoder");
        let (decoded, _) = decode_all(&doc);
        assert_eq!(decoded, [Ok(message)], "vector `{name}` decodes differently");
    }
}

#[test]
fn error_vectors_in_the_doc_give_their_errors() {
    let cases = [
        ("bad-crc", DecodeError::Crc { computed: 0xc763_9138, received: 0xc663_9138 }),
        ("version-2", DecodeError::UnsupportedVersion { major: 2 }),
        ("non-finite", DecodeError::NonFinite),
    ];
    for (name, expected) in cases {
        let (decoded, _) = decode_all(&doc_vector(name));
        assert_eq!(decoded, [Err(expected)], "vector `{name}`");
    }
}

/// Prints every vector in the doc's format; run with `--nocapture` to refresh `docs/protocol.md`.
#[test]
fn print_vectors_for_the_doc() {
    for (name, message) in golden_messages() {
        std::println!("vector: {name}\nbytes: {}", hex(&encode(&message)));
    }
}

#[test]
fn largest_frame_fits_the_packet_limit() {
    let bytes = encode(&frame(u32::MAX, MAX_BODIES, MAX_JOINTS));
    assert!(bytes.len() - 1 <= MAX_PACKET_LEN, "{} > {MAX_PACKET_LEN}", bytes.len() - 1);
    let (decoded, _) = decode_all(&bytes);
    assert_eq!(decoded, [Ok(frame(u32::MAX, MAX_BODIES, MAX_JOINTS))]);
}

#[test]
fn chunks_of_every_size_give_the_same_messages() {
    let mut stream = StdVec::new();
    let messages: StdVec<Message> = (0..6).map(|i| frame(i, (i % 3) as usize, 25)).collect();
    for m in &messages {
        stream.extend(encode(m));
    }
    for chunk in [1, 2, 3, 7, 64, 255, 1000, stream.len()] {
        let mut decoder: Decoder = Decoder::new();
        let mut got = StdVec::new();
        for piece in stream.chunks(chunk) {
            let mut input = piece;
            while let Some(outcome) = decoder.decode_next(&mut input) {
                got.push(outcome.expect("clean stream").clone());
            }
        }
        assert_eq!(got, messages, "chunk size {chunk}");
        assert_eq!(decoder.stats().packets_ok, 6);
        assert_eq!(decoder.stats().errors(), 0);
    }
}

#[test]
fn repeated_delimiters_are_skipped() {
    let mut stream = std::vec![0, 0, 0];
    stream.extend(encode(&frame(1, 1, 25)));
    stream.extend([0, 0]);
    let (decoded, stats) = decode_all(&stream);
    assert_eq!(decoded.len(), 1);
    assert!(decoded[0].is_ok());
    assert_eq!(stats.errors(), 0);
}

#[test]
fn sequence_gaps_count_dropped_frames_and_restarts() {
    let mut stream = StdVec::new();
    for seq in [10, 11, 14, 15, 2, 3] {
        stream.extend(encode(&frame(seq, 1, 25)));
    }
    stream.extend(encode(&frame(u32::MAX, 0, 0)));
    stream.extend(encode(&frame(1, 0, 0)));
    let (_, stats) = decode_all(&stream);
    assert_eq!(stats.dropped_frames, 2 + 1, "14 after 11 drops two; MAX→1 wraps past 0 and drops one");
    assert_eq!(stats.sequence_restarts, 1 + 1, "15→2 goes backwards; 3→MAX is a jump of more than half");
}

#[test]
fn oversize_packet_is_discarded_and_the_next_one_survives() {
    let mut stream = std::vec![0x55u8; MAX_PACKET_LEN + 10];
    stream.push(0);
    stream.extend(encode(&frame(5, 1, 25)));
    let (decoded, stats) = decode_all(&stream);
    assert_eq!(decoded[0], Err(DecodeError::Oversize { limit: MAX_PACKET_LEN }));
    assert_eq!(decoded[1], Ok(frame(5, 1, 25)));
    assert_eq!(stats.oversize, 1);
}

#[test]
fn small_decoder_reports_its_own_limit() {
    let bytes = encode(&frame(5, 2, 25));
    let mut decoder: Decoder<256> = Decoder::new();
    let mut input = &bytes[..];
    assert_eq!(decoder.decode_next(&mut input).map(|r| r.cloned()), Some(Err(DecodeError::Oversize { limit: 256 })));
}

#[test]
fn too_short_and_bad_cobs_are_errors() {
    let (decoded, stats) = decode_all(&[0x03, 0x01, 0x02, 0x00, 0x05, 0x01, 0x00]);
    assert_eq!(decoded, [Err(DecodeError::TooShort { len: 2 }), Err(DecodeError::Cobs)]);
    assert_eq!((stats.too_short, stats.cobs_errors), (1, 1));
}

/// Builds a packet around arbitrary message bytes, with a correct CRC, to reach the decoder's later checks.
fn packet_around(version: u8, message: &[u8]) -> StdVec<u8> {
    let mut data = std::vec![version];
    data.extend_from_slice(message);
    let crc = crc32(&data);
    data.extend_from_slice(&crc.to_le_bytes());
    let start = cobs::max_overhead(data.len());
    let mut buf = std::vec![0u8; start + data.len() + 1];
    buf[start..start + data.len()].copy_from_slice(&data);
    let n = cobs::encode_in_place(&mut buf, start, data.len());
    buf.truncate(n);
    buf.push(0);
    buf
}

#[test]
fn count_limits_and_malformed_messages_are_named() {
    // Frame (variant 1), sequence 1, timestamp 0, then 7 bodies: one more than MAX_BODIES.
    let (decoded, _) = decode_all(&packet_around(1, &[1, 1, 0, 7, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]));
    assert_eq!(decoded, [Err(DecodeError::CountOutOfRange)]);
    // One body with 39 joints.
    let mut one_body_39_joints = std::vec![1u8, 1, 0, 1, 9, 39];
    for _ in 0..39 {
        one_body_39_joints.extend([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255]);
    }
    let (decoded, _) = decode_all(&packet_around(1, &one_body_39_joints));
    assert_eq!(decoded, [Err(DecodeError::CountOutOfRange)]);
    // Unknown message variant 9, truncated frame, trailing bytes after a heartbeat.
    for message in [&[9u8, 0][..], &[1, 1, 0, 1, 9, 2, 0, 0][..], &[2, 5, 0xAA][..]] {
        let (decoded, _) = decode_all(&packet_around(1, message));
        assert_eq!(decoded, [Err(DecodeError::Malformed)], "message bytes {message:?}");
    }
    // A Hello with an unknown layout number.
    let (decoded, _) = decode_all(&packet_around(1, &[0, 1, 0, 42, 0, 0, 0, 0]));
    assert_eq!(decoded, [Err(DecodeError::Malformed)]);
}

#[test]
fn non_finite_coordinates_are_rejected() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut message = frame(1, 1, 25);
        if let Message::Frame(f) = &mut message {
            f.bodies[0].joints[7].y = bad;
        }
        let (decoded, stats) = decode_all(&encode(&message));
        assert_eq!(decoded, [Err(DecodeError::NonFinite)]);
        assert_eq!(stats.non_finite, 1);
    }
}

#[test]
fn joint_count_is_checked_against_the_announced_layout() {
    let (_, hello) = golden_messages().into_iter().next().unwrap();
    let mut stream = encode(&hello);
    stream.extend(encode(&frame(1, 1, 25)));
    stream.extend(encode(&frame(2, 2, 32)));
    stream.extend(encode(&frame(3, 1, 25)));
    let (decoded, stats) = decode_all(&stream);
    assert!(decoded[0].is_ok() && decoded[1].is_ok() && decoded[3].is_ok());
    assert_eq!(decoded[2], Err(DecodeError::JointCount { expected: 25, actual: 32 }));
    assert_eq!(stats.joint_count_errors, 1);
}

#[test]
fn reset_link_drops_a_partial_packet() {
    let bytes = encode(&frame(1, 1, 25));
    let mut decoder: Decoder = Decoder::new();
    let mut input = &bytes[..bytes.len() / 2];
    assert!(decoder.decode_next(&mut input).is_none());
    decoder.reset_link();
    let mut input = &bytes[..];
    assert_eq!(decoder.decode_next(&mut input).map(|r| r.cloned()), Some(Ok(frame(1, 1, 25))));
}

#[test]
fn encode_refuses_a_small_buffer() {
    let mut out = [0u8; 40];
    assert_eq!(encode_packet(&frame(1, 1, 25), &mut out), Err(EncodeError::BufferTooSmall));
    assert_eq!(encode_packet(&frame(1, 0, 0), &mut [0u8; 3]), Err(EncodeError::BufferTooSmall));
    assert_eq!(encode_packet(&frame(1, 0, 0), &mut []), Err(EncodeError::BufferTooSmall));
}

mod frame_reader_matches_postcard {
    use super::super::frame_reader::read_frame_into;
    use super::*;
    use proptest::prelude::*;

    fn arbitrary_frame() -> impl Strategy<Value = Frame> {
        let joint = (any::<f32>(), any::<f32>(), any::<f32>(), any::<u8>()).prop_map(|(x, y, z, confidence)| Joint {
            x,
            y,
            z,
            confidence,
        });
        let body = (any::<u32>(), proptest::collection::vec(joint, 0..=MAX_JOINTS))
            .prop_map(|(id, joints)| Body { id, joints: heapless::Vec::from_slice(&joints).unwrap() });
        (any::<u32>(), any::<u64>(), proptest::collection::vec(body, 0..=MAX_BODIES)).prop_map(
            |(sequence, timestamp_us, bodies)| Frame {
                sequence,
                timestamp_us,
                bodies: heapless::Vec::from_slice(&bodies).unwrap(),
            },
        )
    }

    fn all_finite(frame: &Frame) -> bool {
        frame.bodies.iter().flat_map(|b| b.joints.iter()).all(|j| j.x.is_finite() && j.y.is_finite() && j.z.is_finite())
    }

    proptest! {
        #[test]
        fn on_encoded_frames(frame in arbitrary_frame()) {
            let mut bytes = [0u8; MAX_PACKET_LEN];
            let encoded = postcard::to_slice(&frame, &mut bytes).unwrap();
            let mut ours = Frame { sequence: 1, timestamp_us: 2, bodies: heapless::Vec::new() };
            let outcome = read_frame_into(encoded, &mut ours);
            if all_finite(&frame) {
                prop_assert_eq!(outcome, Ok(()));
                // Compare bit patterns: NaN-free here, but -0.0 vs 0.0 must survive too.
                prop_assert_eq!(std::format!("{ours:?}"), std::format!("{frame:?}"));
            } else {
                prop_assert_eq!(outcome, Err(DecodeError::NonFinite));
            }
        }

        #[test]
        fn on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let reference = postcard::from_bytes::<Frame>(&bytes);
            let reference_used_all = postcard::take_from_bytes::<Frame>(&bytes).map(|(_, rest)| rest.is_empty());
            let mut ours = Frame { sequence: 0, timestamp_us: 0, bodies: heapless::Vec::new() };
            let outcome = read_frame_into(&bytes, &mut ours);
            match (reference, reference_used_all) {
                (Ok(frame), Ok(true)) if all_finite(&frame) => {
                    prop_assert_eq!(outcome, Ok(()));
                    prop_assert_eq!(ours, frame);
                }
                _ => prop_assert!(outcome.is_err(), "postcard refused or left bytes, ours accepted"),
            }
        }
    }
}

#[test]
fn a_hello_of_another_major_version_does_not_change_the_layout_frames_are_checked_against() {
    let (_, hello) = golden_messages().into_iter().next().unwrap();
    let Message::Hello(mut foreign) = hello.clone() else { panic!("the first golden message is a Hello") };
    foreign.protocol_major = PROTOCOL_MAJOR + 1;
    foreign.layout = LayoutId::ZedBody34;
    let mut stream = encode(&hello);
    stream.extend(encode(&Message::Hello(foreign)));
    stream.extend(encode(&frame(1, 1, 25)));
    let (decoded, stats) = decode_all(&stream);
    assert!(decoded.iter().all(Result::is_ok), "{decoded:?}");
    assert_eq!(stats.joint_count_errors, 0, "frames are still checked against Kinect v2's 25 joints");
}
