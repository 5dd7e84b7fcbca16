//! AC-SAR's three streams fused on the device: the committed bundles `models/zoo/acsar-utd-mhad.skb` and
//! `models/zoo/acsar-nw-ucla.skb` carry the joint, bone and motion models trained on each dataset (docs/models.md,
//! "AC-SAR"). `skelact eval` runs real test recordings through the device's path (its preprocessing makes the bone
//! and motion tensors, tract runs the three models, the runtime fuses their softmax) and must agree with PyTorch's
//! fused result for every sequence, which `skelact_models export-streams` wrote to
//! `models/zoo/acsar/<dataset>/device_reference.json`. Needs `../shared/datasets` (or `$SKELACT_DATASETS`) and
//! prints `SKIPPED: why` without it.

mod common;

use std::process::Command;

const SKELACT: &str = env!("CARGO_BIN_EXE_skelact");
const SEQUENCES: usize = 16;

#[test]
fn the_device_fuses_the_real_utd_mhad_joint_bone_and_motion_models_as_pytorch_does() {
    device_fuses_as_pytorch("utd-mhad");
}

#[test]
fn the_device_fuses_the_real_nw_ucla_joint_bone_and_motion_models_as_pytorch_does() {
    device_fuses_as_pytorch("nw-ucla");
}

fn device_fuses_as_pytorch(dataset: &str) {
    let Some(root) = common::datasets() else { return };
    let repo = common::repo_root();
    let bundle = repo.join(format!("models/zoo/acsar-{dataset}.skb"));
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo.join(format!("models/zoo/acsar/{dataset}/device_reference.json"))).unwrap(),
    )
    .unwrap();

    let info = Command::new(SKELACT).args(["info", bundle.to_str().unwrap()]).output().unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    for stream in ["joint", "bone", "motion"] {
        assert!(info.to_lowercase().contains(stream), "the bundle lists no {stream} stream:\n{info}");
    }

    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("eval.json");
    let output = Command::new(SKELACT)
        .args(["eval", "--dataset", dataset, "--root", root.to_str().unwrap(), "--threads", "1"])
        .args(["--bundle", bundle.to_str().unwrap(), "--limit", &SEQUENCES.to_string()])
        .args(["--json", json.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), SEQUENCES);

    let mut fusion_mattered = 0;
    for r in results {
        let name = r["name"].as_str().unwrap();
        // `skelact eval` names a sequence by its file stem ("a1_s2_t1_skeleton"), the reference by the dataset's name.
        let key = name.trim_end_matches("_skeleton");
        let expected = reference["sequences"].get(key).unwrap_or_else(|| panic!("{name} is not in the reference"));
        assert_eq!(r["window_frames"], r["frames"], "{name}: the whole sequence is one window, as in PyTorch");
        assert_eq!(r["top1"], expected["top1"], "{name}: device {r}, PyTorch {expected}");
        let (device, pytorch) = (r["score"].as_f64().unwrap(), expected["score"].as_f64().unwrap());
        assert!(
            (device - pytorch).abs() < 2e-3,
            "{name}: fused top probability {device} on the device, {pytorch} in PyTorch"
        );
        let joint_alone = expected["joint_score"].as_f64().unwrap();
        if (joint_alone - pytorch).abs() > 1e-2 {
            fusion_mattered += 1;
        }
    }
    // The bone and motion models change the scores: the device's figures are the fusion's, not the joint model's.
    assert!(fusion_mattered >= SEQUENCES / 2, "only {fusion_mattered} sequences differ from the joint model alone");
}

#[test]
fn the_three_stream_bundles_pass_their_own_self_tests_on_tract() {
    // The self-test windows are the joint stream's (training-split windows and onnxruntime's FP32 logits for them),
    // what `skelact install` runs before it writes a slot; no dataset is needed.
    for dataset in ["utd-mhad", "nw-ucla"] {
        let bundle = common::repo_root().join(format!("models/zoo/acsar-{dataset}.skb"));
        let slots = tempfile::tempdir().unwrap();
        let output = Command::new(SKELACT)
            .args(["install", bundle.to_str().unwrap(), "--allow-unsigned", "--backend", "tract"])
            .args(["--slots", slots.path().to_str().unwrap()])
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{dataset}: {text}");
        let passed = text.contains("self-test passed: 8 self-test windows") && text.contains("0 with another top-1");
        assert!(passed, "{dataset}: {text}");
    }
}
