//! Feeds arbitrary bytes to the bundle reader, as they come and re-sealed, and uses whatever it accepts.
//! Run: `cargo +nightly fuzz run bundle fuzz/corpus/bundle fuzz/seeds/bundle` (from the repository root;
//! `cargo xtask ci` does this and installs cargo-fuzz when it is missing).
//!
//! A device loads bundles from files it did not write, so no byte sequence may make the reader panic, and a bundle
//! the reader accepts must keep every promise `Bundle::parse` makes to its accessors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skelact_runtime::bundle::{
    seal, AlignedBytes, Bundle, ComputeCapability, ExemplarStorage, Precision, StreamKind, TensorRtVersion,
};
use skelact_runtime::wire::LayoutId;

fuzz_target!(|data: &[u8]| {
    // As they come: the checksum refuses almost every input, so this mostly covers the container's first checks.
    exercise(data);
    // Re-sealed, so that the structural checks of the container and the manifest meet the mutations instead.
    let mut sealed = data.to_vec();
    if seal(&mut sealed).is_ok() {
        exercise(&sealed);
    }
});

fn exercise(data: &[u8]) {
    // Float sections are viewed in place, which needs aligned storage, as on a device.
    let bytes = AlignedBytes::copy_from(data);
    let Ok(bundle) = Bundle::parse(bytes.as_bytes()) else { return };
    let manifest = bundle.manifest();
    let _ = bundle.format_version();
    for section in bundle.sections() {
        let _ = bundle.f32_section(section.index);
    }
    for stream in [StreamKind::Joint, StreamKind::Bone, StreamKind::Motion] {
        for precision in [Precision::Fp32, Precision::Fp16, Precision::Int8] {
            let _ = bundle.onnx(stream, precision);
        }
        let runtime = TensorRtVersion { major: 10, minor: 3, patch: 0, build: 26 };
        let _ = bundle.tensorrt_engine(stream, runtime, ComputeCapability { major: 8, minor: 7 });
    }
    let _ = bundle.validation_summary();
    let _ = bundle.linear_head();
    let _ = bundle.text_head();
    // Storage smaller and larger than what the bundle may need: both must be answered, not panicked on.
    let mut embeddings = [0.0f32; 4096];
    let mut labels = [0u16; 64];
    let _ = bundle.head(ExemplarStorage { embeddings: &mut embeddings[..100], labels: &mut labels[..3] });
    let _ = bundle.head(ExemplarStorage { embeddings: &mut embeddings, labels: &mut labels });
    let _ = bundle.head(ExemplarStorage::none());
    let _ = manifest.check_layout(LayoutId::KinectV2);
    let _ = manifest.frontend_config(manifest.window.raw_frames as usize);
    let _ = manifest.frontend_config(64);
    let _ = manifest.decision_config().validate();
    let _ = (manifest.tensor_len(), manifest.output_len(), manifest.action_ids(), manifest.fusion_weights());
    let _ = (manifest.precisions(), manifest.preprocess_streams());
}
