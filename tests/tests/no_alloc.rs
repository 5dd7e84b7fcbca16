//! Zero heap allocations per frame in steady state, across decode → layout → tracks → window → preprocessing (with
//! the missing mask) → reconstruction (REC) → engine (the deterministic test engine) → head → decisions → event
//! encoding.

use skelact_runtime::decision::DecisionConfig;
use skelact_runtime::engine::TestEngine;
use skelact_runtime::layout::SourceFormat;
use skelact_runtime::pipeline::{Classifier, Frontend, FrontendConfig, Head, Pipeline, StreamEngines};
use skelact_runtime::preprocess::{mask_len, tensor_len, PreprocessConfig, Streams};
use skelact_runtime::reconstruct::{self, Reconstruction, ReconstructionMode, ReconstructionPolicy};
use skelact_runtime::track::TrackConfig;
use skelact_runtime::window::WindowConfig;
use skelact_runtime::wire::{encode_packet, Decoder, Message, MAX_PACKET_LEN};
use skelact_tests::alloc_count::{counting, CountingAllocator};
use skelact_tests::skip;
use skelact_tests::stream::{encode_stream, looped_ntu_frames};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn the_counter_sees_allocations() {
    let (_, n) = counting(|| std::hint::black_box(vec![1u8; 10]));
    assert!(n >= 1, "the counting allocator must see a Vec allocation");
}

#[test]
fn steady_state_allocates_nothing_per_frame() {
    measure("steady_state_allocates_nothing_per_frame", false);
}

#[test]
fn steady_state_with_reconstruction_allocates_nothing_per_frame() {
    measure("steady_state_with_reconstruction_allocates_nothing_per_frame", true);
}

/// Plays looped NTU frames and counts the heap allocations of the measured part. With `reconstruction`, a left
/// hand is lost in every third frame and REC (a test engine standing in for the model) runs on every window with a
/// missing joint.
fn measure(name: &str, reconstruction: bool) {
    const WARM_UP: usize = 200;
    const MEASURED: usize = 600;
    let mut frames = match looped_ntu_frames(WARM_UP + MEASURED) {
        Ok(frames) => frames,
        Err(why) => return skip(name, &why),
    };
    if reconstruction {
        for frame in frames.iter_mut().step_by(3) {
            for body in frame.bodies.iter_mut() {
                body.joints[7].confidence = 0;
            }
        }
    }
    let messages: Vec<Message> = frames.into_iter().map(Message::Frame).collect();
    let stream = encode_stream(&messages);
    let split = encode_stream(&messages[..WARM_UP]).len();

    const T: usize = 32;
    const CLASSES: usize = 5;
    let frontend = Frontend::<4, 64>::new(
        FrontendConfig {
            min_confidence: 1,
            grid: skelact_runtime::resample::GridConfig::default(),
            tracks: TrackConfig::for_frames(64),
            window: WindowConfig::default(),
            preprocess: PreprocessConfig { frames_out: T, streams: Streams::ALL, ..PreprocessConfig::default() },
        },
        SourceFormat::MODEL,
    )
    .unwrap();
    let engine = || TestEngine::new(tensor_len(T), CLASSES, 10000.0);
    let engines =
        StreamEngines { joint: engine(), bone: Some(engine()), motion: Some(engine()), weights: [0.5, 0.5, 0.5] };
    let actions = [1, 2, 3, 4, 5];
    let decision = DecisionConfig { min_duration_us: 0, ..DecisionConfig::default() };
    let classifier = Classifier::<_, 512, 4, 64>::new(engines, Head::Logits, decision, &actions).unwrap();
    let mut tensors = vec![0.0f32; 3 * tensor_len(T) + mask_len(T)];
    let mut rec_input = vec![0.0f32; reconstruct::input_len(T)];
    let mut pipeline: Pipeline<'_, TestEngine> = Pipeline::new(frontend, classifier, &mut tensors).unwrap();
    if reconstruction {
        let policy = ReconstructionPolicy::new(ReconstructionMode::On, 0.0).unwrap();
        let model = TestEngine::new(reconstruct::input_len(T), tensor_len(T), 1.0);
        let rec = Reconstruction::new(model, policy, T, &mut rec_input).unwrap();
        pipeline = pipeline.with_reconstruction(rec).unwrap();
    }
    let mut decoder: Decoder = Decoder::new();
    let mut event_bytes = [0u8; MAX_PACKET_LEN + 1];
    let mut events = 0u32;

    let mut run = |bytes: &[u8], pipeline: &mut Pipeline<'_, TestEngine>| {
        for chunk in bytes.chunks(512) {
            let mut input = chunk;
            while let Some(outcome) = decoder.decode_next(&mut input) {
                let message = outcome.expect("clean stream");
                pipeline.on_message(message, |event| {
                    events += 1;
                    let _ = encode_packet(&Message::Event(event), &mut event_bytes);
                });
            }
        }
    };
    run(&stream[..split], &mut pipeline);
    let windows_before = pipeline.classifier.windows_run();
    let ((), allocations) = counting(|| run(&stream[split..], &mut pipeline));
    let windows = pipeline.classifier.windows_run() - windows_before;

    assert!(windows >= 50, "the measured part must classify many windows, ran {windows}");
    assert!(events > 0, "the measured part must emit events, so that the event path is measured too");
    assert_eq!(pipeline.counters().windows_failed, 0, "{:?}", pipeline.last_error());
    let rec = pipeline.counters().reconstruction;
    if reconstruction {
        assert!(rec.windows_reconstructed >= 50, "REC must run on many windows: {rec:?}");
        assert_eq!(rec.reconstructions_failed, 0);
    } else {
        assert_eq!(rec.windows_reconstructed, 0);
    }
    assert_eq!(allocations, 0, "{allocations} heap allocations over {MEASURED} frames and {windows} windows");
    eprintln!(
        "{MEASURED} frames, {windows} windows ({} reconstructed), {events} events, 0 allocations",
        rec.windows_reconstructed
    );
}
