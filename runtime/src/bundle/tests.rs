//! Bundle tests: a round trip with every manifest field set, each refusal produced from a valid bundle, the
//! conversions a device uses, and property tests that no input panics the reader.

// Tests may panic on a broken invariant: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

extern crate std;

use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use heapless::Vec as HVec;
use proptest::prelude::*;

use super::*;
use crate::decision::DecisionConfig;
use crate::engine::TestEngine;
use crate::head::HeadError;
use crate::layout::SourceFormat;
use crate::pipeline::{Classifier, Frontend, Head, Pipeline, StreamEngines};
use crate::preprocess::{self, Streams};
use crate::track::TrackConfig;
use crate::window::WindowConfig;
use crate::wire::{Body, Frame, Joint, LayoutId, Message};

const T: u32 = 16;
const DIM: u32 = 8;
const RAW_FRAMES: u32 = 32;

const TRT_10_3: TensorRtVersion = TensorRtVersion { major: 10, minor: 3, patch: 0, build: 30 };
const ORIN: ComputeCapability = ComputeCapability { major: 8, minor: 7 };
const XAVIER: ComputeCapability = ComputeCapability { major: 7, minor: 2 };

fn labels() -> HVec<Label<'static>, MAX_LABELS> {
    [("drink water", 1), ("eat meal", 2), ("stand up", 9), ("hand waving", 23)]
        .into_iter()
        .map(|(name, action_id)| Label { name, action_id })
        .collect()
}

fn shape(dims: &[u32]) -> HVec<u32, MAX_SHAPE_RANK> {
    HVec::from_slice(dims).unwrap()
}

/// Deterministic, distinct payload bytes whose lengths are not multiples of 16 (so padding is exercised).
fn payload(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| tag.wrapping_mul(31).wrapping_add(i as u8)).collect()
}

fn values(count: usize, seed: f32) -> Vec<f32> {
    (0..count).map(|i| libm::sinf(seed + i as f32 * 0.37)).collect()
}

/// Unit-length rows (prototype exemplars must be normalised).
fn unit_rows(rows: usize, dim: usize, seed: f32) -> Vec<f32> {
    let mut v = values(rows * dim, seed);
    for row in v.chunks_mut(dim) {
        let norm = libm::sqrtf(row.iter().map(|x| x * x).sum::<f32>());
        row.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// A manifest with the given head and streams and every other field set to a non-default value.
fn manifest(head: HeadSpec, streams: &[StreamModel]) -> Manifest<'static> {
    let output_len = match head {
        HeadSpec::Logits => 4,
        HeadSpec::Linear { dim, .. } | HeadSpec::Prototype { dim, .. } | HeadSpec::Text { dim, .. } => dim,
    };
    Manifest {
        model_name: "stars-tiny-ntu60",
        encoder: EncoderFamily::StarsTransformer,
        layout: LayoutId::KinectV2,
        bodies: 2,
        preprocess: PreprocessParams { frames_out: T, crop_ratio: 0.9, align: true },
        window: WindowParams {
            raw_frames: RAW_FRAMES,
            stride_frames: 4,
            min_frames: 12,
            max_gap_frames: 6,
            timeout_us: 750_000,
            partner_max_distance_m: 1.25,
            min_confidence: 2,
        },
        streams: HVec::from_slice(streams).unwrap(),
        input: TensorSpec { name: "skeleton", shape: shape(&[1, 3, T, 25, 2]) },
        output: TensorSpec { name: "embedding", shape: shape(&[1, output_len]) },
        head,
        labels: labels(),
        decision: DecisionParams {
            smoothing_windows: 2,
            enter_threshold: 0.55,
            exit_threshold: 0.35,
            switch_margin: 0.05,
            min_duration_us: 200_000,
            cooldown_us: 400_000,
            unknown_threshold: 0.3,
            emit_unknown: true,
        },
        tensorrt: HVec::new(),
        checkpoint_sha256: core::array::from_fn(|i| (i as u8).wrapping_mul(7)),
        validation: ValidationSummary {
            report_sha256: core::array::from_fn(|i| 0xA0 ^ i as u8),
            section: None,
            variants: HVec::new(),
        },
    }
}

fn joint_only(onnx_fp32: u16) -> StreamModel {
    StreamModel { stream: StreamKind::Joint, weight: 1.0, onnx_fp32: Some(onnx_fp32), onnx_fp16: None, onnx_int8: None }
}

/// The full bundle: three streams in three precisions, two TensorRT engines, a linear head with bias and a
/// validation summary. Returns the bytes, the manifest and the payloads by section index.
fn full() -> (Vec<u8>, Manifest<'static>, Vec<Vec<u8>>) {
    let mut writer = BundleWriter::new();
    let mut payloads = vec![Vec::new()]; // section 0 is the manifest
    let mut add = |writer: &mut BundleWriter, kind: SectionKind, bytes: Vec<u8>| {
        let index = writer.add(kind, &bytes).unwrap();
        assert_eq!(index as usize, payloads.len());
        payloads.push(bytes);
        index
    };
    let mut streams = Vec::new();
    for (n, (stream, weight)) in
        [(StreamKind::Joint, 0.6), (StreamKind::Bone, 0.3), (StreamKind::Motion, 0.1)].into_iter().enumerate()
    {
        let tag = 10 * n as u8;
        streams.push(StreamModel {
            stream,
            weight,
            onnx_fp32: Some(add(&mut writer, SectionKind::OnnxFp32, payload(tag, 301 + n))),
            onnx_fp16: Some(add(&mut writer, SectionKind::OnnxFp16, payload(tag + 1, 157 + n))),
            onnx_int8: Some(add(&mut writer, SectionKind::OnnxInt8, payload(tag + 2, 99 + n))),
        });
    }
    let engine_orin = add(&mut writer, SectionKind::TensorRtEngine, payload(90, 515));
    let engine_xavier = add(&mut writer, SectionKind::TensorRtEngine, payload(91, 77));
    let weights = values(4 * DIM as usize + 4, 0.5);
    let linear = add(&mut writer, SectionKind::LinearHead, weights.iter().flat_map(|v| v.to_le_bytes()).collect());
    let summary = add(
        &mut writer,
        SectionKind::ValidationSummary,
        br#"{"variants":{"onnxruntime-int8":{"top1_agreement":0.99}}}"#.to_vec(),
    );

    let mut m = manifest(HeadSpec::Linear { section: linear, dim: DIM, bias: true }, &streams);
    let trt = |section, precision, cc| TensorRtEngine {
        stream: StreamKind::Joint,
        precision,
        section,
        tensorrt: TRT_10_3,
        compute_capability: cc,
    };
    m.tensorrt.push(trt(engine_xavier, Precision::Fp16, XAVIER)).unwrap();
    m.tensorrt.push(trt(engine_orin, Precision::Int8, ORIN)).unwrap();
    m.validation.section = Some(summary);
    let figures = |variant, top1_agreement, cosine_min, cosine_mean, accuracy| VariantFigures {
        variant,
        top1_agreement,
        cosine_min,
        cosine_mean,
        accuracy,
    };
    m.validation.variants.push(figures("pytorch-fp32", 1.0, 1.0, 1.0, 0.8125)).unwrap();
    m.validation.variants.push(figures("tract-fp32", 1.0, 0.99995, 0.99999, 0.8125)).unwrap();
    m.validation.variants.push(figures("onnxruntime-int8", 0.99, 0.9941, 0.9987, 0.8047)).unwrap();
    let bytes = writer.finish(&m).unwrap();
    (bytes, m, payloads)
}

/// Raw sections of a bundle, for rebuilding it with one thing changed.
fn raw_sections(bytes: &[u8]) -> Vec<(u32, Vec<u8>)> {
    Bundle::parse(bytes).unwrap().sections().map(|s| (s.kind_code, s.payload.to_vec())).collect()
}

/// The bundle `bytes` with its manifest replaced by `manifest`, unchecked, so the reader meets what it says.
fn with_manifest(bytes: &[u8], manifest: &Manifest<'_>) -> Vec<u8> {
    with_manifest_bytes(bytes, &postcard::to_allocvec(manifest).unwrap())
}

fn with_manifest_bytes(bytes: &[u8], manifest_bytes: &[u8]) -> Vec<u8> {
    let mut sections = raw_sections(bytes);
    sections[0].1 = manifest_bytes.to_vec();
    reassemble(FORMAT_MINOR, &sections)
}

fn reassemble(minor: u16, sections: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let refs: Vec<(u32, &[u8])> = sections.iter().map(|(k, p)| (*k, p.as_slice())).collect();
    assemble(FORMAT_MAJOR, minor, &refs)
}

fn parse_error(bytes: &[u8]) -> BundleError {
    Bundle::parse(bytes).expect_err("the bundle should have been refused")
}

fn write_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn write_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

fn entry_at(index: usize) -> usize {
    HEADER_LEN + index * TABLE_ENTRY_LEN
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

// ---------------------------------------------------------------------------------------------------------------
// Round trip and layout

#[test]
fn round_trip_keeps_every_field_and_payload() {
    let (bytes, manifest, payloads) = full();
    let aligned = AlignedBytes::copy_from(&bytes);
    let bundle = Bundle::open(aligned.as_bytes(), LayoutId::KinectV2).unwrap();
    assert_eq!(bundle.manifest(), &manifest);
    assert_eq!(bundle.format_version(), (FORMAT_MAJOR, FORMAT_MINOR));
    assert_eq!(bundle.section_count() as usize, payloads.len());
    for section in bundle.sections().skip(1) {
        assert_eq!(section.payload, payloads[section.index as usize].as_slice(), "section {}", section.index);
    }
    assert_eq!(bundle.section(0).unwrap().kind(), Some(SectionKind::Manifest));
    assert_eq!(bundle.checksum().as_slice(), &bytes[bytes.len() - TRAILER_LEN..]);
    for stream in &manifest.streams {
        for precision in [Precision::Fp32, Precision::Fp16, Precision::Int8] {
            let index = stream.onnx(precision).unwrap();
            assert_eq!(bundle.onnx(stream.stream, precision).unwrap(), payloads[index as usize].as_slice());
        }
    }
    assert_eq!(bundle.validation_summary().unwrap(), r#"{"variants":{"onnxruntime-int8":{"top1_agreement":0.99}}}"#);
    assert_eq!(bundle.manifest().precisions(), PrecisionSet { fp32: true, fp16: true, int8: true });
}

#[test]
fn layout_is_the_documented_one() {
    let (bytes, _, payloads) = full();
    assert_eq!(&bytes[..8], b"\x89SKB\r\n\x1a\n");
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 1);
    assert_eq!(u16::from_le_bytes([bytes[10], bytes[11]]), 5);
    let count = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    assert_eq!(count, payloads.len());
    assert_eq!(read_u64(&bytes, 16), bytes.len() as u64);
    assert_eq!(&bytes[24..32], &[0; 8]);
    let table_end = entry_at(count);
    let mut previous_end = table_end as u64;
    for (index, expected_payload) in payloads.iter().enumerate() {
        let at = entry_at(index);
        let kind = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!(&bytes[at + 4..at + 8], &[0; 4]);
        let (offset, length) = (read_u64(&bytes, at + 8), read_u64(&bytes, at + 16));
        assert_eq!(offset % 16, 0);
        // The writer packs payloads: each starts at the next multiple of 16 after the previous one.
        assert_eq!(offset, previous_end.div_ceil(16) * 16);
        assert!(bytes[previous_end as usize..offset as usize].iter().all(|&b| b == 0), "padding is zero");
        previous_end = offset + length;
        if index == 0 {
            assert_eq!(kind, 1);
        } else {
            assert_eq!(&bytes[offset as usize..(offset + length) as usize], expected_payload.as_slice());
        }
    }
    assert_eq!(previous_end as usize, bytes.len() - TRAILER_LEN);
    use sha2::{Digest, Sha256};
    assert_eq!(Sha256::digest(&bytes[..bytes.len() - 32]).as_slice(), &bytes[bytes.len() - 32..]);
}

#[test]
fn manifest_encoding_is_postcard_in_field_order() {
    let (bytes, manifest, _) = full();
    let bundle = Bundle::parse(&bytes).unwrap();
    let encoded = bundle.section(0).unwrap().payload;
    // The model name comes first: its length as a varint, then its UTF-8 bytes; then the encoder family index.
    assert_eq!(encoded[0] as usize, manifest.model_name.len());
    assert_eq!(&encoded[1..1 + manifest.model_name.len()], manifest.model_name.as_bytes());
    assert_eq!(encoded[1 + manifest.model_name.len()], 0, "StarsTransformer is variant 0");
    // Since 1.1 the manifest's extension follows it: the version, a varint (0 here); since 1.2 the time base, the
    // model's rate in millihertz as a varint (30 000 = b0 ea 01); since 1.3 the reconstruction model, an Option
    // (00: none); since 1.4 the text encoder, an Option (00: none); since 1.5 TDSM's scorer, an Option (00: none).
    let mut expected = postcard::to_allocvec(&manifest).unwrap();
    expected.extend_from_slice(&[0, 0xb0, 0xea, 0x01, 0x00, 0x00, 0x00]);
    assert_eq!(encoded, expected.as_slice());
}

// ---------------------------------------------------------------------------------------------------------------
// Conversions for the device

#[test]
fn manifest_converts_to_the_pipeline_configs() {
    let (bytes, _, _) = full();
    let bundle = Bundle::parse(&bytes).unwrap();
    let m = bundle.manifest();
    let frontend = m.frontend_config(RAW_FRAMES as usize).unwrap();
    assert_eq!(frontend.min_confidence, 2);
    assert_eq!(
        frontend.tracks,
        TrackConfig { max_gap_frames: 6, timeout_us: 750_000, stride_frames: 4, min_frames: 12 }
    );
    assert_eq!(frontend.window, WindowConfig { partner_max_distance_m: 1.25 });
    assert_eq!(frontend.preprocess.frames_out, T as usize);
    assert_eq!(frontend.preprocess.crop_ratio, 0.9);
    assert!(frontend.preprocess.align);
    assert_eq!(frontend.preprocess.streams, Streams::ALL);
    assert_eq!(
        m.decision_config(),
        DecisionConfig {
            smoothing_windows: 2,
            enter_threshold: 0.55,
            exit_threshold: 0.35,
            switch_margin: 0.05,
            min_duration_us: 200_000,
            cooldown_us: 400_000,
            unknown_threshold: 0.3,
            emit_unknown: true,
        }
    );
    assert_eq!(DecisionParams::from(m.decision_config()), m.decision);
    assert_eq!(m.action_ids().as_slice(), &[1, 2, 9, 23]);
    assert_eq!(m.fusion_weights(), [0.6, 0.3, 0.1]);
    assert_eq!(m.tensor_len(), preprocess::tensor_len(T as usize));
    assert_eq!(m.output_len(), DIM);
    assert_eq!(m.frontend_config(16).unwrap_err(), BundleError::RingFrames { bundle: RAW_FRAMES, device: 16 });
    assert!(m.frontend_config(300).is_ok(), "a ring with room for longer windows serves this model");
}

/// A moving skeleton in the model layout, every joint tracked.
fn frame(sequence: u32) -> Frame {
    let mut body = Body { id: 7, joints: HVec::new() };
    for v in 0..25 {
        let phase = sequence as f32 * 0.2 + v as f32 * 0.1;
        let joint = Joint { x: 0.1 * libm::sinf(phase), y: v as f32 * 0.05, z: 2.5, confidence: 255 };
        body.joints.push(joint).unwrap();
    }
    let mut bodies = HVec::new();
    bodies.push(body).unwrap();
    Frame { sequence, timestamp_us: u64::from(sequence) * 33_333, bodies }
}

#[test]
fn a_pipeline_is_built_from_a_bundle_alone() {
    let (bytes, _, _) = full();
    let aligned = AlignedBytes::copy_from(&bytes);
    let bundle = Bundle::open(aligned.as_bytes(), LayoutId::KinectV2).unwrap();
    let m = bundle.manifest();

    let frontend = Frontend::<4, { RAW_FRAMES as usize }>::new(
        m.frontend_config(RAW_FRAMES as usize).unwrap(),
        SourceFormat::MODEL,
    )
    .unwrap();
    let engine = || TestEngine::new(m.tensor_len(), m.output_len() as usize, 1.0);
    let engines =
        StreamEngines { joint: engine(), bone: Some(engine()), motion: Some(engine()), weights: m.fusion_weights() };
    let head = bundle.head(ExemplarStorage::none()).unwrap();
    assert!(matches!(head, Head::Linear(_)));
    let classifier = Classifier::new(engines, head, m.decision_config(), &m.action_ids()).unwrap();
    let mut tensors = vec![0.0f32; 3 * m.tensor_len()];
    let mut pipeline: Pipeline<'_, _, 4, { RAW_FRAMES as usize }> =
        Pipeline::new(frontend, classifier, &mut tensors).unwrap();
    for sequence in 0..40 {
        pipeline.on_message(&Message::Frame(frame(sequence)), |_| {});
    }
    assert_eq!(pipeline.last_error(), None);
    assert_eq!(pipeline.counters().windows_failed, 0);
    // The first window is due once 12 frames (min_frames) are held, at sequence 11, then every 4 frames
    // (stride_frames): 11, 15, ..., 39.
    assert_eq!(pipeline.classifier.windows_run(), 8);
}

#[test]
fn linear_head_borrows_the_bundle_weights() {
    let (bytes, _, _) = full();
    let aligned = AlignedBytes::copy_from(&bytes);
    let bundle = Bundle::parse(aligned.as_bytes()).unwrap();
    let head = bundle.linear_head().unwrap().unwrap();
    let weights = values(4 * DIM as usize + 4, 0.5);
    let direct = crate::head::LinearHead::new(&weights[..32], Some(&weights[32..]), 4, DIM as usize).unwrap();
    let embedding = values(DIM as usize, 2.0);
    let (mut a, mut b) = ([0.0; 4], [0.0; 4]);
    head.logits(&embedding, &mut a).unwrap();
    direct.logits(&embedding, &mut b).unwrap();
    assert_eq!(a, b);
    assert!(bundle.text_head().is_none());
}

#[test]
fn float_views_need_an_aligned_buffer() {
    let (bytes, _, _) = full();
    // Place the bundle one byte past a 16-byte boundary: parsing works, viewing floats in place cannot.
    let storage = AlignedBytes::copy_from(&[&[0u8][..], &bytes].concat());
    let shifted = &storage.as_bytes()[1..];
    let bundle = Bundle::parse(shifted).unwrap();
    assert_eq!(bundle.linear_head().unwrap().unwrap_err(), BundleError::UnalignedBuffer);
    assert_eq!(bundle.head(ExemplarStorage::none()).unwrap_err(), BundleError::UnalignedBuffer);
    let realigned = AlignedBytes::copy_from(shifted);
    assert!(Bundle::parse(realigned.as_bytes()).unwrap().linear_head().unwrap().is_ok());
}

fn text_bundle() -> (Vec<u8>, Vec<f32>) {
    let mut writer = BundleWriter::new();
    let onnx = writer.add(SectionKind::OnnxFp32, &payload(3, 64)).unwrap();
    let embeddings = values(4 * DIM as usize, 1.0);
    let section = writer.add_f32(SectionKind::TextEmbeddings, &embeddings).unwrap();
    let head = HeadSpec::Text { section, dim: DIM, temperature: 0.07, min_similarity: 0.2 };
    (writer.finish(&manifest(head, &[joint_only(onnx)])).unwrap(), embeddings)
}

#[test]
fn text_head_comes_from_the_bundle() {
    let (bytes, embeddings) = text_bundle();
    let aligned = AlignedBytes::copy_from(&bytes);
    let bundle = Bundle::parse(aligned.as_bytes()).unwrap();
    let Head::Text { head, min_similarity } = bundle.head(ExemplarStorage::none()).unwrap() else {
        panic!("expected a text head")
    };
    assert_eq!(min_similarity, 0.2);
    assert_eq!((head.labels(), head.dim(), head.temperature()), (4, DIM as usize, 0.07));
    let direct = crate::head::TextPrototypeHead::new(&embeddings, 4, DIM as usize, 0.07).unwrap();
    let query = values(DIM as usize, 3.0);
    let (mut s1, mut p1, mut s2, mut p2) = ([0.0; 4], [0.0; 4], [0.0; 4], [0.0; 4]);
    head.scores(&query, &mut s1, &mut p1).unwrap();
    direct.scores(&query, &mut s2, &mut p2).unwrap();
    assert_eq!((s1, p1), (s2, p2));
}

/// The writer and manifest of a prototype bundle, before `finish`.
fn prototype_parts(exemplar_labels: &[u16]) -> (BundleWriter, Manifest<'static>, Vec<f32>) {
    let mut writer = BundleWriter::new();
    let onnx = writer.add(SectionKind::OnnxInt8, &payload(4, 64)).unwrap();
    let embeddings = unit_rows(exemplar_labels.len(), DIM as usize, 0.25);
    let section = writer.add_prototypes(&embeddings, exemplar_labels).unwrap();
    let head = HeadSpec::Prototype {
        section: Some(section),
        exemplars: exemplar_labels.len() as u32,
        dim: DIM,
        k: 3,
        min_similarity: 0.5,
    };
    let stream =
        StreamModel { stream: StreamKind::Joint, weight: 1.0, onnx_fp32: None, onnx_fp16: None, onnx_int8: Some(onnx) };
    (writer, manifest(head, &[stream]), embeddings)
}

fn prototype_bundle(exemplar_labels: &[u16]) -> (Vec<u8>, Vec<f32>) {
    let (writer, manifest, embeddings) = prototype_parts(exemplar_labels);
    (writer.finish(&manifest).unwrap(), embeddings)
}

#[test]
fn prototype_head_starts_with_the_bundle_exemplars() {
    let (bytes, embeddings) = prototype_bundle(&[0, 1, 1, 3, 2]);
    // Exemplars are copied, so no alignment is needed: parse from a deliberately odd address.
    let shifted = [&[0u8][..], &bytes].concat();
    let bundle = Bundle::parse(&shifted[1..]).unwrap();
    assert_eq!(bundle.manifest().precisions(), PrecisionSet { fp32: false, fp16: false, int8: true });
    let mut store = vec![0.0f32; 10 * DIM as usize];
    let mut slots = [0u16; 10];
    let Head::Prototype { head, min_similarity } =
        bundle.head(ExemplarStorage { embeddings: &mut store, labels: &mut slots }).unwrap()
    else {
        panic!("expected a prototype head")
    };
    assert_eq!(min_similarity, 0.5);
    assert_eq!((head.len(), head.capacity(), head.dim(), head.k()), (5, 10, DIM as usize, 3));
    assert_eq!(head.count(1), 2);
    let (label, stored) = head.exemplar(3).unwrap();
    assert_eq!(label, 3);
    assert_eq!(stored, &embeddings[3 * DIM as usize..4 * DIM as usize]);
    // The query equal to exemplar 4 (label 2) has it as its nearest neighbour.
    let best = head.classify(&embeddings[4 * DIM as usize..]).unwrap();
    assert!((best.best_similarity - 1.0).abs() < 1e-6);

    let mut small = [0.0f32; 4 * DIM as usize];
    let mut few = [0u16; 4];
    assert_eq!(
        bundle.head(ExemplarStorage { embeddings: &mut small, labels: &mut few }).unwrap_err(),
        BundleError::StorageTooSmall { needed: 5, actual: 4 }
    );
    let mut short = [0.0f32; 7];
    assert_eq!(
        bundle.copy_exemplars(&mut ExemplarStorage { embeddings: &mut short, labels: &mut slots }).unwrap_err(),
        BundleError::StorageTooSmall { needed: 5 * DIM, actual: 7 }
    );
}

#[test]
fn prototype_labels_and_norms_are_checked() {
    // Label index 4 of 4 labels: `finish` reads the bundle back and meets the reader's refusal.
    let (writer, m, _) = prototype_parts(&[0, 4]);
    assert_eq!(
        writer.finish(&m).unwrap_err(),
        BundleError::InvalidSection { index: 2, reason: "exemplar label index out of range" }
    );
    // Exemplars that are not unit length are refused by the head when it is built.
    let mut writer = BundleWriter::new();
    let onnx = writer.add(SectionKind::OnnxFp32, &payload(4, 64)).unwrap();
    let section = writer.add_prototypes(&[2.0; DIM as usize], &[1]).unwrap();
    let head = HeadSpec::Prototype { section: Some(section), exemplars: 1, dim: DIM, k: 1, min_similarity: 0.0 };
    let bytes = writer.finish(&manifest(head, &[joint_only(onnx)])).unwrap();
    let bundle = Bundle::parse(&bytes).unwrap();
    let mut store = [0.0f32; DIM as usize];
    let mut slots = [0u16; 1];
    assert_eq!(
        bundle.head(ExemplarStorage { embeddings: &mut store, labels: &mut slots }).unwrap_err(),
        BundleError::Head(HeadError::ZeroVector)
    );
}

// ---------------------------------------------------------------------------------------------------------------
// TensorRT targets

#[test]
fn tensorrt_engines_are_matched_to_the_device() {
    let (bytes, _, payloads) = full();
    let bundle = Bundle::parse(&bytes).unwrap();
    let (engine, engine_bytes) = bundle.tensorrt_engine(StreamKind::Joint, TRT_10_3, ORIN).unwrap();
    assert_eq!((engine.precision, engine.compute_capability), (Precision::Int8, ORIN));
    assert_eq!(engine_bytes, payloads[engine.section as usize].as_slice());
    let (engine, _) = bundle.tensorrt_engine(StreamKind::Joint, TRT_10_3, XAVIER).unwrap();
    assert_eq!(engine.precision, Precision::Fp16);

    let old = TensorRtVersion { major: 8, minor: 6, patch: 2, build: 3 };
    let error = bundle.tensorrt_engine(StreamKind::Joint, old, ORIN).unwrap_err();
    assert_eq!(error, BundleError::TensorRtVersionMismatch { engine: TRT_10_3, runtime: old });
    assert_eq!(error.to_string(), "TensorRT engine built with TensorRT 10.3.0.30, this device runs TensorRT 8.6.2.3");
    let ampere = ComputeCapability { major: 8, minor: 6 };
    let error = bundle.tensorrt_engine(StreamKind::Joint, TRT_10_3, ampere).unwrap_err();
    // The first engine listed for the stream is the Xavier one.
    assert_eq!(error, BundleError::ComputeCapabilityMismatch { engine: XAVIER, gpu: ampere });
    assert_eq!(error.to_string(), "TensorRT engine built for GPU compute capability 7.2, this device's GPU is 8.6");
    assert_eq!(
        bundle.tensorrt_engine(StreamKind::Bone, TRT_10_3, ORIN).unwrap_err(),
        BundleError::NoTensorRtEngine { stream: StreamKind::Bone }
    );
    // A TensorRT library reports major.minor.patch only, so the build number is recorded but not compared.
    let orin_engine = bundle.manifest().tensorrt[1];
    let library_reported = TensorRtVersion { build: 0, ..TRT_10_3 };
    assert_eq!(check_tensorrt(&orin_engine, library_reported, ORIN), Ok(()));
    let next_patch = TensorRtVersion { patch: 1, ..library_reported };
    assert_eq!(
        check_tensorrt(&orin_engine, next_patch, ORIN),
        Err(BundleError::TensorRtVersionMismatch { engine: TRT_10_3, runtime: next_patch })
    );
    assert_eq!(check_tensorrt(&orin_engine, TRT_10_3, ORIN), Ok(()));
}

// ---------------------------------------------------------------------------------------------------------------
// Refusals of the container

#[test]
fn truncation_at_every_length_is_named() {
    let (bytes, _, _) = full();
    let full_len = bytes.len() as u64;
    for cut in 0..bytes.len() {
        let error = parse_error(&bytes[..cut]);
        let expected = if cut >= 24 { full_len } else { HEADER_LEN as u64 };
        assert_eq!(error, BundleError::Truncated { expected, actual: cut as u64 }, "cut at {cut}");
    }
    assert_eq!(
        parse_error(&bytes[..100]).to_string(),
        std::format!("bundle truncated: 100 bytes, expected {full_len}")
    );
}

#[test]
fn appended_bytes_are_named() {
    let (mut bytes, _, _) = full();
    let len = bytes.len() as u64;
    bytes.push(0);
    assert_eq!(parse_error(&bytes), BundleError::TrailingBytes { expected: len, actual: len + 1 });
}

/// The error a flip of bit 0 at `at` must give. Checks run in the documented order: magic, major version,
/// section count, declared length, checksum.
fn expected_after_flip(bytes: &[u8], at: usize) -> BundleError {
    let len = bytes.len() as u64;
    match at {
        0..8 => BundleError::BadMagic,
        8..10 => {
            let major = u16::from_le_bytes([bytes[8], bytes[9]]) ^ (1 << (8 * (at - 8)));
            BundleError::UnsupportedMajor { found: major, supported: FORMAT_MAJOR }
        }
        12 => BundleError::ChecksumMismatch, // one section more or less still fits the declared length
        13..16 => {
            let count = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) ^ (1 << (8 * (at - 12)));
            BundleError::TooManySections { count, max: MAX_SECTIONS as u32 }
        }
        16..24 => {
            let declared = len ^ (1 << (8 * (at - 16)));
            if declared > len {
                BundleError::Truncated { expected: declared, actual: len }
            } else {
                BundleError::TrailingBytes { expected: declared, actual: len }
            }
        }
        // Minor version, reserved header bytes, table, payloads, padding, trailer: the checksum says altered.
        _ => BundleError::ChecksumMismatch,
    }
}

#[test]
fn a_flipped_bit_anywhere_is_named() {
    let (bytes, _, _) = full();
    let mut altered = bytes.clone();
    for at in 0..bytes.len() {
        altered[at] ^= 1;
        assert_eq!(parse_error(&altered), expected_after_flip(&bytes, at), "flip at byte {at}");
        altered[at] ^= 1;
    }
    assert_eq!(Bundle::parse(&altered).map(|_| ()), Ok(()));
}

#[test]
fn each_region_names_its_damage() {
    let (bytes, _, payloads) = full();
    let bundle = Bundle::parse(&bytes).unwrap();
    let offset_of = |index: u16| bundle.section(index).unwrap().payload.as_ptr() as usize - bytes.as_ptr() as usize;
    let regions = [
        ("magic", 3, BundleError::BadMagic),
        ("major version", 8, BundleError::UnsupportedMajor { found: 0, supported: 1 }),
        ("reserved header", 30, BundleError::ChecksumMismatch),
        ("table", entry_at(3) + 9, BundleError::ChecksumMismatch),
        ("manifest", offset_of(0) + 5, BundleError::ChecksumMismatch),
        ("model payload", offset_of(1) + payloads[1].len() / 2, BundleError::ChecksumMismatch),
        ("padding", offset_of(1) + payloads[1].len(), BundleError::ChecksumMismatch),
        ("trailer", bytes.len() - 1, BundleError::ChecksumMismatch),
    ];
    for (region, at, expected) in regions {
        let mut altered = bytes.clone();
        altered[at] ^= 1;
        assert_eq!(parse_error(&altered), expected, "{region}");
    }
    assert_eq!(BundleError::ChecksumMismatch.to_string(), "bundle altered or damaged: SHA-256 checksum mismatch");
    assert_eq!(BundleError::BadMagic.to_string(), "not a skelact bundle (bad magic)");
}

#[test]
fn versions_are_checked() {
    let (bytes, _, _) = full();
    let mut v2 = bytes.clone();
    v2[8] = 2;
    let error = parse_error(&v2);
    assert_eq!(error, BundleError::UnsupportedMajor { found: 2, supported: 1 });
    assert_eq!(error.to_string(), "bundle format major version 2 is not supported (this reader supports 1)");
    // Resealing does not help: the major version is checked first.
    seal(&mut v2).unwrap();
    assert_eq!(parse_error(&v2), error);

    // A newer minor version is read, its unknown section kinds skipped and its appended manifest fields ignored.
    let mut sections = raw_sections(&bytes);
    sections[0].1.extend_from_slice(&[0x2A, 0x01, 0x02]);
    sections.push((4242, b"a section kind from the future".to_vec()));
    let newer = reassemble(FORMAT_MINOR + 1, &sections);
    let bundle = Bundle::parse(&newer).unwrap();
    assert_eq!(bundle.format_version(), (1, FORMAT_MINOR + 1));
    assert_eq!(bundle.manifest(), Bundle::parse(&bytes).unwrap().manifest());
    let last = bundle.section(bundle.section_count() - 1).unwrap();
    assert_eq!((last.kind_code, last.kind()), (4242, None));

    // The same in this reader's own minor version is damage.
    let same = reassemble(FORMAT_MINOR, &sections);
    let index = (sections.len() - 1) as u16;
    assert_eq!(parse_error(&same), BundleError::UnknownSectionKind { index, kind: 4242 });
    sections.pop();
    let same = reassemble(FORMAT_MINOR, &sections);
    assert_eq!(parse_error(&same), BundleError::MalformedManifest);
}

#[test]
fn section_table_faults_are_named() {
    let (bytes, _, _) = full();
    let offset = |bytes: &[u8], index| read_u64(bytes, entry_at(index) + 8);
    let length = |bytes: &[u8], index| read_u64(bytes, entry_at(index) + 16);
    let altered = |change: &dyn Fn(&mut Vec<u8>)| {
        let mut copy = bytes.clone();
        change(&mut copy);
        seal(&mut copy).unwrap();
        parse_error(&copy)
    };

    let misaligned = offset(&bytes, 2) + 4;
    assert_eq!(
        altered(&|b| write_u64(b, entry_at(2) + 8, misaligned)),
        BundleError::SectionMisaligned { index: 2, offset: misaligned }
    );
    assert_eq!(
        altered(&|b| write_u64(b, entry_at(2) + 8, offset(&bytes, 1))),
        BundleError::SectionOverlap { index: 2 }
    );
    // A length reaching into the next section is an overlap there; reaching into the trailer is out of bounds.
    assert_eq!(
        altered(&|b| write_u64(b, entry_at(1) + 16, length(&bytes, 1) + 40)),
        BundleError::SectionOverlap { index: 2 }
    );
    let last = raw_sections(&bytes).len() - 1;
    assert_eq!(
        altered(&|b| write_u64(b, entry_at(last) + 16, length(&bytes, last) + 32)),
        BundleError::SectionOutOfBounds { index: last as u16 }
    );
    assert_eq!(
        altered(&|b| write_u64(b, entry_at(last) + 16, u64::MAX)),
        BundleError::SectionOutOfBounds { index: last as u16 }
    );
    // A payload may not start inside the header or table.
    assert_eq!(altered(&|b| write_u64(b, entry_at(0) + 8, 16)), BundleError::SectionOutOfBounds { index: 0 });
    // More sections than the limit, and a count whose table cannot fit the declared length.
    assert_eq!(
        altered(&|b| write_u32(b, 12, MAX_SECTIONS as u32 + 1)),
        BundleError::TooManySections { count: MAX_SECTIONS as u32 + 1, max: MAX_SECTIONS as u32 }
    );
    let mut tiny = assemble(FORMAT_MAJOR, FORMAT_MINOR, &[]);
    write_u32(&mut tiny, 12, 3);
    assert_eq!(
        parse_error(&tiny),
        BundleError::DeclaredLengthTooSmall { declared: 64, minimum: (HEADER_LEN + 3 * TABLE_ENTRY_LEN + 32) as u64 }
    );
}

#[test]
fn manifest_presence_and_decoding_are_checked() {
    let (bytes, manifest, _) = full();
    assert_eq!(parse_error(&assemble(FORMAT_MAJOR, FORMAT_MINOR, &[])), BundleError::MissingManifest);
    let mut sections = raw_sections(&bytes);
    sections[0].0 = SectionKind::ValidationSummary.code();
    assert_eq!(parse_error(&reassemble(FORMAT_MINOR, &sections)), BundleError::MissingManifest);
    let mut sections = raw_sections(&bytes);
    sections.push(sections[0].clone());
    assert_eq!(parse_error(&reassemble(FORMAT_MINOR, &sections)), BundleError::DuplicateManifest);

    let encoded = postcard::to_allocvec(&manifest).unwrap();
    assert_eq!(
        parse_error(&with_manifest_bytes(&bytes, &encoded[..encoded.len() / 2])),
        BundleError::MalformedManifest
    );
    assert_eq!(parse_error(&with_manifest_bytes(&bytes, b"{\"model\": \"json\"}")), BundleError::MalformedManifest);
    // The model name is not UTF-8.
    let mut not_utf8 = encoded.clone();
    not_utf8[1] = 0xFF;
    assert_eq!(parse_error(&with_manifest_bytes(&bytes, &not_utf8)), BundleError::MalformedManifest);
}

// ---------------------------------------------------------------------------------------------------------------
// Refusals of the manifest

#[test]
fn references_to_sections_are_checked() {
    let (bytes, manifest, _) = full();
    let count = raw_sections(&bytes).len() as u16;

    let mut m = manifest.clone();
    m.streams[1].onnx_int8 = Some(count + 5);
    let error = parse_error(&with_manifest(&bytes, &m));
    assert_eq!(error, BundleError::MissingSection { index: count + 5 });
    assert_eq!(
        error.to_string(),
        std::format!("manifest refers to section {}, which the bundle does not have", count + 5)
    );

    let mut m = manifest.clone();
    m.streams[0].onnx_fp32 = m.streams[0].onnx_int8;
    assert_eq!(
        parse_error(&with_manifest(&bytes, &m)),
        BundleError::WrongSectionKind {
            index: 3,
            expected: SectionKind::OnnxFp32,
            found: SectionKind::OnnxInt8.code()
        }
    );

    let mut m = manifest.clone();
    m.tensorrt[0].section = 1;
    assert_eq!(
        parse_error(&with_manifest(&bytes, &m)),
        BundleError::WrongSectionKind { index: 1, expected: SectionKind::TensorRtEngine, found: 2 }
    );

    // The linear head's size follows from labels × dim (+ bias).
    let HeadSpec::Linear { section, .. } = manifest.head else { unreachable!() };
    let mut m = manifest.clone();
    m.head = HeadSpec::Linear { section, dim: DIM, bias: false };
    assert_eq!(
        parse_error(&with_manifest(&bytes, &m)),
        BundleError::SectionSize { index: section, expected: 4 * 8 * 4, actual: (4 * 8 + 4) * 4 }
    );

    let mut sections = raw_sections(&bytes);
    sections[2].1.clear();
    assert_eq!(parse_error(&reassemble(FORMAT_MINOR, &sections)), BundleError::EmptySection { index: 2 });

    let summary = manifest.validation.section.unwrap() as usize;
    let mut sections = raw_sections(&bytes);
    sections[summary].1 = vec![0xC3, 0x28];
    assert_eq!(
        parse_error(&reassemble(FORMAT_MINOR, &sections)),
        BundleError::InvalidSection { index: summary as u16, reason: "validation summary is not UTF-8" }
    );
}

#[test]
fn wrong_layout_is_named() {
    let (bytes, manifest, _) = full();
    let mut m = manifest.clone();
    m.layout = LayoutId::AzureKinect32;
    let other = with_manifest(&bytes, &m);
    let bundle = Bundle::parse(&other).unwrap();
    let error = BundleError::WrongLayout { expected: LayoutId::KinectV2, found: LayoutId::AzureKinect32 };
    assert_eq!(Bundle::open(&other, LayoutId::KinectV2).unwrap_err(), error);
    assert_eq!(bundle.manifest().frontend_config(RAW_FRAMES as usize).unwrap_err(), error);
    assert_eq!(error.to_string(), "bundle is for joint layout AzureKinect32, expected KinectV2");
    // A device that expects another layout refuses the NTU-25 bundle the same way.
    assert_eq!(
        Bundle::open(&bytes, LayoutId::ZedBody34).unwrap_err(),
        BundleError::WrongLayout { expected: LayoutId::ZedBody34, found: LayoutId::KinectV2 }
    );
}

#[test]
fn tensor_shapes_must_match_t_and_m() {
    let (bytes, manifest, _) = full();
    let refused = |change: &dyn Fn(&mut Manifest<'static>)| {
        let mut m = manifest.clone();
        change(&mut m);
        parse_error(&with_manifest(&bytes, &m))
    };
    let input = BundleError::InputShape { frames_out: T, bodies: 2 };
    assert_eq!(refused(&|m| m.input.shape = shape(&[1, 3, 2 * T, 25, 2])), input);
    assert_eq!(refused(&|m| m.input.shape = shape(&[1, 3, T, 25, 1])), input);
    assert_eq!(refused(&|m| m.input.shape = shape(&[3, T, 25, 2])), input);
    assert_eq!(refused(&|m| m.preprocess.frames_out = 64), BundleError::InputShape { frames_out: 64, bodies: 2 });
    assert_eq!(input.to_string(), "input tensor shape is not [1, 3, 16, 25, 2] (T = 16, M = 2)");
    assert_eq!(refused(&|m| m.bodies = 1), BundleError::UnsupportedBodies { found: 1, supported: 2 });
    assert_eq!(refused(&|m| m.output.shape = shape(&[1, 4])), BundleError::OutputShape { expected: DIM, actual: 4 });
    assert_eq!(
        refused(&|m| m.output.shape = shape(&[2, DIM])),
        BundleError::OutputShape { expected: DIM, actual: 2 * DIM as u64 }
    );
}

#[test]
fn contradictions_in_the_manifest_are_named() {
    let (bytes, manifest, _) = full();
    let refused = |change: &dyn Fn(&mut Manifest<'static>)| {
        let mut m = manifest.clone();
        change(&mut m);
        let error = parse_error(&with_manifest(&bytes, &m));
        // These are the manifest's own contradictions, found without looking at any section.
        assert_eq!(m.validate(), Err(error));
        error
    };
    let reason = |error| match error {
        BundleError::InvalidManifest { reason } => reason,
        other => panic!("expected InvalidManifest, got {other:?}"),
    };
    assert_eq!(reason(refused(&|m| m.preprocess.frames_out = 0)), "frames_out (T) must be in 1..=10000");
    assert_eq!(reason(refused(&|m| m.preprocess.crop_ratio = 0.0)), "crop_ratio must be in (0, 1]");
    assert_eq!(reason(refused(&|m| m.preprocess.crop_ratio = f64::NAN)), "crop_ratio must be in (0, 1]");
    assert_eq!(reason(refused(&|m| m.window.min_frames = RAW_FRAMES + 1)), "min_frames must be in 1..=raw_frames");
    assert_eq!(reason(refused(&|m| m.window.stride_frames = 0)), "stride_frames must be at least 1");
    assert_eq!(reason(refused(&|m| m.window.timeout_us = 0)), "timeout_us must be more than 0");
    assert_eq!(
        reason(refused(&|m| m.window.partner_max_distance_m = f32::INFINITY)),
        "partner_max_distance_m must be finite and not negative"
    );
    assert_eq!(
        reason(refused(&|m| {
            m.streams.remove(0);
        })),
        "the model has no joint stream"
    );
    assert_eq!(reason(refused(&|m| m.streams[2].stream = StreamKind::Bone)), "a stream is listed twice");
    assert_eq!(reason(refused(&|m| m.streams[1].weight = -0.5)), "a stream fusion weight is negative or not finite");
    assert_eq!(
        reason(refused(&|m| m.streams.iter_mut().for_each(|s| s.weight = 0.0))),
        "every stream fusion weight is zero"
    );
    assert_eq!(
        reason(refused(&|m| {
            let s = &mut m.streams[2];
            (s.onnx_fp32, s.onnx_fp16, s.onnx_int8) = (None, None, None);
        })),
        "a stream has neither an ONNX model nor a TensorRT engine"
    );
    assert_eq!(reason(refused(&|m| m.labels.clear())), "the model has no labels");
    assert_eq!(
        reason(refused(&|m| m.labels[2].action_id = u16::MAX)),
        "a label uses the reserved unknown action id 65535"
    );
    assert_eq!(reason(refused(&|m| m.input.name = "")), "a tensor name is empty");
    assert_eq!(
        reason(refused(&|m| {
            m.streams.pop();
            m.tensorrt[0].stream = StreamKind::Motion;
        })),
        "a TensorRT engine is for a stream the model does not have"
    );
    assert_eq!(
        reason(refused(&|m| {
            m.streams.truncate(1);
            m.streams[0].stream = StreamKind::Motion;
            m.streams.push(joint_only(1)).unwrap();
            m.tensorrt.clear();
            m.head = HeadSpec::Text { section: 1, dim: DIM, temperature: 0.1, min_similarity: 0.0 };
        })),
        "prototype and text heads take the joint stream only"
    );
    assert_eq!(
        refused(&|m| m.decision.exit_threshold = 0.9),
        BundleError::InvalidDecision(crate::decision::DecisionError::ThresholdOrder)
    );
    assert_eq!(
        refused(&|m| m.decision.smoothing_windows = 0),
        BundleError::InvalidDecision(crate::decision::DecisionError::SmoothingWindows {
            requested: 0,
            capacity: usize::MAX
        })
    );
}

#[test]
fn head_parameters_are_checked() {
    let (bytes, _) = text_bundle();
    let manifest = Bundle::parse(&bytes).unwrap().manifest().clone();
    let refused = |head: HeadSpec| {
        let mut m = manifest.clone();
        m.head = head;
        parse_error(&with_manifest(&bytes, &m))
    };
    let text = |temperature, min_similarity| HeadSpec::Text { section: 2, dim: DIM, temperature, min_similarity };
    assert_eq!(
        refused(text(0.0, 0.1)),
        BundleError::InvalidManifest { reason: "text head temperature must be finite and more than 0" }
    );
    assert_eq!(
        refused(text(0.1, 1.5)),
        BundleError::InvalidManifest { reason: "text min_similarity must be in -1..=1" }
    );
    assert_eq!(
        refused(HeadSpec::Text { section: 2, dim: 4, temperature: 0.1, min_similarity: 0.0 }),
        BundleError::OutputShape { expected: 4, actual: DIM as u64 }
    );
    let prototype =
        |section, exemplars, k| HeadSpec::Prototype { section, exemplars, dim: DIM, k, min_similarity: 0.0 };
    assert_eq!(refused(prototype(None, 0, 0)), BundleError::InvalidManifest { reason: "prototype head dim or k is 0" });
    assert_eq!(
        refused(prototype(None, 3, 1)),
        BundleError::InvalidManifest { reason: "prototype exemplars need a section, and a section needs exemplars" }
    );
    assert_eq!(
        refused(prototype(Some(2), 4, 1)),
        BundleError::WrongSectionKind { index: 2, expected: SectionKind::Prototypes, found: 8 }
    );
    // A prototype head without shipped exemplars is enrolled on the device.
    let mut m = manifest.clone();
    m.head = prototype(None, 0, 2);
    let bytes = with_manifest(&bytes, &m);
    let bundle = Bundle::parse(&bytes).unwrap();
    let mut store = [0.0f32; 3 * DIM as usize];
    let mut slots = [0u16; 3];
    let Head::Prototype { head, .. } =
        bundle.head(ExemplarStorage { embeddings: &mut store, labels: &mut slots }).unwrap()
    else {
        panic!("expected a prototype head")
    };
    assert!(head.is_empty());
}

#[test]
fn the_writer_refuses_what_the_reader_refuses() {
    let mut writer = BundleWriter::new();
    let onnx = writer.add(SectionKind::OnnxFp32, &payload(1, 10)).unwrap();
    let mut m = manifest(HeadSpec::Logits, &[joint_only(onnx)]);
    m.output.shape = shape(&[1, 4]);
    assert!(writer.finish(&m).is_ok());
    m.streams[0].onnx_fp16 = Some(9);
    assert_eq!(writer.finish(&m).unwrap_err(), BundleError::MissingSection { index: 9 });
    assert_eq!(writer.add(SectionKind::Manifest, b"").unwrap_err(), BundleError::DuplicateManifest);
    for _ in 2..MAX_SECTIONS {
        writer.add(SectionKind::OnnxFp32, b"x").unwrap();
    }
    assert_eq!(
        writer.add(SectionKind::OnnxFp32, b"x").unwrap_err(),
        BundleError::TooManySections { count: MAX_SECTIONS as u32 + 1, max: MAX_SECTIONS as u32 }
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Nothing panics

/// Uses every accessor of a bundle that parsed, as a device would.
fn exercise(bundle: &Bundle<'_>) {
    let m = bundle.manifest();
    let _ = m.frontend_config(m.window.raw_frames as usize);
    let _ = (m.decision_config(), m.action_ids(), m.fusion_weights(), m.precisions(), m.tensor_len());
    let _ = (bundle.validation_summary(), bundle.checksum(), bundle.sections().count());
    for stream in [StreamKind::Joint, StreamKind::Bone, StreamKind::Motion] {
        let _ = bundle.onnx(stream, Precision::Int8);
        let _ = bundle.tensorrt_engine(stream, TRT_10_3, ORIN);
    }
    let mut store = vec![0.0f32; 16 * 64];
    let mut slots = [0u16; 16];
    let _ = bundle.head(ExemplarStorage { embeddings: &mut store, labels: &mut slots });
}

fn mutation() -> impl Strategy<Value = (usize, u8, bool)> {
    (any::<usize>(), any::<u8>(), any::<bool>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Bundle::parse(&bytes);
        // The same bytes behind a valid header prefix reach the length and table checks.
        let mut prefixed = assemble(FORMAT_MAJOR, FORMAT_MINOR, &[])[..16].to_vec();
        prefixed.extend_from_slice(&bytes);
        let _ = Bundle::parse(&prefixed);
        if prefixed.len() >= HEADER_LEN + TRAILER_LEN {
            let len = prefixed.len() as u64;
            write_u64(&mut prefixed, 16, len);
            seal(&mut prefixed).unwrap();
            if let Ok(bundle) = Bundle::parse(&prefixed) {
                exercise(&bundle);
            }
        }
    }

    #[test]
    fn mutated_bundles_never_panic(mutations in proptest::collection::vec(mutation(), 1..8), reseal in any::<bool>(),
                                   cut in any::<usize>(), which in 0usize..3) {
        let base = match which {
            0 => full().0,
            1 => text_bundle().0,
            _ => prototype_bundle(&[0, 1, 3]).0,
        };
        let mut bytes = AlignedBytes::copy_from(&base).as_bytes().to_vec();
        for (at, value, in_manifest) in &mutations {
            // Half of the mutations aim at the header, table and manifest, where the parsing logic is.
            let span = if *in_manifest { bytes.len().min(1024) } else { bytes.len() };
            let at = at % span;
            bytes[at] = *value;
        }
        if cut % 4 == 0 {
            bytes.truncate(cut / 4 % (bytes.len() + 1));
        }
        if reseal && bytes.len() >= HEADER_LEN + TRAILER_LEN {
            let len = bytes.len() as u64;
            write_u64(&mut bytes, 16, len);
            seal(&mut bytes).unwrap();
        }
        let aligned = AlignedBytes::copy_from(&bytes);
        if let Ok(bundle) = Bundle::parse(aligned.as_bytes()) {
            exercise(&bundle);
        };
    }

    #[test]
    fn mutated_manifests_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
                                     which in 0usize..3) {
        let base = match which {
            0 => full().0,
            1 => text_bundle().0,
            _ => prototype_bundle(&[0, 1, 3]).0,
        };
        let mut encoded = raw_sections(&base)[0].1.clone();
        for (at, value) in edits {
            let at = at % encoded.len();
            encoded[at] = value;
        }
        let bytes = with_manifest_bytes(&base, &encoded);
        let aligned = AlignedBytes::copy_from(&bytes);
        if let Ok(bundle) = Bundle::parse(aligned.as_bytes()) {
            exercise(&bundle);
        };
    }
}

/// The smallest useful bundle, the golden vector of `docs/bundle.md` ("A complete example").
fn golden_bundle() -> Vec<u8> {
    let mut writer = BundleWriter::new();
    let onnx = writer.add(SectionKind::OnnxFp32, b"ONNX").unwrap();
    let m = Manifest {
        model_name: "tiny",
        encoder: EncoderFamily::Hcn,
        layout: LayoutId::KinectV2,
        bodies: 2,
        preprocess: PreprocessParams { frames_out: 8, crop_ratio: 0.95, align: false },
        window: WindowParams {
            raw_frames: 16,
            stride_frames: 4,
            min_frames: 8,
            max_gap_frames: 10,
            timeout_us: 1_000_000,
            partner_max_distance_m: 1.5,
            min_confidence: 1,
        },
        streams: HVec::from_slice(&[joint_only(onnx)]).unwrap(),
        input: TensorSpec { name: "x", shape: shape(&[1, 3, 8, 25, 2]) },
        output: TensorSpec { name: "y", shape: shape(&[1, 2]) },
        head: HeadSpec::Logits,
        labels: [Label { name: "wave", action_id: 1 }, Label { name: "clap", action_id: 2 }].into_iter().collect(),
        decision: DecisionConfig::default().into(),
        tensorrt: HVec::new(),
        checkpoint_sha256: [0x11; 32],
        validation: ValidationSummary { report_sha256: [0x22; 32], section: None, variants: HVec::new() },
    };
    writer.finish(&m).unwrap()
}

const GOLDEN_HEX: &str = "\
    89534b420d0a1a0a 0100 0500 02000000 2401000000000000 0000000000000000
    01000000 00000000 5000000000000000 a500000000000000
    02000000 00000000 0001000000000000 0400000000000000
    04 74696e79 02 00 02
    08 666666666666ee3f 00
    10 04 08 0a c0843d 0000c03f 01
    01 00 0000803f 0101 00 00
    01 78 05 01 03 08 19 02
    01 79 02 01 02
    00
    02 04 77617665 01 04 636c6170 02
    03 9a99193f cdcccc3e cdcccc3d e0a712 a0c21e 3333b33e 00
    00
    1111111111111111111111111111111111111111111111111111111111111111
    2222222222222222222222222222222222222222222222222222222222222222
    00 00
    00
    b0ea01
    00
    00
    00
    0000000000000000000000
    4f4e4e58";

const GOLDEN_SHA256: &str = "23813180aea8a0c2ac98f9634a82cefb265d75e7d832beb578132eb4d8e30cc6";

#[test]
fn golden_vector_matches_the_documentation() {
    let bytes = golden_bundle();
    let hex: String = bytes.iter().map(|b| std::format!("{b:02x}")).collect();
    let expected: String = GOLDEN_HEX.split_whitespace().collect();
    let body = &hex[..hex.len() - 2 * TRAILER_LEN];
    assert_eq!(body, expected, "\nactual bundle without its trailer:\n{body}");
    assert_eq!(&hex[hex.len() - 2 * TRAILER_LEN..], GOLDEN_SHA256);
    // The annotated vector in the documentation has the same lines.
    let doc = include_str!("../../../docs/bundle.md");
    for line in GOLDEN_HEX.lines().map(str::trim).chain([GOLDEN_SHA256]) {
        assert!(doc.contains(line), "docs/bundle.md lacks the golden vector line {line:?}");
    }
    assert_eq!(Bundle::parse(&bytes).unwrap().manifest().model_name, "tiny");
}

// ---------------------------------------------------------------------------------------------------------------
// Format 1.1: versions, self-tests, signatures (the Ed25519 arithmetic is the device's; here a stand-in signer
// records what it was asked to sign)

#[test]
fn version_round_trips_and_a_1_0_bundle_has_version_0() {
    let (bytes, manifest, _) = full();
    assert_eq!(Bundle::parse(&bytes).unwrap().version(), 0);
    let v7 = with_version(&bytes, 7).unwrap();
    let bundle = Bundle::parse(&v7).unwrap();
    assert_eq!((bundle.version(), bundle.manifest()), (7, &manifest));
    // A 1.0 bundle: the manifest alone, nothing after it; trailing bytes there are still damage.
    let sections = raw_sections(&bytes);
    let mut old = sections.clone();
    old[0].1 = postcard::to_allocvec(&manifest).unwrap();
    assert_eq!(Bundle::parse(&reassemble(0, &old)).unwrap().version(), 0);
    old[0].1.push(5);
    assert_eq!(parse_error(&reassemble(0, &old)), BundleError::MalformedManifest);
    // In 1.1, a byte after the extension is damage too.
    let mut extra = raw_sections(&v7);
    extra[0].1.push(1);
    assert_eq!(parse_error(&reassemble(FORMAT_MINOR, &extra)), BundleError::MalformedManifest);
}

#[test]
fn the_model_rate_round_trips_and_older_bundles_are_30_hz_models() {
    let (bytes, manifest, _) = full();
    assert_eq!(Bundle::parse(&bytes).unwrap().model_rate_millihertz(), 30_000, "the writer's default");
    // A 1.1 bundle (manifest and extension, no time base) is a 30 Hz model; so is one whose version is rewritten.
    let mut sections = raw_sections(&bytes);
    let mut v11 = postcard::to_allocvec(&manifest).unwrap();
    v11.push(3);
    sections[0].1 = v11;
    let old_bytes = reassemble(1, &sections);
    let old = Bundle::parse(&old_bytes).unwrap();
    assert_eq!((old.version(), old.model_rate_millihertz()), (3, 30_000));
    let rewritten = with_version(&old_bytes, 4).unwrap();
    assert_eq!(Bundle::parse(&rewritten).unwrap().model_rate_millihertz(), 30_000);
    // A 15 Hz model says so, and keeps it through a version change; a rate out of range is refused.
    let mut sections = raw_sections(&bytes);
    let mut at_15 = postcard::to_allocvec(&manifest).unwrap();
    at_15.extend_from_slice(&postcard::to_allocvec(&ManifestExtension { version: 0 }).unwrap());
    let time_base = |millihertz| postcard::to_allocvec(&TimeBase { model_rate_millihertz: millihertz }).unwrap();
    let mut zero = at_15.clone();
    at_15.extend_from_slice(&time_base(15_000));
    zero.extend_from_slice(&time_base(0));
    sections[0].1 = at_15;
    let bundle_15 = reassemble(FORMAT_MINOR, &sections);
    assert_eq!(Bundle::parse(&bundle_15).unwrap().model_rate_millihertz(), 15_000);
    assert_eq!(Bundle::parse(&with_version(&bundle_15, 9).unwrap()).unwrap().model_rate_millihertz(), 15_000);
    sections[0].1 = zero;
    assert!(matches!(parse_error(&reassemble(FORMAT_MINOR, &sections)), BundleError::InvalidManifest { .. }));
}

fn self_test_payload(windows: u32, min_cosine: f32) -> Vec<u8> {
    let inputs = values(windows as usize * 2400, 0.5);
    let outputs = values(windows as usize * DIM as usize, 1.5);
    SelfTest::encode(windows, &inputs, &outputs, min_cosine)
}

#[test]
fn self_test_windows_are_read_back_and_checked_against_the_manifest() {
    let (bytes, _, _) = full();
    let tested = with_self_test(&bytes, &self_test_payload(2, 0.99)).unwrap();
    let bundle = Bundle::parse(&tested).unwrap();
    let test = bundle.self_test().unwrap();
    assert_eq!((test.windows, test.input_len, test.output_len, test.min_cosine), (2, 2400, DIM, 0.99));
    assert_eq!(test.input(1).collect::<Vec<_>>(), values(4800, 0.5)[2400..]);
    assert_eq!(test.output(0).collect::<Vec<_>>(), values(16, 1.5)[..8]);
    assert_eq!(test.output(2).count(), 0, "past the last window there is nothing");
    // Replacing keeps one.
    let again = with_self_test(&tested, &self_test_payload(1, 0.9)).unwrap();
    assert_eq!(Bundle::parse(&again).unwrap().self_test().unwrap().windows, 1);

    let refused = |payload: Vec<u8>| {
        let mut sections = raw_sections(&bytes);
        sections.push((SectionKind::SelfTest.code(), payload));
        parse_error(&reassemble(FORMAT_MINOR, &sections))
    };
    let index = raw_sections(&bytes).len() as u16;
    let reason = |reason| BundleError::InvalidSection { index, reason };
    assert_eq!(refused(vec![0; 8]), reason("self-test section too short"));
    assert_eq!(refused(self_test_payload(0, 0.9)), reason("self-test window count must be in 1..=16"));
    assert_eq!(refused(self_test_payload(1, 1.5)), reason("self-test min_cosine must be in 0..=1"));
    let wrong_input = SelfTest::encode(1, &values(2399, 0.5), &values(8, 0.1), 0.9);
    assert_eq!(refused(wrong_input), reason("self-test tensor sizes differ from the manifest's input and output"));
    let mut short = self_test_payload(1, 0.9);
    short.truncate(short.len() - 4);
    assert!(matches!(refused(short), BundleError::SectionSize { .. }));
    let mut nan = self_test_payload(1, 0.9);
    nan[16..20].copy_from_slice(&f32::NAN.to_le_bytes());
    assert_eq!(refused(nan), reason("self-test values must be finite"));
    let mut two = raw_sections(&tested);
    two.push((SectionKind::SelfTest.code(), self_test_payload(1, 0.9)));
    assert!(matches!(
        parse_error(&reassemble(FORMAT_MINOR, &two)),
        BundleError::InvalidSection { reason: "a bundle has at most one self-test section", .. }
    ));
}

#[test]
fn self_test_comparison_wants_the_same_top1_and_a_close_direction() {
    assert_eq!(compare_outputs([1.0, 2.0, 3.0].into_iter(), &[1.0, 2.0, 3.0]), (1.0, true));
    let (cosine, same) = compare_outputs([1.0, 2.0, 3.0].into_iter(), &[1.0, 3.1, 3.0]);
    assert!(cosine > 0.95 && !same);
    assert_eq!(compare_outputs([0.0, 0.0].into_iter(), &[1.0, 2.0]).0, 0.0);
}

/// A stand-in Ed25519 signer: the "signature" is the message it was given, which is what these tests check.
fn stand_in_sign(message: &[u8; 64]) -> [u8; 64] {
    *message
}

#[test]
fn a_signature_is_the_last_section_and_covers_everything_else() {
    let (bytes, _, _) = full();
    let versioned = with_version(&with_self_test(&bytes, &self_test_payload(1, 0.9)).unwrap(), 3).unwrap();
    let signed = sign(&versioned, "fleet-2026", [7; 32], stand_in_sign).unwrap();
    let bundle = Bundle::parse(&signed).unwrap();
    let signature = bundle.signature().unwrap();
    assert_eq!((signature.algorithm, signature.public_key, signature.signer), (ED25519, [7; 32], "fleet-2026"));
    let last = bundle.section(bundle.section_count() - 1).unwrap();
    assert_eq!(last.kind(), Some(SectionKind::Signature));
    // What was signed: the domain tag, then the digest of the unsigned bundle's sections, which the signed bundle
    // reproduces because the signature section is left out of it.
    let digest = Bundle::parse(&versioned).unwrap().content_digest();
    assert_eq!(bundle.content_digest(), digest);
    assert_eq!(signature.signature, signing_message(&digest, &[7; 32], "fleet-2026"));
    assert_eq!(signature.signature, signature.message(&digest));
    assert_eq!(&signature.signature[..27], b"skelact bundle signature v1");
    // Every other section is covered: change any payload byte (and reseal) and the digest moves.
    for index in 0..bundle.section_count() - 1 {
        let mut sections = raw_sections(&signed);
        let payload = &mut sections[index as usize].1;
        let middle = payload.len() / 2;
        payload[middle] ^= 0x01;
        let tampered = reassemble(FORMAT_MINOR, &sections);
        // The structural checks may refuse it outright; if not, the digest differs.
        if let Ok(parsed) = Bundle::parse(&tampered) {
            assert_ne!(parsed.content_digest(), digest, "section {index}");
        };
    }
    // Re-signing replaces the signature; any edit drops it.
    let resigned = sign(&signed, "other", [9; 32], stand_in_sign).unwrap();
    assert_eq!(Bundle::parse(&resigned).unwrap().signature().unwrap().signer, "other");
    assert_eq!(Bundle::parse(&with_version(&signed, 4).unwrap()).unwrap().signature(), None);
    assert_eq!(Bundle::parse(&bytes).unwrap().signature(), None);
}

#[test]
fn a_misplaced_or_malformed_signature_is_refused() {
    let (bytes, _, _) = full();
    let signed = sign(&bytes, "me", [1; 32], stand_in_sign).unwrap();
    let mut sections = raw_sections(&signed);
    let signature = sections.pop().unwrap();
    let last = sections.len() as u16;
    // Not last: an index would move, so the manifest could point elsewhere under the same signature.
    let mut moved = sections.clone();
    moved.push(signature.clone());
    moved.push((SectionKind::SelfTest.code(), self_test_payload(1, 0.9)));
    assert_eq!(parse_error(&reassemble(FORMAT_MINOR, &moved)), BundleError::MisplacedSignature { index: last });
    let mut twice = sections.clone();
    twice.push(signature.clone());
    twice.push(signature.clone());
    assert_eq!(parse_error(&reassemble(FORMAT_MINOR, &twice)), BundleError::MisplacedSignature { index: last });
    let with = |payload: Vec<u8>| {
        let mut s = sections.clone();
        s.push((SectionKind::Signature.code(), payload));
        parse_error(&reassemble(FORMAT_MINOR, &s))
    };
    let reason = |reason| BundleError::InvalidSection { index: last, reason };
    assert_eq!(with(signature.1[..50].to_vec()), reason("signature section too short"));
    let mut algorithm = signature.1.clone();
    algorithm[0] = 2;
    assert_eq!(with(algorithm), reason("signature algorithm is not Ed25519 (1)"));
    let mut long = signature.1.clone();
    long.push(b'x');
    assert_eq!(with(long), reason("signature section length does not match its signer name"));
    let mut utf8 = signature.1.clone();
    *utf8.last_mut().unwrap() = 0xff;
    assert_eq!(with(utf8), reason("signer name is not UTF-8"));
    assert!(matches!(sign(&bytes, &"n".repeat(65), [1; 32], stand_in_sign), Err(BundleError::InvalidSection { .. })));
    let mut writer = BundleWriter::new();
    assert!(matches!(writer.add(SectionKind::Signature, b"x"), Err(BundleError::MisplacedSignature { .. })));
    assert_eq!(
        BundleError::MisplacedSignature { index: 2 }.to_string(),
        "section 2 is a signature, which must be the one last section"
    );
}

#[test]
fn key_fingerprints_are_short_stable_hex() {
    let fingerprint = key_fingerprint(&[0; 32]);
    // SHA-256 of 32 zero bytes starts 66687aadf862bd77.
    assert_eq!(&fingerprint, b"66687aadf862bd77");
}

// ---------------------------------------------------------------------------------------------------------------
// Format 1.3: the reconstruction model

/// A joint-only logits bundle for T = 8, with a reconstruction model when `reconstruction` gives (frames,
/// threshold).
fn rec_bundle(reconstruction: Option<(u32, f32)>) -> Result<Vec<u8>, BundleError> {
    let mut writer = BundleWriter::new();
    let onnx = writer.add(SectionKind::OnnxFp32, &payload(1, 64))?;
    if let Some((frames, threshold)) = reconstruction {
        writer.add_reconstruction(b"REC ONNX", frames, threshold)?;
    }
    let mut m = manifest(HeadSpec::Logits, &[joint_only(onnx)]);
    m.preprocess.frames_out = 8;
    m.input.shape = shape(&[1, 3, 8, 25, 2]);
    writer.finish(&m)
}

#[test]
fn a_reconstruction_model_round_trips() {
    let bytes = rec_bundle(Some((8, 0.125))).unwrap();
    let bundle = Bundle::parse(&bytes).unwrap();
    assert_eq!(bundle.format_version(), (1, FORMAT_MINOR));
    assert_eq!(bundle.reconstruction(), Some(ReconstructionSpec { section: 2, frames: 8, threshold: 0.125 }));
    assert_eq!(bundle.reconstruction_onnx(), Some(&b"REC ONNX"[..]));
    assert_eq!(bundle.section(2).unwrap().kind(), Some(SectionKind::Reconstruction));
    assert_eq!(SectionKind::from_code(12), Some(SectionKind::Reconstruction));
    // It survives a version change.
    let v5 = with_version(&bytes, 5).unwrap();
    assert_eq!(Bundle::parse(&v5).unwrap().reconstruction(), bundle.reconstruction());
    // A model added to a finished bundle (what `cargo xtask bundle --reconstruction` does), then replaced in place.
    let plain = with_version(&rec_bundle(None).unwrap(), 4).unwrap();
    let added = with_reconstruction(&plain, b"MODEL A", 0.25).unwrap();
    let with_a = Bundle::parse(&added).unwrap();
    assert_eq!(with_a.reconstruction(), Some(ReconstructionSpec { section: 2, frames: 8, threshold: 0.25 }));
    assert_eq!((with_a.reconstruction_onnx(), with_a.version()), (Some(&b"MODEL A"[..]), 4));
    let replaced = with_reconstruction(&added, b"MODEL B", 0.5).unwrap();
    let with_b = Bundle::parse(&replaced).unwrap();
    assert_eq!((with_b.section_count(), with_b.reconstruction_onnx()), (3, Some(&b"MODEL B"[..])));
    assert_eq!(
        with_reconstruction(&plain, b"M", 2.0).unwrap_err().to_string(),
        "invalid manifest: the reconstruction threshold must be in 0..=1"
    );
    // Without one there is none.
    let plain = rec_bundle(None).unwrap();
    let plain = Bundle::parse(&plain).unwrap();
    assert_eq!((plain.reconstruction(), plain.reconstruction_onnx()), (None, None));
}

#[test]
fn older_bundles_read_without_a_reconstruction_model() {
    let bytes = rec_bundle(None).unwrap();
    let manifest = Bundle::parse(&bytes).unwrap().manifest().clone();
    // A 1.2 bundle: manifest, extension and time base, nothing after.
    let mut sections = raw_sections(&bytes);
    let mut v12 = postcard::to_allocvec(&manifest).unwrap();
    v12.extend_from_slice(&[7, 0xb0, 0xea, 0x01]);
    sections[0].1 = v12.clone();
    let old_bytes = reassemble(2, &sections);
    let old = Bundle::parse(&old_bytes).unwrap();
    assert_eq!((old.format_version(), old.version(), old.reconstruction()), ((1, 2), 7, None));
    // In 1.2 a byte after the time base is damage, even one that would decode as a 1.3 entry.
    v12.push(0);
    sections[0].1 = v12;
    assert_eq!(parse_error(&reassemble(2, &sections)), BundleError::MalformedManifest);
    // A 1.0 bundle has none either.
    sections[0].1 = postcard::to_allocvec(&manifest).unwrap();
    assert_eq!(Bundle::parse(&reassemble(0, &sections)).unwrap().reconstruction(), None);
    // A bundle of 1.2 rewritten gets this writer's format and still has none.
    let rewritten = with_version(&old_bytes, 8).unwrap();
    let rewritten = Bundle::parse(&rewritten).unwrap();
    assert_eq!((rewritten.format_version(), rewritten.reconstruction()), ((1, FORMAT_MINOR), None));
}

#[test]
fn reconstruction_references_frames_and_threshold_are_checked() {
    // Another T than the encoder's.
    let error = rec_bundle(Some((16, 0.05))).unwrap_err();
    assert_eq!(error, BundleError::ReconstructionFrames { reconstruction: 16, encoder: 8 });
    assert_eq!(error.to_string(), "the reconstruction model takes windows of 16 frames, the encoder's input has T = 8");
    // A threshold that is no fraction.
    for threshold in [-0.1, 1.5, f32::NAN] {
        let error = rec_bundle(Some((8, threshold))).unwrap_err();
        assert_eq!(error.to_string(), "invalid manifest: the reconstruction threshold must be in 0..=1");
    }
    // A section that does not exist, or of another kind, or empty: the reader refuses what the writer would.
    let refs = |spec: ReconstructionSpec, rec_payload: &[u8]| {
        let mut writer = BundleWriter::new();
        let onnx = writer.add(SectionKind::OnnxFp32, &payload(1, 64)).unwrap();
        writer.add(SectionKind::Reconstruction, rec_payload).unwrap();
        writer.set_reconstruction(Some(spec));
        let mut m = manifest(HeadSpec::Logits, &[joint_only(onnx)]);
        m.preprocess.frames_out = 8;
        m.input.shape = shape(&[1, 3, 8, 25, 2]);
        writer.finish(&m).unwrap_err()
    };
    let missing = refs(ReconstructionSpec { section: 9, frames: 8, threshold: 0.05 }, b"REC");
    assert_eq!(missing, BundleError::MissingSection { index: 9 });
    assert_eq!(missing.to_string(), "manifest refers to section 9, which the bundle does not have");
    let wrong = refs(ReconstructionSpec { section: 1, frames: 8, threshold: 0.05 }, b"REC");
    assert_eq!(wrong, BundleError::WrongSectionKind { index: 1, expected: SectionKind::Reconstruction, found: 2 });
    assert_eq!(wrong.to_string(), "manifest refers to section 1 as Reconstruction (kind 12), but it has kind 2");
    let empty = refs(ReconstructionSpec { section: 2, frames: 8, threshold: 0.05 }, b"");
    assert_eq!(empty, BundleError::EmptySection { index: 2 });
    // The same refusals from bytes another writer made.
    let bytes = rec_bundle(Some((8, 0.05))).unwrap();
    let mut sections = raw_sections(&bytes);
    // The 1.3 entry is the 7 bytes before the 1.4 and 1.5 ones (0: no text encoder, 0: no TDSM scorer): Some,
    // section 2, frames 8, the threshold as an f32.
    let kept = sections[0].1.len() - 9;
    assert_eq!(sections[0].1[kept..kept + 3], [1, 2, 8]);
    let mut manifest_bytes = sections[0].1[..kept].to_vec();
    let spec =
        ReconstructionExtension { reconstruction: Some(ReconstructionSpec { section: 1, frames: 8, threshold: 0.05 }) };
    manifest_bytes.extend_from_slice(&postcard::to_allocvec(&spec).unwrap());
    manifest_bytes.extend_from_slice(&[0, 0]);
    sections[0].1 = manifest_bytes;
    assert!(matches!(parse_error(&reassemble(FORMAT_MINOR, &sections)), BundleError::WrongSectionKind { .. }));
}

// ---------------------------------------------------------------------------------------------------------------
// Format 1.4: the text encoder

/// A joint-only logits bundle with a text encoder when `text` gives (model, tokenizer, max_tokens, dim).
fn text_encoder_bundle(text: Option<(&[u8], &[u8], u32, u32)>) -> Result<Vec<u8>, BundleError> {
    let mut writer = BundleWriter::new();
    let onnx = writer.add(SectionKind::OnnxFp32, &payload(1, 64))?;
    if let Some((model, tokenizer, max_tokens, dim)) = text {
        writer.add_text_encoder(model, tokenizer, max_tokens, dim)?;
    }
    writer.finish(&manifest(HeadSpec::Logits, &[joint_only(onnx)]))
}

#[test]
fn a_text_encoder_round_trips_and_survives_rewrites() {
    let bytes = text_encoder_bundle(Some((b"TEXT ONNX", b"{\"model\": {}}", 32, 384))).unwrap();
    let bundle = Bundle::parse(&bytes).unwrap();
    let spec = TextSpec { encoder_section: 2, tokenizer_section: 3, max_tokens: 32, dim: 384 };
    assert_eq!(bundle.text_encoder_spec(), Some(spec));
    assert_eq!(bundle.text_encoder(), Some((&b"TEXT ONNX"[..], "{\"model\": {}}")));
    assert_eq!(SectionKind::from_code(13), Some(SectionKind::TextEncoder));
    assert_eq!(SectionKind::from_code(14), Some(SectionKind::Tokenizer));
    // A version change and a reconstruction model keep it.
    let v3 = with_version(&bytes, 3).unwrap();
    assert_eq!(Bundle::parse(&v3).unwrap().text_encoder_spec(), Some(spec));
    // Added to a finished bundle (what `cargo xtask bundle --text-encoder` does), then replaced in place.
    let plain = with_version(&text_encoder_bundle(None).unwrap(), 2).unwrap();
    assert_eq!(Bundle::parse(&plain).unwrap().text_encoder(), None);
    let added = with_text_encoder(&plain, b"MODEL A", b"{}", 16, 8).unwrap();
    let with_a = Bundle::parse(&added).unwrap();
    assert_eq!((with_a.text_encoder(), with_a.version()), (Some((&b"MODEL A"[..], "{}")), 2));
    let replaced = with_text_encoder(&added, b"MODEL B", b"[]", 16, 8).unwrap();
    let with_b = Bundle::parse(&replaced).unwrap();
    assert_eq!((with_b.section_count(), with_b.text_encoder()), (4, Some((&b"MODEL B"[..], "[]"))));
    // Older bundles have none.
    let mut sections = raw_sections(&plain);
    let manifest = Bundle::parse(&plain).unwrap().manifest().clone();
    let mut v13 = postcard::to_allocvec(&manifest).unwrap();
    v13.extend_from_slice(&[2, 0xb0, 0xea, 0x01, 0]);
    sections[0].1 = v13;
    assert_eq!(Bundle::parse(&reassemble(3, &sections)).unwrap().text_encoder_spec(), None);
}

#[test]
fn text_encoder_shapes_and_references_are_checked() {
    for (max_tokens, dim, reason) in [
        (1, 384, "the text encoder's token length must be 2 to 512"),
        (513, 384, "the text encoder's token length must be 2 to 512"),
        (32, 0, "the text encoder's embedding length must be 1 to 4096"),
        (32, 4097, "the text encoder's embedding length must be 1 to 4096"),
    ] {
        let error = text_encoder_bundle(Some((b"M", b"{}", max_tokens, dim))).unwrap_err();
        assert_eq!(error, BundleError::InvalidManifest { reason }, "{max_tokens} {dim}");
    }
    assert_eq!(text_encoder_bundle(Some((b"", b"{}", 32, 8))).unwrap_err(), BundleError::EmptySection { index: 2 });
    assert_eq!(text_encoder_bundle(Some((b"M", b"", 32, 8))).unwrap_err(), BundleError::EmptySection { index: 3 });
    let error = text_encoder_bundle(Some((b"M", &[0xff, 0xfe], 32, 8))).unwrap_err();
    assert_eq!(error, BundleError::InvalidSection { index: 3, reason: "tokenizer is not UTF-8" });
    // References to sections of another kind, or none.
    let refs = |spec: TextSpec| {
        let mut writer = BundleWriter::new();
        let onnx = writer.add(SectionKind::OnnxFp32, &payload(1, 64)).unwrap();
        writer.add(SectionKind::TextEncoder, b"M").unwrap();
        writer.add(SectionKind::Tokenizer, b"{}").unwrap();
        writer.set_text(Some(spec));
        writer.finish(&manifest(HeadSpec::Logits, &[joint_only(onnx)])).unwrap_err()
    };
    let swapped = refs(TextSpec { encoder_section: 3, tokenizer_section: 2, max_tokens: 32, dim: 8 });
    assert_eq!(swapped, BundleError::WrongSectionKind { index: 3, expected: SectionKind::TextEncoder, found: 14 });
    let missing = refs(TextSpec { encoder_section: 2, tokenizer_section: 7, max_tokens: 32, dim: 8 });
    assert_eq!(missing, BundleError::MissingSection { index: 7 });
}

// ---------------------------------------------------------------------------------------------------------------
// Format 1.5: TDSM's scorer

#[test]
fn a_denoiser_needs_the_text_encoder_and_the_models_embedding_length() {
    let with_text = text_encoder_bundle(Some((b"TEXT ONNX", b"{}", 32, 384))).unwrap();
    let feature = Bundle::parse(&with_text).unwrap().manifest().output_len();
    assert_eq!(Bundle::parse(&with_text).unwrap().denoiser_onnx(), None, "none until added");
    // Added to a finished bundle (what `cargo xtask text-encoder` does), kept by a version change, replaced in place.
    let added = with_denoiser(&with_text, b"TDSM A").unwrap();
    let bundle = Bundle::parse(&added).unwrap();
    assert_eq!(bundle.denoiser_spec(), Some(DenoiserSpec { section: 4, feature }));
    assert_eq!((bundle.denoiser_onnx(), bundle.format_version()), (Some(&b"TDSM A"[..]), (1, 5)));
    assert_eq!(SectionKind::from_code(15), Some(SectionKind::Denoiser));
    let v2 = with_version(&added, 2).unwrap();
    assert_eq!(Bundle::parse(&v2).unwrap().denoiser_onnx(), Some(&b"TDSM A"[..]));
    let replaced = with_denoiser(&v2, b"TDSM B").unwrap();
    let bundle = Bundle::parse(&replaced).unwrap();
    assert_eq!((bundle.section_count(), bundle.denoiser_onnx(), bundle.version()), (5, Some(&b"TDSM B"[..]), 2));
    // Without a text encoder nothing gives the candidates' features; another length is another encoder's.
    let plain = text_encoder_bundle(None).unwrap();
    let reason = "a TDSM scorer needs the text encoder that gives its candidates' features";
    assert_eq!(with_denoiser(&plain, b"TDSM").unwrap_err(), BundleError::InvalidManifest { reason });
    let mut writer = BundleWriter::new();
    let onnx = writer.add(SectionKind::OnnxFp32, &payload(1, 64)).unwrap();
    writer.add_text_encoder(b"M", b"{}", 32, 384).unwrap();
    writer.add_denoiser(b"TDSM", feature + 1).unwrap();
    let reason = "the TDSM scorer's embedding length differs from the models' output length";
    let error = writer.finish(&manifest(HeadSpec::Logits, &[joint_only(onnx)])).unwrap_err();
    assert_eq!(error, BundleError::InvalidManifest { reason });
    // An empty scorer section is refused like any empty model.
    let mut writer = BundleWriter::new();
    let onnx = writer.add(SectionKind::OnnxFp32, &payload(1, 64)).unwrap();
    writer.add_text_encoder(b"M", b"{}", 32, 384).unwrap();
    writer.add_denoiser(b"", feature).unwrap();
    let error = writer.finish(&manifest(HeadSpec::Logits, &[joint_only(onnx)])).unwrap_err();
    assert_eq!(error, BundleError::EmptySection { index: 4 });
}
