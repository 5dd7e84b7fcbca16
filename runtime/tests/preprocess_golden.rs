//! Golden vectors of preprocessing (`docs/preprocessing.md`), shared with the Python training code.
//!
//! `cargo test -p skelact-runtime --test preprocess_golden` checks the implementation against every
//! `tests/fixtures/preprocess/*.json` (max abs error 1e-6). With `SKELACT_BLESS=1` it first regenerates them from
//! the cases below: deterministic synthetic skeletons (a seeded PRNG drives a posed template), so the files change
//! only when the cases or the implementation do. Review a re-blessed diff like code: the Python side must agree.

use serde::{Deserialize, Serialize};
use skelact_runtime::preprocess::{mask_len, tensor_len, Outputs, PreprocessConfig, Preprocessor, Streams};
use skelact_runtime::skeleton::{joint, Pose, NTU_JOINTS};
use skelact_runtime::window::WindowFrames;
use std::path::{Path, PathBuf};

/// Largest `frames_in` of any case.
const MAX_FRAMES: usize = 64;
const TOLERANCE: f32 = 1e-6;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct CaseConfig {
    frames_out: usize,
    crop_ratio: f64,
    align: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct CaseBody {
    present: Vec<bool>,
    joints: Vec<[[f32; 3]; NTU_JOINTS]>,
    valid: Vec<[bool; NTU_JOINTS]>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Expected {
    joint: Vec<f32>,
    bone: Vec<f32>,
    motion: Vec<f32>,
    /// The missing mask `[1, T, 25, 2]`: 1.0 where a joint sample the output depends on was missing.
    missing: Vec<f32>,
    /// Missing entries over the entries inside a body's range (`docs/preprocessing.md`, "The missing mask").
    missing_fraction: f32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Case {
    name: String,
    description: String,
    config: CaseConfig,
    frames_in: usize,
    bodies: Vec<CaseBody>,
    shape: [usize; 4],
    expected: Option<Expected>,
    error: Option<String>,
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/preprocess")
}

/// Runs the implementation on a case's inputs: the tensors, or the error code.
fn evaluate(case: &Case) -> Result<Expected, String> {
    assert_eq!(case.bodies.len(), 2, "{}: two bodies", case.name);
    let mut window = WindowFrames::<MAX_FRAMES>::new();
    for f in 0..case.frames_in {
        let pose = |b: &CaseBody| Pose { joints: b.joints[f], valid: b.valid[f] };
        let (p0, p1) = (pose(&case.bodies[0]), pose(&case.bodies[1]));
        window
            .push(case.bodies[0].present[f].then_some(&p0), case.bodies[1].present[f].then_some(&p1))
            .expect("case fits the window");
    }
    let config = PreprocessConfig {
        frames_out: case.config.frames_out,
        crop_ratio: case.config.crop_ratio,
        align: case.config.align,
        streams: Streams::ALL,
    };
    let mut preprocessor = Preprocessor::<MAX_FRAMES>::new(config).map_err(|e| e.code().to_string())?;
    let n = tensor_len(case.config.frames_out);
    let mut out = Expected {
        joint: vec![0.0; n],
        bone: vec![0.0; n],
        motion: vec![0.0; n],
        missing: vec![f32::NAN; mask_len(case.config.frames_out)],
        missing_fraction: f32::NAN,
    };
    let outputs =
        Outputs { joint: &mut out.joint, bone: &mut out.bone, motion: &mut out.motion, missing: &mut out.missing };
    preprocessor.run(&window, outputs).map_err(|e| e.code().to_string())?;
    out.missing_fraction = preprocessor.missing().fraction();
    Ok(out)
}

fn max_abs_error(expected: &[f32], actual: &[f32]) -> f32 {
    assert_eq!(expected.len(), actual.len());
    expected.iter().zip(actual).map(|(e, a)| (e - a).abs()).fold(0.0, f32::max)
}

#[test]
fn golden_vectors_match_the_implementation() {
    let dir = fixture_dir();
    if std::env::var("SKELACT_BLESS").as_deref() == Ok("1") {
        bless(&dir);
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run with SKELACT_BLESS=1 to create)", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| path.file_stem().expect("file name").to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut wanted: Vec<String> = cases().into_iter().map(|c| c.name).collect();
    wanted.sort();
    assert_eq!(names, wanted, "fixture files differ from the cases; run with SKELACT_BLESS=1");

    for name in names {
        let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("readable fixture");
        let case: Case = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(case.name, name);
        assert_eq!(case.shape, [3, case.config.frames_out, NTU_JOINTS, 2], "{name}");
        for body in &case.bodies {
            assert_eq!(
                [body.present.len(), body.joints.len(), body.valid.len()],
                [case.frames_in; 3],
                "{name}: per-frame arrays"
            );
        }
        match (evaluate(&case), &case.expected, &case.error) {
            (Ok(actual), Some(expected), None) => {
                for (stream, e, a) in [
                    ("joint", &expected.joint, &actual.joint),
                    ("bone", &expected.bone, &actual.bone),
                    ("motion", &expected.motion, &actual.motion),
                ] {
                    let error = max_abs_error(e, a);
                    assert!(error <= TOLERANCE, "{name}: {stream} differs by {error:e}");
                }
                // The mask is 0 or 1 and the fraction a ratio of counts: both exact.
                assert_eq!(expected.missing, actual.missing, "{name}: missing mask");
                assert_eq!(expected.missing_fraction, actual.missing_fraction, "{name}: missing fraction");
            }
            (Err(code), None, Some(error)) => assert_eq!(&code, error, "{name}"),
            (result, _, error) => panic!("{name}: got {:?}, fixture expects error {error:?}", result.err()),
        }
    }
}

/// Writes every case with its expected output, after checking that each file reads back bit for bit.
fn bless(dir: &Path) {
    std::fs::create_dir_all(dir).expect("create fixture directory");
    for entry in std::fs::read_dir(dir).expect("fixture directory") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            std::fs::remove_file(&path).expect("remove stale fixture");
        }
    }
    for mut case in cases() {
        match evaluate(&case) {
            Ok(expected) => case.expected = Some(expected),
            Err(code) => case.error = Some(code),
        }
        let text = to_json(&case);
        let back: Case = serde_json::from_str(&text).expect("generated JSON parses");
        assert_eq!(bits(&back), bits(&case), "{}: floats must round-trip", case.name);
        std::fs::write(dir.join(format!("{}.json", case.name)), text).expect("write fixture");
    }
}

/// Every float of a case as bits, to compare round trips exactly.
fn bits(case: &Case) -> Vec<u32> {
    let inputs = case.bodies.iter().flat_map(|b| b.joints.iter().flatten().flatten().copied());
    let outputs = case.expected.iter().flat_map(|e| {
        e.joint.iter().chain(&e.bone).chain(&e.motion).chain(&e.missing).chain([&e.missing_fraction]).copied()
    });
    inputs.chain(outputs).map(f32::to_bits).collect()
}

/// JSON with one key per line and one frame per line, so that diffs stay readable. serde_json writes f32 values
/// in their shortest round-trip form.
fn to_json(case: &Case) -> String {
    let mut bodies = Vec::new();
    for body in &case.bodies {
        let frames: Vec<String> = body.joints.iter().map(json).collect();
        let valid: Vec<String> = body.valid.iter().map(json).collect();
        bodies.push(format!(
            "{{\"present\": {},\n\"joints\": [\n{}\n],\n\"valid\": [\n{}\n]}}",
            json(&body.present),
            frames.join(",\n"),
            valid.join(",\n")
        ));
    }
    let expected = match &case.expected {
        None => "null".to_string(),
        Some(e) => format!(
            "{{\n\"joint\": {},\n\"bone\": {},\n\"motion\": {},\n\"missing\": {},\n\"missing_fraction\": {}\n}}",
            json(&e.joint),
            json(&e.bone),
            json(&e.motion),
            json(&e.missing),
            json(&e.missing_fraction)
        ),
    };
    format!(
        "{{\n\"name\": {},\n\"description\": {},\n\"config\": {},\n\"frames_in\": {},\n\"bodies\": [\n{}\n],\n\
         \"shape\": {},\n\"expected\": {},\n\"error\": {}\n}}\n",
        json(&case.name),
        json(&case.description),
        json(&case.config),
        case.frames_in,
        bodies.join(",\n"),
        json(&case.shape),
        expected,
        json(&case.error),
    )
}

/// Compact JSON of one part.
fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("serializable")
}

// ---------------------------------------------------------------------------------------------------------------
// Synthetic skeletons.

/// splitmix64: tiny, seeded, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.uniform(0.0, 1.0) < p
    }
}

/// An adult standing upright facing the sensor, SpineBase at the origin, metres, Kinect axes (+x to the sensor's
/// left, which is the person's right; +y up; +z away from the sensor, so toes point to -z).
const TEMPLATE: [[f64; 3]; NTU_JOINTS] = [
    [0.0, 0.0, 0.0],       // SpineBase
    [0.0, 0.30, 0.01],     // SpineMid
    [0.0, 0.60, 0.02],     // Neck
    [0.0, 0.74, 0.0],      // Head
    [-0.18, 0.50, 0.02],   // ShoulderLeft
    [-0.24, 0.24, 0.03],   // ElbowLeft
    [-0.26, 0.01, 0.0],    // WristLeft
    [-0.26, -0.07, -0.01], // HandLeft
    [0.18, 0.50, 0.02],    // ShoulderRight
    [0.24, 0.24, 0.03],    // ElbowRight
    [0.26, 0.01, 0.0],     // WristRight
    [0.26, -0.07, -0.01],  // HandRight
    [-0.09, -0.03, 0.0],   // HipLeft
    [-0.10, -0.45, -0.02], // KneeLeft
    [-0.10, -0.85, 0.02],  // AnkleLeft
    [-0.11, -0.90, -0.08], // FootLeft
    [0.09, -0.03, 0.0],    // HipRight
    [0.10, -0.45, -0.02],  // KneeRight
    [0.10, -0.85, 0.02],   // AnkleRight
    [0.11, -0.90, -0.08],  // FootRight
    [0.0, 0.53, 0.02],     // SpineShoulder
    [-0.27, -0.15, -0.01], // HandTipLeft
    [-0.23, -0.08, -0.04], // ThumbLeft
    [0.27, -0.15, -0.01],  // HandTipRight
    [0.23, -0.08, -0.04],  // ThumbRight
];

const LEFT_FOREARM: [usize; 5] =
    [joint::ELBOW_LEFT, joint::WRIST_LEFT, joint::HAND_LEFT, joint::HAND_TIP_LEFT, joint::THUMB_LEFT];
const RIGHT_FOREARM: [usize; 5] =
    [joint::ELBOW_RIGHT, joint::WRIST_RIGHT, joint::HAND_RIGHT, joint::HAND_TIP_RIGHT, joint::THUMB_RIGHT];

/// One person's trajectory: where they stand, how they face, and how they wave.
struct Actor {
    position: [f64; 3],
    velocity: [f64; 3],
    yaw: f64,
    lean: f64,
    wave: [(f64, f64, f64); 2],
}

impl Actor {
    fn random(rng: &mut Rng, x: (f64, f64), z: (f64, f64), yaw: (f64, f64)) -> Actor {
        let mut wave = || (rng.uniform(0.3, 1.4), rng.uniform(0.1, 0.5), rng.uniform(0.0, std::f64::consts::TAU));
        let wave = [wave(), wave()];
        Actor {
            position: [rng.uniform(x.0, x.1), rng.uniform(-0.5, -0.2), rng.uniform(z.0, z.1)],
            velocity: [rng.uniform(-0.01, 0.01), 0.0, rng.uniform(-0.01, 0.01)],
            yaw: rng.uniform(yaw.0, yaw.1),
            // Lean plus sensor tilt: the spine is never exactly vertical in camera space.
            lean: rng.uniform(-0.25, 0.15),
            wave,
        }
    }

    /// Pose at `frame`, every joint valid, with ±3 mm sensor noise.
    fn pose(&self, frame: usize, rng: &mut Rng) -> Pose {
        let mut local = TEMPLATE;
        let t = frame as f64;
        for (side, (forearm, shoulder, sign)) in
            [(LEFT_FOREARM, joint::SHOULDER_LEFT, -1.0), (RIGHT_FOREARM, joint::SHOULDER_RIGHT, 1.0)]
                .into_iter()
                .enumerate()
        {
            // Raise the arm sideways about the shoulder (abduction), up to `amplitude` radians.
            let (amplitude, speed, phase) = self.wave[side];
            let angle = sign * amplitude * 0.5 * (1.0 - (speed * t + phase).cos());
            let pivot = TEMPLATE[shoulder];
            for v in forearm {
                let (dx, dy) = (local[v][0] - pivot[0], local[v][1] - pivot[1]);
                local[v][0] = pivot[0] + dx * angle.cos() - dy * angle.sin();
                local[v][1] = pivot[1] + dx * angle.sin() + dy * angle.cos();
            }
        }
        let (sl, cl, sy, cy) = (self.lean.sin(), self.lean.cos(), self.yaw.sin(), self.yaw.cos());
        let mut pose = Pose::MISSING;
        for (v, &[x, y, z]) in local.iter().enumerate() {
            let (y1, z1) = (y * cl - z * sl, y * sl + z * cl);
            let (x2, z2) = (x * cy + z1 * sy, -x * sy + z1 * cy);
            let world = [
                x2 + self.position[0] + self.velocity[0] * t,
                y1 + self.position[1] + self.velocity[1] * t,
                z2 + self.position[2] + self.velocity[2] * t,
            ];
            for (out, w) in pose.joints[v].iter_mut().zip(world) {
                *out = (w + rng.uniform(-0.003, 0.003)) as f32;
            }
            pose.valid[v] = true;
        }
        pose
    }
}

/// A body's frames under construction.
struct Builder {
    body: CaseBody,
}

impl Builder {
    fn new(actor: &Actor, frames: usize, rng: &mut Rng) -> Builder {
        let poses: Vec<Pose> = (0..frames).map(|f| actor.pose(f, rng)).collect();
        Builder {
            body: CaseBody {
                present: vec![true; frames],
                joints: poses.iter().map(|p| p.joints).collect(),
                valid: poses.iter().map(|p| p.valid).collect(),
            },
        }
    }

    /// A body that is never there: junk joints the preprocessing must ignore.
    fn nobody(frames: usize, rng: &mut Rng) -> Builder {
        let mut builder = Builder::new(&Actor::random(rng, (-1.0, 1.0), (2.0, 3.0), (-0.5, 0.5)), frames, rng);
        builder.body.present = vec![false; frames];
        builder
    }

    /// Marks frames absent. Their joints stay in the file (a sensor's stale data) and must be ignored.
    fn absent(mut self, frames: impl IntoIterator<Item = usize>) -> Builder {
        for f in frames {
            self.body.present[f] = false;
        }
        self
    }

    /// Marks joint `v` invalid in `frames`, overwriting it with junk (as sensors do: zeros or a stale guess).
    fn missing(mut self, v: usize, frames: impl IntoIterator<Item = usize>, rng: &mut Rng) -> Builder {
        for f in frames {
            self.body.valid[f][v] = false;
            self.body.joints[f][v] = if rng.chance(0.5) {
                [0.0; 3]
            } else {
                [rng.uniform(-2.0, 2.0) as f32, rng.uniform(-2.0, 2.0) as f32, rng.uniform(0.5, 4.0) as f32]
            };
        }
        self
    }

    /// Drops each joint of each frame with probability `p` (never the root, so that the body stays usable).
    fn random_dropout(mut self, p: f64, rng: &mut Rng) -> Builder {
        let frames = self.body.present.len();
        for f in 0..frames {
            for v in 0..NTU_JOINTS {
                if v != joint::SPINE_SHOULDER && rng.chance(p) {
                    self = self.missing(v, [f], rng);
                }
            }
        }
        self
    }

    fn build(self) -> CaseBody {
        self.body
    }
}

fn case(name: &str, description: &str, config: (usize, f64, bool), bodies: [CaseBody; 2]) -> Case {
    let (frames_out, crop_ratio, align) = config;
    Case {
        name: name.to_string(),
        description: description.to_string(),
        config: CaseConfig { frames_out, crop_ratio, align },
        frames_in: bodies[0].present.len(),
        bodies: bodies.to_vec(),
        shape: [3, frames_out, NTU_JOINTS, 2],
        expected: None,
        error: None,
    }
}

/// Body 0 somewhere in the sensor's view, and a partner about a metre to its side, facing it.
fn pair(rng: &mut Rng) -> (Actor, Actor) {
    let a = Actor::random(rng, (-0.8, -0.3), (2.2, 2.8), (-0.9, -0.5));
    let mut b = Actor::random(rng, (0.3, 0.8), (2.2, 2.8), (0.5, 0.9));
    b.position[2] = a.position[2] + rng.uniform(-0.3, 0.3);
    (a, b)
}

fn cases() -> Vec<Case> {
    let mut rng = Rng(0x5ce1_ac70_2024);
    let rng = &mut rng;
    let mut cases = Vec::new();

    let actor = Actor::random(rng, (-0.5, 0.5), (1.8, 3.0), (-0.4, 0.4));
    let f = 40;
    cases.push(case(
        "single_body_clean",
        "One body, every joint valid in every frame, no partner. F=40, crop 0.95 keeps frames [1, 39) (L=38), \
         resized down to T=16.",
        (16, 0.95, false),
        [Builder::new(&actor, f, rng).build(), Builder::nobody(f, rng).build()],
    ));

    let actor = Actor::random(rng, (-0.5, 0.5), (1.8, 3.0), (-0.4, 0.4));
    let f = 48;
    let mut body = Builder::new(&actor, f, rng)
        .random_dropout(0.12, rng)
        .absent([9, 10, 11, 30])
        .missing(joint::HEAD, 0..5, rng)
        .missing(joint::WRIST_RIGHT, 40..48, rng)
        .build();
    // A joint marked valid but out of range (beyond 1000 m) counts as not observed.
    body.joints[20][joint::KNEE_LEFT] = [1500.0, 0.0, 2.0];
    cases.push(case(
        "missing_joints_and_frame_gaps",
        "One body with 12% random joint dropout, absent frames 9-11 and 30 (interpolated across), Head missing in \
         the first 5 frames (held from frame 5), WristRight missing in the last 8 (held), and a valid-flagged \
         KneeLeft at 1500 m in frame 20 (not observed). F=48, crop 0.95 (bias 1), T=32.",
        (32, 0.95, false),
        [body, Builder::nobody(f, rng).build()],
    ));

    let actor = Actor::random(rng, (-0.5, 0.5), (1.8, 3.0), (-0.4, 0.4));
    let f = 24;
    let mut body = Builder::new(&actor, f, rng).random_dropout(0.05, rng);
    for v in [
        joint::HAND_LEFT,
        joint::THUMB_LEFT,
        joint::HAND_TIP_LEFT,
        joint::HEAD,
        joint::KNEE_RIGHT,
        joint::ANKLE_RIGHT,
        joint::FOOT_RIGHT,
    ] {
        body = body.missing(v, 0..f, rng);
    }
    cases.push(case(
        "joints_never_observed",
        "HandLeft/ThumbLeft/HandTipLeft (a chain: all take WristLeft), Head (takes Neck) and \
         KneeRight/AnkleRight/FootRight (take HipRight) are never observed; 5% dropout elsewhere. F=24, crop 1.0, \
         upsampled to T=32, aligned.",
        (32, 1.0, true),
        [body.build(), Builder::nobody(f, rng).build()],
    ));

    let (a, b) = pair(rng);
    let f = 40;
    cases.push(case(
        "partner_enters_mid_window",
        "Two bodies; the partner is absent in frames 0-16, present from 17 with frames 25-26 absent and 10% joint \
         dropout. F=40, crop 0.95, T=32, aligned.",
        (32, 0.95, true),
        [
            Builder::new(&a, f, rng).random_dropout(0.03, rng).build(),
            Builder::new(&b, f, rng).absent((0..17).chain([25, 26])).random_dropout(0.1, rng).build(),
        ],
    ));

    let (a, b) = pair(rng);
    let f = 12;
    cases.push(case(
        "partner_leaves_upsampled",
        "Two bodies; the partner is present in frames 0-6 then leaves. F=12, crop 0.95 (bias 0), upsampled to T=32, \
         not aligned.",
        (32, 0.95, false),
        [Builder::new(&a, f, rng).build(), Builder::new(&b, f, rng).absent(7..f).build()],
    ));

    let (a, b) = pair(rng);
    let f = 64;
    cases.push(case(
        "long_window_downsampled_aligned",
        "Two bodies over 64 frames with light dropout. Crop 0.95 keeps [1, 63) (L=62), downsampled to T=16, \
         aligned.",
        (16, 0.95, true),
        [
            Builder::new(&a, f, rng).random_dropout(0.02, rng).build(),
            Builder::new(&b, f, rng).random_dropout(0.02, rng).build(),
        ],
    ));

    let (a, b) = pair(rng);
    let f = 32;
    cases.push(case(
        "identity_resize_partner_without_root",
        "F=T=32 with crop 1.0: the resize is the identity. The partner is present but its SpineShoulder is never \
         observed, so it counts as absent (all zeros).",
        (32, 1.0, false),
        [Builder::new(&a, f, rng).build(), Builder::new(&b, f, rng).missing(joint::SPINE_SHOULDER, 0..f, rng).build()],
    ));

    let actor = Actor::random(rng, (-0.5, 0.5), (1.8, 3.0), (-0.4, 0.4));
    let f = 20;
    cases.push(case(
        "degenerate_spine_alignment",
        "SpineBase is never observed, so it takes SpineMid's value: the spine vector is zero and the first \
         rotation is the identity; the shoulder rotation still applies. Crop 0.9 of 20 frames: (1 - 0.9) * 20 / 2 \
         is 0.9999999999999998 in f64, so the bias is 0. T=16.",
        (16, 0.9, true),
        [Builder::new(&actor, f, rng).missing(joint::SPINE_BASE, 0..f, rng).build(), Builder::nobody(f, rng).build()],
    ));

    let actor = Actor::random(rng, (-0.5, 0.5), (1.8, 3.0), (-0.4, 0.4));
    cases.push(case(
        "single_frame",
        "F=1 with some joints missing (they take their parents' values); every output frame is that frame and the \
         motion stream is zero. T=16, aligned.",
        (16, 0.95, true),
        [Builder::new(&actor, 1, rng).random_dropout(0.2, rng).build(), Builder::nobody(1, rng).build()],
    ));

    let actor = Actor::random(rng, (-0.5, 0.5), (1.8, 3.0), (-0.4, 0.4));
    let f = 20;
    cases.push(case(
        "refused_body0_without_root",
        "Body 0 never has SpineShoulder observed: the window is refused.",
        (16, 0.95, false),
        [
            Builder::new(&actor, f, rng).missing(joint::SPINE_SHOULDER, 0..f, rng).build(),
            Builder::nobody(f, rng).build(),
        ],
    ));

    let (a, b) = pair(rng);
    let f = 16;
    cases.push(case(
        "refused_body0_absent_at_end",
        "Body 0 is absent in the last frame (the partner is present): the window is refused.",
        (16, 0.95, false),
        [Builder::new(&a, f, rng).absent([f - 1]).build(), Builder::new(&b, f, rng).build()],
    ));

    cases
}
