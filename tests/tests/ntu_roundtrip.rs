//! Real Kinect v2 recordings (NTU RGB+D) survive protocol v1 bit for bit: parse → frames → encode → decode.

use skelact_formats::ntu;
use skelact_runtime::wire::{encode_packet, Decoder, Frame, Message, MAX_PACKET_LEN};
use skelact_tests::{ntu_recordings, skip};

/// Compares frames field by field with f32 bit patterns, so -0.0 and 0.0 would differ.
fn assert_bit_identical(sent: &Frame, got: &Frame) {
    assert_eq!((sent.sequence, sent.timestamp_us), (got.sequence, got.timestamp_us));
    assert_eq!(sent.bodies.len(), got.bodies.len());
    for (a, b) in sent.bodies.iter().zip(&got.bodies) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.joints.len(), b.joints.len());
        for (j, k) in a.joints.iter().zip(&b.joints) {
            assert_eq!(
                [j.x.to_bits(), j.y.to_bits(), j.z.to_bits(), u32::from(j.confidence)],
                [k.x.to_bits(), k.y.to_bits(), k.z.to_bits(), u32::from(k.confidence)]
            );
        }
    }
}

#[test]
fn every_recording_round_trips_bit_identically() {
    let files = match ntu_recordings() {
        Ok(files) => files,
        Err(why) => return skip("every_recording_round_trips_bit_identically", &why),
    };
    let fps = ntu::NTU_FPS_MILLIHERTZ;
    for path in files {
        let recording = ntu::read_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let frames = ntu::to_protocol_frames(&recording, fps);
        assert_eq!(frames.len(), recording.frames.len(), "{}", path.display());
        // The recording's joints, as parsed from text, are what the frames carry.
        for (frame, source) in frames.iter().zip(&recording.frames) {
            for (body, source_body) in frame.bodies.iter().zip(&source.bodies) {
                for (joint, source_joint) in body.joints.iter().zip(&source_body.joints) {
                    assert_eq!([joint.x, joint.y, joint.z], [source_joint.x, source_joint.y, source_joint.z]);
                }
            }
        }

        let mut stream = Vec::new();
        let hello = ntu::kinect_v2_hello("ntu-fixture", fps);
        let mut buf = [0u8; MAX_PACKET_LEN + 1];
        let n = encode_packet(&Message::Hello(hello), &mut buf).unwrap();
        stream.extend_from_slice(&buf[..n]);
        for frame in &frames {
            let n = encode_packet(&Message::Frame(frame.clone()), &mut buf).unwrap();
            stream.extend_from_slice(&buf[..n]);
        }

        // Odd chunk sizes, so packets straddle reads.
        let mut decoder: Decoder = Decoder::new();
        let mut decoded = Vec::new();
        for chunk in stream.chunks(97) {
            let mut input = chunk;
            while let Some(outcome) = decoder.decode_next(&mut input) {
                match outcome.unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
                    Message::Frame(frame) => decoded.push(frame.clone()),
                    Message::Hello(_) => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        assert_eq!(decoded.len(), frames.len());
        for (sent, got) in frames.iter().zip(&decoded) {
            assert_bit_identical(sent, got);
        }
        assert_eq!(decoder.stats().errors(), 0);
        assert_eq!(decoder.stats().dropped_frames, 0);
        eprintln!("{}: {} frames round-tripped", path.display(), frames.len());
    }
}
