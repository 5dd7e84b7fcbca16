//! The Kinect v1 readers on the real NW-UCLA and UTD-MHAD files in `../shared/datasets` (or `$SKELACT_DATASETS`):
//! every file reads, the sequence and frame counts and the standard splits are the datasets' own, and frames match
//! the golden frames the desktop reader wrote (`tests/fixtures/layouts/kinect_v1.json`). Says `SKIPPED: ...` where
//! the datasets are absent.

use std::path::{Path, PathBuf};

use skelact_formats::kinect_v1::{parse_nwucla, parse_utdmhad, to_protocol_frames, Dataset, KinectV1Frame, Split};
use skelact_formats::{read_messages, InputFormat};
use skelact_runtime::wire::{LayoutId, Message};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn datasets() -> Option<PathBuf> {
    let dir = std::env::var_os("SKELACT_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/datasets"));
    if dir.join("nw-ucla/all_sqe").is_dir() && dir.join("utd-mhad").is_dir() {
        Some(dir)
    } else {
        println!("SKIPPED: real datasets not found at {} (set SKELACT_DATASETS)", dir.display());
        None
    }
}

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    found.sort();
    found
}

/// The number after `prefix` in a file name's `_`-separated fields, e.g. `v` in `a01_s01_e00_v03`.
fn field(path: &Path, prefix: char) -> u32 {
    let stem = path.file_stem().unwrap().to_str().unwrap();
    stem.split('_').find_map(|f| f.strip_prefix(prefix)?.parse().ok()).unwrap()
}

#[test]
fn every_nwucla_sequence_reads_with_the_cross_view_split() {
    let Some(root) = datasets() else { return };
    let paths = files(&root.join("nw-ucla/all_sqe"), "json");
    assert_eq!(paths.len(), 1484);
    let (mut train, mut test, mut shortest, mut longest) = (0, 0, usize::MAX, 0);
    for path in &paths {
        let frames = parse_nwucla(&std::fs::read_to_string(path).unwrap()).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        shortest = shortest.min(frames.len());
        longest = longest.max(frames.len());
        match field(path, 'v') {
            1 | 2 => train += 1,
            3 => test += 1,
            view => panic!("{path:?}: view {view}"),
        }
    }
    assert_eq!((train, test), (1020, 464));
    let test_split = Dataset::NwUcla.sequences(&root, Some(Split::Test)).unwrap();
    assert_eq!(test_split.len(), 464);
    let first = &test_split[0];
    assert_eq!((first.label, Dataset::NwUcla.classes()[first.label]), (0, "pick up with one hand"));
    assert_eq!((shortest, longest), (1, 201), "frame counts as PROVENANCE.md states");
}

#[test]
fn every_utdmhad_sequence_reads_with_the_cross_subject_split() {
    let Some(root) = datasets() else { return };
    let paths = files(&root.join("utd-mhad"), "mat");
    assert_eq!(paths.len(), 861);
    let (mut train, mut test, mut shortest, mut longest) = (0, 0, usize::MAX, 0);
    for path in &paths {
        let frames = parse_utdmhad(&std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        shortest = shortest.min(frames.len());
        longest = longest.max(frames.len());
        let action = field(path, 'a');
        assert!((1..=27).contains(&action), "{path:?}");
        if field(path, 's') % 2 == 1 {
            train += 1;
        } else {
            test += 1;
        }
    }
    assert_eq!(train + test, 861);
    let listed = |split| Dataset::UtdMhad.sequences(&root, Some(split)).unwrap().len();
    assert_eq!((listed(Split::Train), listed(Split::Test)), (train, test));
    assert_eq!((shortest, longest), (41, 125), "frame counts as PROVENANCE.md states");
    println!("UTD-MHAD cross-subject: {train} training, {test} test sequences");
    // The head is the highest joint of a standing person in Kinect camera axes (+y up) in SDK order.
    let first = parse_utdmhad(&std::fs::read(root.join("utd-mhad/a1_s1_t1_skeleton.mat")).unwrap()).unwrap();
    let highest = (0..20).max_by(|&a, &b| first[0][a][1].total_cmp(&first[0][b][1])).unwrap();
    assert_eq!(highest, skelact_runtime::layout::kinect_v1::HEAD);
}

#[test]
fn frames_equal_the_desktop_readers_golden_frames() {
    let Some(root) = datasets() else { return };
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/fixtures/layouts/kinect_v1.json")).unwrap(),
    )
    .unwrap();
    let frames = golden["frames"].as_array().unwrap();
    assert!(frames.len() >= 2);
    for entry in frames {
        let source = entry["source"].as_str().unwrap();
        let name = source.split_whitespace().nth(1).unwrap();
        let read: Vec<KinectV1Frame> = match entry["dataset"].as_str().unwrap() {
            "nw-ucla" => {
                parse_nwucla(&std::fs::read_to_string(root.join(format!("nw-ucla/all_sqe/{name}.json"))).unwrap())
                    .unwrap()
            }
            "utd-mhad" => {
                parse_utdmhad(&std::fs::read(root.join(format!("utd-mhad/{name}_skeleton.mat"))).unwrap()).unwrap()
            }
            other => panic!("unknown dataset {other}"),
        };
        let index = entry["frame"].as_u64().unwrap() as usize;
        for (j, xyz) in entry["joints"].as_array().unwrap().iter().enumerate() {
            for (c, value) in xyz.as_array().unwrap().iter().enumerate() {
                assert_eq!(read[index][j][c], value.as_f64().unwrap() as f32, "{source}: joint {j}, axis {c}");
            }
        }
    }
}

#[test]
fn a_dataset_file_replays_as_a_kinect_v1_stream() {
    let Some(root) = datasets() else { return };
    let path = root.join("utd-mhad/a1_s1_t1_skeleton.mat");
    let messages = read_messages(&path, InputFormat::from_path(&path)).unwrap();
    let Message::Hello(hello) = &messages[0] else { panic!("a stream starts with Hello") };
    assert_eq!(hello.layout, LayoutId::KinectV1);
    let frames = parse_utdmhad(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(messages.len(), frames.len() + 1);
    assert_eq!(messages[1..], to_protocol_frames(&frames).into_iter().map(Message::Frame).collect::<Vec<_>>());
}
