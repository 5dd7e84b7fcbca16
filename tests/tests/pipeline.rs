//! End-to-end behaviour of the runtime pipeline on a scripted session: bytes in, events out.
//!
//! The engine here is a hand-written rule ("right hand above the head" → label 1, else label 0) rather than a
//! network, so that the expected events are known exactly; the real networks are tested in the board crate.

use skelact_runtime::decision::DecisionConfig;
use skelact_runtime::engine::{check_lengths, Engine, EngineError};
use skelact_runtime::heapless;
use skelact_runtime::layout::SourceFormat;
use skelact_runtime::pipeline::{Classifier, Frontend, FrontendConfig, Head, Pipeline, PipelineError, StreamEngines};
use skelact_runtime::preprocess::{tensor_index, tensor_len, PreprocessConfig};
use skelact_runtime::skeleton::joint;
use skelact_runtime::track::TrackConfig;
use skelact_runtime::window::WindowConfig;
use skelact_runtime::wire::{Body, Decoder, Event, EventPhase, Frame, Joint, Message};
use skelact_tests::stream::encode_stream;

const T: usize = 16;

/// Logit 1 is how far the right hand is above the head in the newest frame of body 0; logit 0 its negative.
struct HandRaisedRule;

impl Engine for HandRaisedRule {
    fn input_len(&self) -> usize {
        tensor_len(T)
    }
    fn output_len(&self) -> usize {
        2
    }
    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError> {
        check_lengths(self, input, output)?;
        let y = |v| input[tensor_index(T, 1, T - 1, v, 0)];
        let above = (y(joint::HAND_RIGHT) - y(joint::HEAD)) * 50.0;
        output.copy_from_slice(&[-above, above]);
        Ok(())
    }
}

/// One body standing 2.5 m away; its right hand is raised during frames `raised`.
fn session(frames: u32, raised: std::ops::Range<u32>) -> Vec<Message> {
    (0..frames)
        .map(|i| {
            let mut body = Body { id: 42, joints: heapless::Vec::new() };
            for j in 0..25 {
                // Joints stacked along y by index, head at 0.5 m; the right hand goes to 0.8 m when raised.
                let mut y = 0.5 - (j as f32) * 0.04;
                if j == joint::HEAD {
                    y = 0.5;
                }
                if j == joint::HAND_RIGHT && raised.contains(&i) {
                    y = 0.8;
                }
                body.joints.push(Joint { x: j as f32 * 0.01, y, z: 2.5, confidence: 255 }).unwrap();
            }
            let mut frame = Frame { sequence: i, timestamp_us: u64::from(i) * 33_333, bodies: heapless::Vec::new() };
            frame.bodies.push(body).unwrap();
            Message::Frame(frame)
        })
        .collect()
}

fn frontend() -> Frontend<4, 32> {
    let config = FrontendConfig {
        min_confidence: 1,
        grid: skelact_runtime::resample::GridConfig::default(),
        tracks: TrackConfig { stride_frames: 4, min_frames: 8, ..TrackConfig::for_frames(32) },
        window: WindowConfig::default(),
        preprocess: PreprocessConfig { frames_out: T, ..PreprocessConfig::default() },
    };
    Frontend::new(config, SourceFormat::MODEL).unwrap()
}

fn run_session(messages: &[Message], chunk: usize) -> Vec<Event> {
    let engines = StreamEngines { joint: HandRaisedRule, bone: None, motion: None, weights: [1.0, 0.0, 0.0] };
    let decision = DecisionConfig { min_duration_us: 300_000, ..DecisionConfig::default() };
    let classifier = Classifier::<_, 512, 4, 64>::new(engines, Head::Logits, decision, &[100, 101]).unwrap();
    let mut tensors = vec![0.0; 3 * tensor_len(T)];
    let mut pipeline: Pipeline<'_, _, 4, 32> = Pipeline::new(frontend(), classifier, &mut tensors).unwrap();
    let mut decoder: Decoder = Decoder::new();
    let mut events = Vec::new();
    for piece in encode_stream(messages).chunks(chunk) {
        let mut input = piece;
        while let Some(outcome) = decoder.decode_next(&mut input) {
            pipeline.on_message(outcome.unwrap(), |e| events.push(e));
        }
    }
    assert_eq!(pipeline.counters().windows_failed, 0, "{:?}", pipeline.last_error());
    events
}

#[test]
fn raising_the_hand_gives_one_segment_with_sensible_times() {
    // Hand raised from 2 s to 4 s of a 7 s session.
    let events = run_session(&session(210, 60..120), 333);
    let hand: Vec<&Event> = events.iter().filter(|e| e.action_id == 101).collect();
    eprintln!("{events:?}");
    assert_eq!(hand.len(), 2, "one Begin and one End for the raised hand, got {events:#?}");
    let (begin, end) = (hand[0], hand[1]);
    assert_eq!((begin.phase, end.phase), (EventPhase::Begin, EventPhase::End));
    assert_eq!(begin.body_id, 42);
    assert_eq!(begin.start_us, end.start_us);
    // Windows come every 4 frames (133 ms); smoothing over three windows adds at most a few more.
    let tolerance = 400_000;
    assert!(end.start_us.abs_diff(2_000_000) <= tolerance, "segment starts at {} µs", end.start_us);
    assert!(end.end_us.abs_diff(4_000_000) <= tolerance, "segment ends at {} µs", end.end_us);
    assert!(begin.end_us >= begin.start_us + 300_000, "Begin waits for the minimum duration");
}

#[test]
fn read_sizes_do_not_change_the_events() {
    let messages = session(150, 30..90);
    let reference = run_session(&messages, 4096);
    assert!(!reference.is_empty());
    for chunk in [1, 7, 64, 1000] {
        assert_eq!(run_session(&messages, chunk), reference, "chunk size {chunk}");
    }
}

#[test]
fn a_body_that_leaves_closes_its_segment() {
    // The hand is raised until the body disappears at frame 90; the track times out one second later.
    let mut messages = session(90, 30..90);
    for i in 90..150u32 {
        let frame = Frame { sequence: i, timestamp_us: u64::from(i) * 33_333, bodies: heapless::Vec::new() };
        messages.push(Message::Frame(frame));
    }
    let events = run_session(&messages, 512);
    let phases: Vec<EventPhase> = events.iter().filter(|e| e.action_id == 101).map(|e| e.phase).collect();
    assert_eq!(phases, [EventPhase::Begin, EventPhase::End], "{events:#?}");
}

#[test]
fn mismatched_parts_are_refused_at_construction() {
    let wrong_labels = StreamEngines { joint: HandRaisedRule, bone: None, motion: None, weights: [1.0, 0.0, 0.0] };
    let refused = Classifier::<_, 512, 4, 64>::new(wrong_labels, Head::Logits, DecisionConfig::default(), &[1, 2, 3]);
    assert!(matches!(refused, Err(PipelineError::Config(_))));

    // An engine whose input is not the preprocessing tensor.
    let engines = StreamEngines { joint: HandRaisedRule, bone: None, motion: None, weights: [1.0, 0.0, 0.0] };
    let classifier =
        Classifier::<_, 512, 4, 64>::new(engines, Head::Logits, DecisionConfig::default(), &[1, 2]).unwrap();
    let config = FrontendConfig {
        min_confidence: 1,
        grid: skelact_runtime::resample::GridConfig::default(),
        tracks: TrackConfig::for_frames(32),
        window: WindowConfig::default(),
        preprocess: PreprocessConfig { frames_out: T + 1, ..PreprocessConfig::default() },
    };
    let other_t = Frontend::<4, 32>::new(config, SourceFormat::MODEL).unwrap();
    let mut tensors = vec![0.0; 3 * tensor_len(T + 1)];
    assert!(matches!(Pipeline::new(other_t, classifier, &mut tensors), Err(PipelineError::Config(_))));
}
