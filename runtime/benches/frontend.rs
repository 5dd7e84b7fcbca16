//! Frame-side cost: decode → layout mapping → time grid → tracks → window extraction → preprocessing, one thread;
//! and the time grid (step 0) alone.
//!
//! Run: `cargo bench -p skelact-runtime --bench frontend`. Figures go to docs/performance.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use skelact_runtime::layout::SourceFormat;
use skelact_runtime::pipeline::{Frontend, FrontendConfig};
use skelact_runtime::preprocess::{tensor_len, Outputs, PreprocessConfig, Streams};
use skelact_runtime::resample::{GridConfig, Resampler};
use skelact_runtime::skeleton::Pose;
use skelact_runtime::track::TrackConfig;
use skelact_runtime::window::WindowConfig;
use skelact_runtime::wire::{encode_packet, Body, Decoder, Frame, Joint, Message, MAX_PACKET_LEN};
use std::hint::black_box;

const FRAMES: usize = 960;

/// A standing skeleton (NTU-25, metres, 2.5 m from the sensor) whose arms swing, so every joint moves.
fn synthetic_stream(bodies: usize) -> Vec<u8> {
    const REST: [[f32; 3]; 25] = [
        [0.0, -0.3, 0.0],
        [0.0, 0.0, 0.0],
        [0.0, 0.3, 0.0],
        [0.0, 0.45, 0.0],
        [0.18, 0.22, 0.0],
        [0.3, 0.0, 0.0],
        [0.35, -0.22, 0.0],
        [0.36, -0.3, 0.0],
        [-0.18, 0.22, 0.0],
        [-0.3, 0.0, 0.0],
        [-0.35, -0.22, 0.0],
        [-0.36, -0.3, 0.0],
        [0.1, -0.35, 0.0],
        [0.12, -0.75, 0.0],
        [0.12, -1.1, 0.0],
        [0.12, -1.15, 0.1],
        [-0.1, -0.35, 0.0],
        [-0.12, -0.75, 0.0],
        [-0.12, -1.1, 0.0],
        [-0.12, -1.15, 0.1],
        [0.0, 0.25, 0.0],
        [0.37, -0.36, 0.0],
        [0.33, -0.3, 0.05],
        [-0.37, -0.36, 0.0],
        [-0.33, -0.3, 0.05],
    ];
    let mut stream = Vec::new();
    let mut buf = [0u8; MAX_PACKET_LEN + 1];
    for i in 0..FRAMES {
        let phase = i as f32 * 0.2;
        let mut frame = Frame { sequence: i as u32, timestamp_us: i as u64 * 33_333, bodies: heapless::Vec::new() };
        for b in 0..bodies {
            let mut body = Body { id: b as u32 + 1, joints: heapless::Vec::new() };
            for (j, rest) in REST.iter().enumerate() {
                let swing = if (4..12).contains(&j) { 0.15 * phase.sin() } else { 0.0 };
                let x = rest[0] + b as f32 * 0.8 - 0.4 * bodies.saturating_sub(1) as f32;
                let joint = Joint { x, y: rest[1] + swing, z: 2.5 + rest[2] + swing * 0.5, confidence: 255 };
                body.joints.push(joint).unwrap();
            }
            frame.bodies.push(body).unwrap();
        }
        let n = encode_packet(&Message::Frame(frame), &mut buf).unwrap();
        stream.extend_from_slice(&buf[..n]);
    }
    stream
}

fn frontend(c: &mut Criterion) {
    let mut group = c.benchmark_group("frontend");
    group.throughput(Throughput::Elements(FRAMES as u64));
    // Window of 64 raw frames, inference every 8 frames per body, T = 64, all three streams.
    for bodies in [1usize, 2] {
        let stream = synthetic_stream(bodies);
        let config = FrontendConfig {
            min_confidence: 1,
            grid: GridConfig::default(),
            tracks: TrackConfig::for_frames(64),
            window: WindowConfig::default(),
            preprocess: PreprocessConfig { frames_out: 64, streams: Streams::ALL, ..PreprocessConfig::default() },
        };
        let len = tensor_len(64);
        let mut tensors = vec![0.0f32; 3 * len];
        group.bench_function(format!("decode_track_window_preprocess_{bodies}_bodies"), |b| {
            b.iter(|| {
                let mut frontend = Frontend::<4, 64>::new(config, SourceFormat::MODEL).unwrap();
                let mut decoder: Decoder = Decoder::new();
                let mut windows = 0usize;
                for chunk in stream.chunks(4096) {
                    let mut input = chunk;
                    while let Some(outcome) = decoder.decode_next(&mut input) {
                        if let Ok(Message::Frame(frame)) = outcome {
                            frontend.push_frame(frame).unwrap();
                            while let Some(id) = frontend.next_due() {
                                let (joint, rest) = tensors.split_at_mut(len);
                                let (bone, motion) = rest.split_at_mut(len);
                                frontend.prepare(id, Outputs { joint, bone, motion, missing: &mut [] }).unwrap();
                                windows += 1;
                            }
                        }
                    }
                }
                black_box(windows)
            })
        });
    }
    group.finish();
}

/// Step 0 alone (`resample::Resampler`): a frame of two mapped bodies onto the 30 Hz grid, from a 30 Hz and a 120 Hz
/// sensor, per sensor frame; the grid frames go nowhere. Beside the whole frame side above, it says what the step
/// costs.
fn resample(c: &mut Criterion) {
    let mut group = c.benchmark_group("resample");
    group.throughput(Throughput::Elements(FRAMES as u64));
    for hz in [30u64, 120] {
        group.bench_function(format!("two_bodies_{hz}_hz"), |b| {
            b.iter(|| {
                let mut resampler = Resampler::new(GridConfig::default()).unwrap();
                let mut emitted = 0usize;
                for i in 0..FRAMES as u32 {
                    let held = resampler.incoming();
                    for id in 0..2 {
                        let (slot_id, pose) = held.next_slot().unwrap();
                        *slot_id = id;
                        *pose = Pose::MISSING;
                        held.commit_slot();
                    }
                    let t = u64::from(i) * 1_000_000 / hz;
                    resampler
                        .push(i, t, |_, _, frame| {
                            emitted += frame.len();
                            Ok::<(), ()>(())
                        })
                        .unwrap();
                }
                black_box(emitted)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, frontend, resample);
criterion_main!(benches);
