//! REC end to end on the device's path: a bundle carrying the committed tiny reconstruction model
//! (`tests/fixtures/reconstruction/tiny_rec.onnx`, T = 8) is opened like any bundle, its model loaded on tract, and
//! windows with missing joints go through the runtime's `Pipeline` with it. The encoder is a stand-in that records
//! what it is given, so that the test sees the window the encoder classifies.

use std::cell::RefCell;
use std::rc::Rc;

use skelact_device::model::{BackendChoice, BundleFile, DeviceEngine, EngineOptions, LoadedModel, OverlayChoice};
use skelact_runtime::bundle::{
    BundleWriter, DecisionParams, EncoderFamily, HeadSpec, Label, Manifest, PreprocessParams, SectionKind, StreamKind,
    StreamModel, TensorSpec, ValidationSummary, WindowParams,
};
use skelact_runtime::decision::DecisionConfig;
use skelact_runtime::engine::{Engine, EngineError, TestEngine};
use skelact_runtime::layout::SourceFormat;
use skelact_runtime::pipeline::{Classifier, Frontend, Head, Pipeline, StreamEngines};
use skelact_runtime::preprocess::{mask_len, tensor_len};
use skelact_runtime::reconstruct::{self, Reconstruction, ReconstructionMode, ReconstructionPolicy};
use skelact_runtime::wire::{Body, Frame, Joint, LayoutId, Message};

const FRAMES_OUT: usize = 8;
const RAW_FRAMES: usize = 16;

fn fixture_onnx() -> Vec<u8> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/reconstruction/tiny_rec.onnx");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A logits bundle for T = 8 whose encoder section is a stand-in (the test runs its own encoder), with the tiny
/// reconstruction model, default threshold 0.05.
fn bundle_with_reconstruction(dir: &std::path::Path) -> std::path::PathBuf {
    let mut writer = BundleWriter::new();
    let encoder = writer.add(SectionKind::OnnxFp32, b"the test's encoder runs in the test").unwrap();
    writer.add_reconstruction(&fixture_onnx(), FRAMES_OUT as u32, 0.05).unwrap();
    let t = FRAMES_OUT as u32;
    let manifest = Manifest {
        model_name: "rec-test",
        encoder: EncoderFamily::Hcn,
        layout: LayoutId::KinectV2,
        bodies: 2,
        preprocess: PreprocessParams { frames_out: t, crop_ratio: 1.0, align: false },
        window: WindowParams {
            raw_frames: RAW_FRAMES as u32,
            stride_frames: 4,
            min_frames: 8,
            max_gap_frames: 10,
            timeout_us: 1_000_000,
            partner_max_distance_m: 1.5,
            min_confidence: 1,
        },
        streams: heapless::Vec::from_slice(&[StreamModel {
            stream: StreamKind::Joint,
            weight: 1.0,
            onnx_fp32: Some(encoder),
            onnx_fp16: None,
            onnx_int8: None,
        }])
        .unwrap(),
        input: TensorSpec { name: "x", shape: heapless::Vec::from_slice(&[1, 3, t, 25, 2]).unwrap() },
        output: TensorSpec { name: "y", shape: heapless::Vec::from_slice(&[1, 2]).unwrap() },
        head: HeadSpec::Logits,
        labels: [Label { name: "a", action_id: 1 }, Label { name: "b", action_id: 2 }].into_iter().collect(),
        decision: DecisionParams::from(DecisionConfig::default()),
        tensorrt: heapless::Vec::new(),
        checkpoint_sha256: [0; 32],
        validation: ValidationSummary { report_sha256: [0; 32], section: None, variants: heapless::Vec::new() },
    };
    let bytes = writer.finish(&manifest).unwrap();
    let path = dir.join("rec-test.skb");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Every input an engine was given, in order.
type Seen = Rc<RefCell<Vec<Vec<f32>>>>;

/// The reconstruction model on tract, or the stand-in encoder; both record their inputs.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // two engines, made once per test
enum TestModel {
    Rec(DeviceEngine, Seen),
    Encoder(TestEngine, Seen),
}

impl Engine for TestModel {
    fn input_len(&self) -> usize {
        match self {
            TestModel::Rec(e, _) => e.input_len(),
            TestModel::Encoder(e, _) => e.input_len(),
        }
    }
    fn output_len(&self) -> usize {
        match self {
            TestModel::Rec(e, _) => e.output_len(),
            TestModel::Encoder(e, _) => e.output_len(),
        }
    }
    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError> {
        match self {
            TestModel::Rec(e, seen) => {
                seen.borrow_mut().push(input.to_vec());
                e.run(input, output)
            }
            TestModel::Encoder(e, seen) => {
                seen.borrow_mut().push(input.to_vec());
                e.run(input, output)
            }
        }
    }
}

/// One body walking slowly; from frame 6 on, its left arm (joints 4-7, 21, 22) is lost: confidence 0.
fn frames() -> Vec<Frame> {
    (0..24u32)
        .map(|sequence| {
            let mut body = Body { id: 7, joints: heapless::Vec::new() };
            for j in 0..25u32 {
                let lost = sequence >= 6 && [4, 5, 6, 7, 21, 22].contains(&j);
                let joint = Joint {
                    x: 0.02 * sequence as f32 + (j % 5) as f32 * 0.1,
                    y: 0.9 - j as f32 * 0.06 + 0.01 * (sequence as f32 * 0.7).sin(),
                    z: 2.5 + (j % 3) as f32 * 0.05,
                    confidence: if lost { 0 } else { 255 },
                };
                body.joints.push(joint).unwrap();
            }
            let mut frame =
                Frame { sequence, timestamp_us: u64::from(sequence) * 33_333, bodies: heapless::Vec::new() };
            frame.bodies.push(body).unwrap();
            frame
        })
        .collect()
}

struct Run {
    encoder_inputs: Vec<Vec<f32>>,
    rec_inputs: Vec<Vec<f32>>,
    counters: skelact_runtime::pipeline::PipelineCounters,
}

/// Plays the frames through a pipeline built from the bundle, with REC under `policy` (or none).
fn play(model: &LoadedModel, policy: Option<ReconstructionPolicy>) -> Run {
    let (encoder_seen, rec_seen): (Seen, Seen) = Default::default();
    let n = tensor_len(FRAMES_OUT);
    let encoder = TestModel::Encoder(TestEngine::new(n, 2, 1.0), encoder_seen.clone());
    let engines = StreamEngines { joint: encoder, bone: None, motion: None, weights: [1.0, 0.0, 0.0] };
    let manifest = model.bundle.manifest();
    let classifier: Classifier<'_, TestModel> =
        Classifier::new(engines, Head::Logits, manifest.decision_config(), &manifest.action_ids()).unwrap();
    let frontend = Frontend::<4, RAW_FRAMES>::with_history(
        manifest.frontend_config(RAW_FRAMES).unwrap(),
        SourceFormat::MODEL,
        RAW_FRAMES,
    )
    .unwrap();
    let mut tensors = vec![0.0f32; 3 * n + mask_len(FRAMES_OUT)];
    let mut rec_input = vec![0.0f32; reconstruct::input_len(FRAMES_OUT)];
    let pipeline = Pipeline::new(frontend, classifier, &mut tensors).unwrap();
    let mut pipeline = match policy {
        Some(policy) => {
            let options = EngineOptions { backend: BackendChoice::Tract, ..EngineOptions::default() };
            let engine = model.reconstruction_engine_on(&options, BackendChoice::Tract).unwrap().expect("a REC model");
            assert_eq!(engine.backend_name(), "tract");
            let rec = Reconstruction::new(TestModel::Rec(engine, rec_seen.clone()), policy, FRAMES_OUT, &mut rec_input)
                .unwrap();
            pipeline.with_reconstruction(rec).unwrap()
        }
        None => pipeline,
    };
    for frame in frames() {
        pipeline.on_message(&Message::Frame(frame), |_| {});
    }
    assert_eq!(pipeline.last_error(), None);
    let counters = pipeline.counters();
    drop(pipeline);
    let encoder_inputs = encoder_seen.borrow().clone();
    let rec_inputs = rec_seen.borrow().clone();
    Run { encoder_inputs, rec_inputs, counters }
}

#[test]
fn windows_with_missing_joints_are_reconstructed_before_the_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let file = BundleFile::read(&bundle_with_reconstruction(dir.path())).unwrap();
    let model = LoadedModel::open(&file, &OverlayChoice::Ignore).unwrap();
    let spec = model.bundle.reconstruction().unwrap();
    assert_eq!((spec.frames, spec.threshold), (FRAMES_OUT as u32, 0.05));

    let interpolated = play(&model, None);
    let on = ReconstructionPolicy::new(ReconstructionMode::On, 0.05).unwrap();
    let reconstructed = play(&model, Some(on));
    let windows = interpolated.encoder_inputs.len();
    assert!(windows >= 3, "{windows} windows");
    assert_eq!(reconstructed.encoder_inputs.len(), windows);

    let (n, m) = (tensor_len(FRAMES_OUT), mask_len(FRAMES_OUT));
    // The first window (frames 0-7) already lost the arm from frame 6 on; every window has missing joints.
    assert_eq!(reconstructed.rec_inputs.len(), windows);
    let mut changed = 0;
    for (w, rec_input) in reconstructed.rec_inputs.iter().enumerate() {
        let (joint, mask) = rec_input.split_at(n);
        // REC is given the interpolated window and its mask.
        assert_eq!(joint, interpolated.encoder_inputs[w].as_slice(), "window {w}: REC's joint input");
        assert!(mask.iter().all(|&x| x == 0.0 || x == 1.0) && mask.contains(&1.0), "window {w}: the mask");
        let completed = &reconstructed.encoder_inputs[w];
        for i in 0..n {
            if mask[i % m] == 0.0 {
                assert_eq!(completed[i].to_bits(), joint[i].to_bits(), "window {w}, entry {i}: observed, kept");
            } else if completed[i] != joint[i] {
                changed += 1;
            }
        }
        assert!(completed.iter().all(|x| x.is_finite()));
    }
    assert!(changed > 0, "REC changed no missing entry");
    let rec = reconstructed.counters.reconstruction;
    assert_eq!(
        (rec.windows_with_missing, rec.windows_reconstructed, rec.reconstructions_failed),
        (windows as u32, windows as u32, 0)
    );
    let none = interpolated.counters.reconstruction;
    assert_eq!((none.windows_with_missing, none.windows_reconstructed), (windows as u32, 0));

    // In auto, above the threshold: the lost arm is 6 of 25 joints in part of the window.
    let auto = play(&model, Some(model.reconstruction_policy(ReconstructionMode::Auto, None).unwrap()));
    assert_eq!(auto.counters.reconstruction.windows_reconstructed, windows as u32);
    assert_eq!(auto.encoder_inputs, reconstructed.encoder_inputs, "the model is deterministic");
    // A threshold above every window's missing fraction, or off: counted as missing, not reconstructed.
    for policy in [
        model.reconstruction_policy(ReconstructionMode::Auto, Some(0.99)).unwrap(),
        model.reconstruction_policy(ReconstructionMode::Off, None).unwrap(),
    ] {
        let run = play(&model, Some(policy));
        assert!(run.rec_inputs.is_empty());
        assert_eq!(run.encoder_inputs, interpolated.encoder_inputs);
        let counters = run.counters.reconstruction;
        assert_eq!((counters.windows_with_missing, counters.windows_reconstructed), (windows as u32, 0));
    }
}

#[test]
fn a_bundle_without_a_reconstruction_model_has_none_and_the_threshold_comes_from_the_configuration() {
    let default = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/zoo/default.skb");
    let file = BundleFile::read(&default).unwrap();
    let model = LoadedModel::open(&file, &OverlayChoice::Ignore).unwrap();
    if model.bundle.reconstruction().is_none() {
        let options = EngineOptions { backend: BackendChoice::Tract, ..EngineOptions::default() };
        assert!(model.reconstruction_engine_on(&options, BackendChoice::Tract).unwrap().is_none());
        let policy = model.reconstruction_policy(ReconstructionMode::Auto, None).unwrap();
        assert_eq!(policy.threshold(), reconstruct::DEFAULT_THRESHOLD);
    }
    let policy = model.reconstruction_policy(ReconstructionMode::On, Some(0.3)).unwrap();
    assert_eq!((policy.mode(), policy.threshold()), (ReconstructionMode::On, 0.3));
    let error = model.reconstruction_policy(ReconstructionMode::Auto, Some(2.0)).unwrap_err().to_string();
    assert!(error.contains("reconstruction threshold 2 is not a missing fraction in 0..=1"), "{error}");
}
