//! Decode throughput: a stream of single-body Kinect v2 frames, fed in 4 KiB chunks like a serial read loop.
//!
//! Run: `cargo bench -p skelact-runtime --bench decode`. Figures go to docs/performance.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use skelact_runtime::wire::{encode_packet, Body, Decoder, Frame, Joint, Message, MAX_PACKET_LEN};
use std::hint::black_box;

const FRAMES: usize = 1000;

fn single_body_stream() -> Vec<u8> {
    let mut stream = Vec::new();
    let mut buf = [0u8; MAX_PACKET_LEN + 1];
    for i in 0..FRAMES {
        let mut body = Body { id: 7, joints: heapless::Vec::new() };
        for j in 0..25 {
            let v = (i * 25 + j) as f32 * 1e-3;
            body.joints.push(Joint { x: v.sin(), y: v.cos(), z: 2.5 + v.sin() * 0.1, confidence: 255 }).unwrap();
        }
        let mut frame = Frame { sequence: i as u32, timestamp_us: i as u64 * 33_333, bodies: heapless::Vec::new() };
        frame.bodies.push(body).unwrap();
        let n = encode_packet(&Message::Frame(frame), &mut buf).unwrap();
        stream.extend_from_slice(&buf[..n]);
    }
    stream
}

fn decode(c: &mut Criterion) {
    let stream = single_body_stream();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function("single_body_frames", |b| {
        let mut decoder: Decoder = Decoder::new();
        b.iter(|| {
            let mut decoded = 0usize;
            for chunk in stream.chunks(4096) {
                let mut input = chunk;
                while let Some(outcome) = decoder.decode_next(&mut input) {
                    if let Ok(Message::Frame(frame)) = outcome {
                        decoded += frame.bodies.len();
                    }
                }
            }
            black_box(decoded)
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
