//! Loading a bundle allocates nothing: parsing, every check, and building the configs and head a device needs.

use skelact_runtime::bundle::{
    AlignedBytes, Bundle, BundleWriter, DecisionParams, EncoderFamily, ExemplarStorage, HeadSpec, Label, Manifest,
    PreprocessParams, SectionKind, StreamKind, StreamModel, TensorSpec, ValidationSummary, WindowParams,
};
use skelact_runtime::decision::DecisionConfig;
use skelact_runtime::heapless::Vec as HVec;
use skelact_runtime::pipeline::Head;
use skelact_runtime::wire::LayoutId;
use skelact_tests::alloc_count::{counting, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn the_counter_sees_allocations() {
    let (_, n) = counting(|| std::hint::black_box(vec![1u8; 10]));
    assert!(n >= 1, "the counting allocator must see a Vec allocation");
}

#[test]
fn loading_a_bundle_allocates_nothing() {
    const DIM: u32 = 16;
    let mut writer = BundleWriter::new();
    let joint = writer.add(SectionKind::OnnxFp32, &[7u8; 1000]).unwrap();
    let bone = writer.add(SectionKind::OnnxInt8, &[9u8; 500]).unwrap();
    let weights: Vec<f32> = (0..3 * DIM + 3).map(|i| i as f32 * 0.01).collect();
    let linear = writer.add_linear_head(&weights[..3 * DIM as usize], Some(&weights[3 * DIM as usize..])).unwrap();
    let summary = writer.add(SectionKind::ValidationSummary, br#"{"ok":true}"#).unwrap();
    let stream =
        |stream, weight, fp32, int8| StreamModel { stream, weight, onnx_fp32: fp32, onnx_fp16: None, onnx_int8: int8 };
    let manifest = Manifest {
        model_name: "alloc-check",
        encoder: EncoderFamily::DualBranchGcn,
        layout: LayoutId::KinectV2,
        bodies: 2,
        preprocess: PreprocessParams { frames_out: 32, crop_ratio: 0.95, align: false },
        window: WindowParams {
            raw_frames: 64,
            stride_frames: 8,
            min_frames: 32,
            max_gap_frames: 10,
            timeout_us: 1_000_000,
            partner_max_distance_m: 1.5,
            min_confidence: 1,
        },
        streams: HVec::from_slice(&[
            stream(StreamKind::Joint, 0.7, Some(joint), None),
            stream(StreamKind::Bone, 0.3, None, Some(bone)),
        ])
        .unwrap(),
        input: TensorSpec { name: "skeleton", shape: HVec::from_slice(&[1, 3, 32, 25, 2]).unwrap() },
        output: TensorSpec { name: "embedding", shape: HVec::from_slice(&[1, DIM]).unwrap() },
        head: HeadSpec::Linear { section: linear, dim: DIM, bias: true },
        labels: [("sit down", 8), ("stand up", 9), ("clapping", 10)]
            .into_iter()
            .map(|(name, action_id)| Label { name, action_id })
            .collect(),
        decision: DecisionParams::from(DecisionConfig::default()),
        tensorrt: HVec::new(),
        checkpoint_sha256: [3; 32],
        validation: ValidationSummary { report_sha256: [4; 32], section: Some(summary), variants: HVec::new() },
    };
    let bytes = AlignedBytes::copy_from(&writer.finish(&manifest).unwrap());

    let (outcome, allocations) = counting(|| {
        let bundle = Bundle::open(bytes.as_bytes(), LayoutId::KinectV2)?;
        let m = bundle.manifest();
        let frontend = m.frontend_config(64)?;
        let actions = m.action_ids();
        let head = bundle.head(ExemplarStorage::none())?;
        let onnx = bundle.onnx(StreamKind::Bone, skelact_runtime::bundle::Precision::Int8).map(<[u8]>::len);
        let summary = bundle.validation_summary().map(str::len);
        Ok::<_, skelact_runtime::bundle::BundleError>((
            frontend.preprocess.frames_out,
            actions.len(),
            matches!(head, Head::Linear(_)),
            onnx,
            summary,
        ))
    });
    assert_eq!(outcome, Ok((32, 3, true, Some(500), Some(11))));
    assert_eq!(allocations, 0, "loading a bundle allocated {allocations} times");
}
