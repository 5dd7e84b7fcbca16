//! Tests of the layout tables and of `map_body`, plus the check that `docs/layouts.md` shows the tables as they are.

extern crate std;

use std::format;
use std::string::String;
use std::vec::Vec;

use super::*;
use crate::skeleton::{joint, NTU_JOINT_NAMES};

const ALL_LAYOUTS: [LayoutId; 8] = [
    LayoutId::KinectV2,
    LayoutId::AzureKinect32,
    LayoutId::ZedBody34,
    LayoutId::ZedBody38,
    LayoutId::MediaPipe33,
    LayoutId::XsensMvn23,
    LayoutId::KinectV1,
    LayoutId::OpenNi15,
];

const ALL_AXES: [Axes; 4] =
    [Axes::XLeftYUpZForward, Axes::XRightYDownZForward, Axes::XRightYUpZBackward, Axes::XForwardYLeftZUp];

// ---------------------------------------------------------------------------------------------------------------
// Tables

#[test]
fn each_layout_has_its_joint_count_and_unique_names() {
    let module_counts = [
        (LayoutId::KinectV2, kinect_v2::JOINT_COUNT, 25),
        (LayoutId::AzureKinect32, azure_kinect::JOINT_COUNT, 32),
        (LayoutId::ZedBody34, zed_body34::JOINT_COUNT, 34),
        (LayoutId::ZedBody38, zed_body38::JOINT_COUNT, 38),
        (LayoutId::MediaPipe33, mediapipe::JOINT_COUNT, 33),
        (LayoutId::XsensMvn23, xsens_mvn::JOINT_COUNT, 23),
        (LayoutId::KinectV1, kinect_v1::JOINT_COUNT, 20),
        (LayoutId::OpenNi15, openni15::JOINT_COUNT, 15),
    ];
    for (layout, module_count, sdk_count) in module_counts {
        assert_eq!(layout.joint_count(), sdk_count, "{layout:?}");
        assert_eq!(module_count, sdk_count, "{layout:?}");
        let names = joint_names(layout);
        assert_eq!(names.len(), sdk_count, "{layout:?}");
        for (i, a) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(a), "{layout:?}: {a} twice");
        }
        assert!(sdk_count <= crate::wire::MAX_JOINTS);
    }
}

#[test]
fn every_rule_reads_only_joints_the_layout_has() {
    for layout in ALL_LAYOUTS {
        for (ntu, rule) in rules(layout).iter().enumerate() {
            let (inputs, len) = rule.inputs();
            for &input in &inputs[..len] {
                assert!(input < layout.joint_count(), "{layout:?} {}: reads {input}", NTU_JOINT_NAMES[ntu]);
            }
        }
    }
}

#[test]
fn index_constants_name_the_joint_at_that_index() {
    // Spot checks that the named constants, the name tables and the SDK orders agree.
    let checks: &[(LayoutId, usize, &str)] = &[
        (LayoutId::AzureKinect32, azure_kinect::PELVIS, "PELVIS"),
        (LayoutId::AzureKinect32, azure_kinect::NECK, "NECK"),
        (LayoutId::AzureKinect32, azure_kinect::HANDTIP_RIGHT, "HANDTIP_RIGHT"),
        (LayoutId::AzureKinect32, azure_kinect::FOOT_RIGHT, "FOOT_RIGHT"),
        (LayoutId::AzureKinect32, azure_kinect::HEAD, "HEAD"),
        (LayoutId::AzureKinect32, azure_kinect::EAR_RIGHT, "EAR_RIGHT"),
        (LayoutId::ZedBody34, zed_body34::HEAD, "HEAD"),
        (LayoutId::ZedBody34, zed_body34::RIGHT_HEEL, "RIGHT_HEEL"),
        (LayoutId::ZedBody38, zed_body38::NECK, "NECK"),
        (LayoutId::ZedBody38, zed_body38::LEFT_HIP, "LEFT_HIP"),
        (LayoutId::ZedBody38, zed_body38::LEFT_HAND_THUMB_4, "LEFT_HAND_THUMB_4"),
        (LayoutId::ZedBody38, zed_body38::RIGHT_HAND_PINKY_1, "RIGHT_HAND_PINKY_1"),
        (LayoutId::MediaPipe33, mediapipe::LEFT_SHOULDER, "LEFT_SHOULDER"),
        (LayoutId::MediaPipe33, mediapipe::LEFT_HIP, "LEFT_HIP"),
        (LayoutId::MediaPipe33, mediapipe::RIGHT_FOOT_INDEX, "RIGHT_FOOT_INDEX"),
        (LayoutId::XsensMvn23, xsens_mvn::T12, "T12"),
        (LayoutId::XsensMvn23, xsens_mvn::RIGHT_HAND, "RightHand"),
        (LayoutId::XsensMvn23, xsens_mvn::LEFT_TOE, "LeftToe"),
        (LayoutId::KinectV1, kinect_v1::HIP_CENTER, "HipCenter"),
        (LayoutId::KinectV1, kinect_v1::SHOULDER_CENTER, "ShoulderCenter"),
        (LayoutId::KinectV1, kinect_v1::HAND_LEFT, "HandLeft"),
        (LayoutId::KinectV1, kinect_v1::HIP_LEFT, "HipLeft"),
        (LayoutId::KinectV1, kinect_v1::FOOT_RIGHT, "FootRight"),
        (LayoutId::OpenNi15, openni15::NECK, "NECK"),
        (LayoutId::OpenNi15, openni15::RIGHT_HAND, "RIGHT_HAND"),
        (LayoutId::OpenNi15, openni15::TORSO, "TORSO"),
        (LayoutId::OpenNi15, openni15::RIGHT_FOOT, "RIGHT_FOOT"),
    ];
    for &(layout, index, name) in checks {
        assert_eq!(joint_names(layout)[index], name, "{layout:?}");
    }
    // BODY_34 starts with k4abt's 32 joints in k4abt's order.
    assert_eq!(zed_body34::TO_NTU, azure_kinect::TO_NTU);
}

// ---------------------------------------------------------------------------------------------------------------
// Axes

fn det(m: [[i8; 3]; 3]) -> i32 {
    let m = m.map(|row| row.map(i32::from));
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

#[test]
fn every_axis_conversion_is_a_proper_rotation() {
    for axes in ALL_AXES {
        let m = rotation_to_model(axes);
        assert_eq!(det(m), 1, "{axes:?} must not mirror");
        // Orthonormal: M · Mᵀ = I.
        for r in 0..3 {
            for c in 0..3 {
                let dot: i32 = (0..3).map(|k| i32::from(m[r][k]) * i32::from(m[c][k])).sum();
                assert_eq!(dot, i32::from(r == c), "{axes:?}");
            }
        }
        // `to_model_axes` applies exactly this matrix.
        let v = [0.1f32, -2.5, 7.25];
        let by_matrix: Vec3 = core::array::from_fn(|r| (0..3).map(|c| f32::from(m[r][c]) * v[c]).sum());
        assert_eq!(to_model_axes(axes, v), by_matrix, "{axes:?}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// A synthetic person in a T-pose, facing the sensor.
//
// Body points are given in the person's own frame: (to the person's left, up, forward = towards the sensor), in
// metres, with Kinect v2's proportions as measured on the NTU fixtures where Kinect has the point.

#[derive(Clone, Copy, PartialEq, Debug)]
enum Side {
    Left,
    Right,
    Centre,
}

fn body_point(part: &str, side: Side) -> [f32; 3] {
    let [l, u, f] = match part {
        "pelvis" => [0.0, 1.00, 0.0],
        "spine_low" => [0.0, 1.11, 0.0],
        "spine_navel" => [0.0, 1.20, 0.0],
        "spine_mid" => [0.0, 1.268, 0.0],
        // Kinect v1's Spine and ShoulderCenter at their measured fractions (0.120, 0.688) of the pelvis-to-head
        // chain (`kinect_v1`).
        "v1_spine" => [0.0, 1.079, 0.0],
        "v1_shoulder_center" => [0.0, 1.455, 0.0],
        "spine_chest" => [0.0, 1.34, 0.0],
        "spine_t8" => [0.0, 1.36, 0.0],
        "spine_3" => [0.0, 1.40, 0.0],
        "neck_base" => [0.0, 1.47, 0.0],
        "kinect_neck" => [0.0, 1.537, 0.0],
        "c1" => [0.0, 1.566, 0.0],
        "head" => [0.0, 1.662, 0.0],
        "nose" => [0.0, 1.66, 0.10],
        "eye" => [0.032, 1.70, 0.08],
        "eye_inner" => [0.015, 1.70, 0.085],
        "eye_outer" => [0.048, 1.70, 0.075],
        "ear" => [0.075, 1.662, 0.0],
        "mouth" => [0.025, 1.62, 0.085],
        "clavicle" => [0.04, 1.45, 0.03],
        "shoulder_blade" => [0.06, 1.45, -0.03],
        "shoulder" => [0.15, 1.47, 0.0],
        "elbow" => [0.43, 1.47, 0.0],
        "wrist" => [0.663, 1.47, 0.0],
        "hand" => [0.728, 1.47, 0.0],
        "hand_tip" => [0.791, 1.47, 0.0],
        "thumb" => [0.70, 1.47, 0.045],
        "thumb_tip" => [0.72, 1.47, 0.05],
        "index_knuckle" => [0.75, 1.47, 0.02],
        "pinky_knuckle" => [0.75, 1.47, -0.02],
        "hip" => [0.09, 0.98, 0.0],
        "knee" => [0.09, 0.55, 0.02],
        "ankle" => [0.09, 0.10, 0.0],
        "foot" => [0.09, 0.03, 0.12],
        "heel" => [0.09, 0.03, -0.05],
        "big_toe" => [0.07, 0.02, 0.18],
        "small_toe" => [0.12, 0.02, 0.14],
        "foot_index" => [0.08, 0.02, 0.17],
        other => panic!("no body point {other}"),
    };
    let l = match side {
        Side::Left => l,
        Side::Right => -l,
        Side::Centre => {
            assert_eq!(l, 0.0, "{part} needs a side");
            0.0
        }
    };
    [l, u, f]
}

/// Splits an SDK joint name into its side and the rest, whatever the SDK's spelling.
fn split_side(name: &str) -> (Side, String) {
    for (tag, side) in [("LEFT_", Side::Left), ("RIGHT_", Side::Right), ("Left", Side::Left), ("Right", Side::Right)] {
        if let Some(rest) = name.strip_prefix(tag) {
            return (side, rest.into());
        }
    }
    for (tag, side) in [("_LEFT", Side::Left), ("_RIGHT", Side::Right), ("Left", Side::Left), ("Right", Side::Right)] {
        if let Some(rest) = name.strip_suffix(tag) {
            return (side, rest.into());
        }
    }
    (Side::Centre, name.into())
}

/// Which body point an SDK's joint name stands for.
fn part_of(layout: LayoutId, name: &str) -> (&'static str, Side) {
    let (side, base) = split_side(name);
    let part = match (layout, base.as_str()) {
        (LayoutId::KinectV2, "SpineBase") => "pelvis",
        (LayoutId::KinectV2, "SpineMid") => "spine_mid",
        (LayoutId::KinectV2, "Neck") => "kinect_neck",
        (LayoutId::KinectV2, "SpineShoulder") => "neck_base",
        (LayoutId::KinectV2, "HandTip") => "hand_tip",
        (LayoutId::AzureKinect32 | LayoutId::ZedBody34, "SPINE_NAVEL" | "NAVAL_SPINE") => "spine_navel",
        (LayoutId::AzureKinect32 | LayoutId::ZedBody34, "SPINE_CHEST" | "CHEST_SPINE") => "spine_chest",
        (LayoutId::AzureKinect32 | LayoutId::ZedBody34 | LayoutId::ZedBody38, "NECK") => "neck_base",
        (LayoutId::AzureKinect32 | LayoutId::ZedBody34, "HANDTIP") => "hand_tip",
        (LayoutId::ZedBody38, "SPINE_1") => "spine_low",
        (LayoutId::ZedBody38, "SPINE_2") => "spine_mid",
        (LayoutId::ZedBody38, "SPINE_3") => "spine_3",
        (LayoutId::ZedBody38, "HAND_THUMB_4") => "thumb_tip",
        (LayoutId::ZedBody38, "HAND_INDEX_1") => "index_knuckle",
        (LayoutId::ZedBody38, "HAND_MIDDLE_4") => "hand_tip",
        (LayoutId::ZedBody38, "HAND_PINKY_1") => "pinky_knuckle",
        (LayoutId::ZedBody38, "BIG_TOE") => "big_toe",
        (LayoutId::ZedBody38, "SMALL_TOE") => "small_toe",
        (LayoutId::MediaPipe33, "INDEX") => "index_knuckle",
        (LayoutId::MediaPipe33, "PINKY") => "pinky_knuckle",
        (LayoutId::MediaPipe33, "FOOT_INDEX") => "foot_index",
        (LayoutId::MediaPipe33, "EYE_INNER") => "eye_inner",
        (LayoutId::MediaPipe33, "EYE_OUTER") => "eye_outer",
        (LayoutId::MediaPipe33, "MOUTH") => "mouth",
        (LayoutId::KinectV1, "HipCenter") => "pelvis",
        (LayoutId::KinectV1, "Spine") => "v1_spine",
        (LayoutId::KinectV1, "ShoulderCenter") => "v1_shoulder_center",
        (LayoutId::OpenNi15, "NECK") => "neck_base",
        (LayoutId::OpenNi15, "TORSO") => "spine_mid",
        (LayoutId::OpenNi15, "HAND") => "wrist",
        (LayoutId::OpenNi15, "FOOT") => "ankle",
        (LayoutId::XsensMvn23, "Pelvis") => "pelvis",
        (LayoutId::XsensMvn23, "L5") => "spine_low",
        (LayoutId::XsensMvn23, "L3") => "spine_navel",
        (LayoutId::XsensMvn23, "T12") => "spine_mid",
        (LayoutId::XsensMvn23, "T8") => "spine_t8",
        (LayoutId::XsensMvn23, "Neck") => "neck_base",
        (LayoutId::XsensMvn23, "Head") => "c1",
        (LayoutId::XsensMvn23, "Shoulder") => "shoulder_blade",
        (LayoutId::XsensMvn23, "UpperArm") => "shoulder",
        (LayoutId::XsensMvn23, "ForeArm") => "elbow",
        (LayoutId::XsensMvn23, "Hand") => "wrist",
        (LayoutId::XsensMvn23, "UpperLeg") => "hip",
        (LayoutId::XsensMvn23, "LowerLeg") => "knee",
        (LayoutId::XsensMvn23, "Foot") => "ankle",
        (LayoutId::XsensMvn23, "Toe") => "foot",
        (_, "PELVIS") => "pelvis",
        (_, "HEAD" | "Head") => "head",
        (_, "NOSE") => "nose",
        (_, "EYE" | "Eye") => "eye",
        (_, "EAR") => "ear",
        (_, "CLAVICLE") => "clavicle",
        (_, "SHOULDER" | "Shoulder") => "shoulder",
        (_, "ELBOW" | "Elbow") => "elbow",
        (_, "WRIST" | "Wrist") => "wrist",
        (_, "HAND" | "Hand") => "hand",
        (_, "THUMB" | "Thumb") => "thumb",
        (_, "HIP" | "Hip") => "hip",
        (_, "KNEE" | "Knee") => "knee",
        (_, "ANKLE" | "Ankle") => "ankle",
        (_, "FOOT" | "Foot") => "foot",
        (_, "HEEL") => "heel",
        _ => panic!("{layout:?}: no body point for {name}"),
    };
    (part, side)
}

/// Where a person-frame point lands in a sensor's axes, for a person standing `distance` metres in front of the
/// sensor and facing it. Written from each convention's definition, independently of `rotation_to_model`: facing
/// the sensor, the person's left is on the sensor's right.
fn in_sensor_axes(axes: Axes, [left, up, forward]: [f32; 3], distance: f32) -> [f32; 3] {
    let depth = distance - forward; // distance from the sensor along its viewing direction
    match axes {
        // +x is the sensor's left, which is the person's right.
        Axes::XLeftYUpZForward => [-left, up, depth],
        // +x is the camera's right (the person's left), +y is down.
        Axes::XRightYDownZForward => [left, -up, depth],
        // The camera looks along −z.
        Axes::XRightYUpZBackward => [left, up, -depth],
        // The viewpoint looks along +x; +y is its left (the person's right); +z is up.
        Axes::XForwardYLeftZUp => [depth, -left, up],
    }
}

/// The expected model-frame position of a person-frame point.
fn in_model_axes(point: [f32; 3], distance: f32) -> [f32; 3] {
    in_sensor_axes(Axes::XLeftYUpZForward, point, distance)
}

const DISTANCE: f32 = 3.0;

fn t_pose(format: &SourceFormat, confidence: u8) -> heapless::Vec<Joint, { crate::wire::MAX_JOINTS }> {
    let scale = 1.0 / format.units.to_metres();
    joint_names(format.layout)
        .iter()
        .map(|name| {
            let (part, side) = part_of(format.layout, name);
            let [x, y, z] = in_sensor_axes(format.axes, body_point(part, side), DISTANCE).map(|c| c * scale);
            Joint { x, y, z, confidence }
        })
        .collect()
}

fn kinect_expected(ntu: usize) -> [f32; 3] {
    let (part, side) = part_of(LayoutId::KinectV2, NTU_JOINT_NAMES[ntu]);
    in_model_axes(body_point(part, side), DISTANCE)
}

fn distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    (0..3).map(|k| (a[k] - b[k]) * (a[k] - b[k])).sum::<f32>().sqrt()
}

fn map(format: &SourceFormat, joints: &[Joint], min_confidence: u8) -> Pose {
    let mut pose = Pose::MISSING;
    map_body(format, joints, min_confidence, &mut pose).expect("joint count matches");
    pose
}

/// The checks every mapped T-pose must pass, whatever its source.
fn assert_plausible_t_pose(pose: &Pose, what: &str) {
    use joint::*;
    let p = |j: usize| {
        assert!(pose.valid[j], "{what}: {} missing", NTU_JOINT_NAMES[j]);
        pose.joints[j]
    };
    let (x, y) = (|j: usize| p(j)[0], |j: usize| p(j)[1]);
    // Up the spine.
    assert!(y(HEAD) > y(NECK) && y(NECK) > y(SPINE_SHOULDER), "{what}: head and neck above the shoulders");
    assert!(y(SPINE_SHOULDER) > y(SPINE_MID) && y(SPINE_MID) > y(SPINE_BASE), "{what}: spine goes up");
    assert!(y(SPINE_BASE) > y(KNEE_LEFT) && y(KNEE_LEFT) > y(ANKLE_LEFT), "{what}: legs go down");
    // Facing the sensor, the person's left is the sensor's right, which is −x in Kinect camera space (the NTU
    // fixtures agree: see `ntu::tests`).
    assert!(x(SHOULDER_LEFT) < x(SPINE_SHOULDER) && x(SPINE_SHOULDER) < x(SHOULDER_RIGHT), "{what}: shoulders");
    assert!(x(HIP_LEFT) < x(SPINE_BASE) && x(SPINE_BASE) < x(HIP_RIGHT), "{what}: hips");
    // Arms stretched out sideways at shoulder height.
    assert!(x(HAND_LEFT) < x(WRIST_LEFT) && x(WRIST_LEFT) < x(ELBOW_LEFT) && x(ELBOW_LEFT) < x(SHOULDER_LEFT));
    assert!(x(HAND_RIGHT) > x(WRIST_RIGHT) && x(WRIST_RIGHT) > x(ELBOW_RIGHT) && x(ELBOW_RIGHT) > x(SHOULDER_RIGHT));
    assert!((y(HAND_TIP_LEFT) - y(SHOULDER_LEFT)).abs() < 0.05, "{what}: left arm level");
    assert!((y(HAND_TIP_RIGHT) - y(SHOULDER_RIGHT)).abs() < 0.05, "{what}: right arm level");
    // Everyone stands about DISTANCE in front of the sensor.
    assert!((p(SPINE_MID)[2] - DISTANCE).abs() < 0.1, "{what}: depth");
}

#[test]
fn t_pose_from_every_layout_and_axis_convention_maps_to_a_plausible_ntu_pose() {
    for layout in ALL_LAYOUTS {
        for axes in ALL_AXES {
            let format = SourceFormat::new(layout, Units::Metres, axes);
            let pose = map(&format, &t_pose(&format, 255), 1);
            let what = format!("{layout:?} in {axes:?}");
            for (ntu, rule) in rules(layout).iter().enumerate() {
                if *rule == JointRule::Missing {
                    assert!(!pose.valid[ntu], "{what}: {} should be missing", NTU_JOINT_NAMES[ntu]);
                    continue;
                }
                assert!(pose.valid[ntu], "{what}: {} missing", NTU_JOINT_NAMES[ntu]);
                // Every joint lands within a few centimetres of where Kinect v2 puts it (exactly, for Kinect v2);
                // `copied_joints_are_the_source_joints_rotated` checks copied joints exactly.
                let tolerance = if layout == LayoutId::KinectV2 { 1e-6 } else { 0.06 };
                let error = distance(pose.joints[ntu], kinect_expected(ntu));
                assert!(error <= tolerance, "{what}: {} is {error} m off", NTU_JOINT_NAMES[ntu]);
            }
            assert_plausible_t_pose(&pose, &what);
        }
    }
}

#[test]
fn copied_joints_are_the_source_joints_rotated() {
    // Independently of the anatomy: a copied joint is its source joint through `in_sensor_axes` and back.
    for layout in ALL_LAYOUTS {
        for axes in ALL_AXES {
            let format = SourceFormat::new(layout, Units::Metres, axes);
            let pose = map(&format, &t_pose(&format, 255), 1);
            for (ntu, rule) in rules(layout).iter().enumerate() {
                if let JointRule::Source(source) = *rule {
                    let (part, side) = part_of(layout, joint_names(layout)[source]);
                    let expected = in_model_axes(body_point(part, side), DISTANCE);
                    assert!(distance(pose.joints[ntu], expected) < 1e-5, "{layout:?} {axes:?} joint {ntu}");
                }
            }
        }
    }
}

#[test]
fn kinect_v2_in_metres_maps_bit_for_bit() {
    let joints: heapless::Vec<Joint, 38> = (0..25)
        .map(|i| Joint { x: 0.1 * i as f32 - 1.3, y: 0.37 * i as f32, z: 2.0 + 1e-3 * i as f32, confidence: 255 })
        .collect();
    let pose = map(&SourceFormat::MODEL, &joints, 1);
    for (i, j) in joints.iter().enumerate() {
        assert_eq!(pose.joints[i].map(f32::to_bits), [j.x, j.y, j.z].map(f32::to_bits));
        assert!(pose.valid[i]);
    }
}

#[test]
fn units_are_scaled_to_metres() {
    for layout in ALL_LAYOUTS {
        let metres = SourceFormat::new(layout, Units::Metres, Axes::XRightYDownZForward);
        let in_metres = t_pose(&metres, 255);
        let reference = map(&metres, &in_metres, 1);
        for (units, factor) in [(Units::Centimetres, 100.0), (Units::Millimetres, 1000.0)] {
            let format = SourceFormat { units, ..metres };
            let joints = t_pose(&format, 255);
            // The wire really carries the larger numbers.
            for (scaled, plain) in joints.iter().zip(&in_metres) {
                assert!((scaled.z - plain.z * factor).abs() < 1e-3, "{units:?}");
            }
            let pose = map(&format, &joints, 1);
            assert_eq!(pose.valid, reference.valid);
            for (name, (mapped, expected)) in NTU_JOINT_NAMES.iter().zip(pose.joints.iter().zip(&reference.joints)) {
                let error = distance(*mapped, *expected);
                assert!(error < 1e-5, "{layout:?} {units:?} {name}: {error}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Missing joints and bad input

#[test]
fn a_missing_source_joint_makes_exactly_its_dependants_missing() {
    for layout in ALL_LAYOUTS {
        let format = SourceFormat::new(layout, Units::Millimetres, Axes::XRightYDownZForward);
        let complete = t_pose(&format, 255);
        for dropped in 0..layout.joint_count() {
            let mut joints = complete.clone();
            joints[dropped].confidence = Joint::NOT_TRACKED;
            let pose = map(&format, &joints, 0);
            for (ntu, rule) in rules(layout).iter().enumerate() {
                let (inputs, len) = rule.inputs();
                let reads_dropped = inputs[..len].contains(&dropped);
                let expect_valid = *rule != JointRule::Missing && !reads_dropped;
                assert_eq!(pose.valid[ntu], expect_valid, "{layout:?} without {dropped}: {}", NTU_JOINT_NAMES[ntu]);
                if !expect_valid {
                    assert_eq!(pose.joints[ntu], [0.0; 3], "a missing joint is zeroed");
                }
            }
        }
    }
}

#[test]
fn confidence_below_the_threshold_is_missing() {
    let format = SourceFormat::new(LayoutId::AzureKinect32, Units::Millimetres, Axes::XRightYDownZForward);
    let mut joints = t_pose(&format, azure_kinect::confidence_from_level(3));
    joints[azure_kinect::WRIST_LEFT].confidence = azure_kinect::confidence_from_level(1); // LOW: 85
    let medium = azure_kinect::confidence_from_level(2);
    assert!(!map(&format, &joints, medium).valid[joint::WRIST_LEFT], "LOW is below MEDIUM");
    assert!(map(&format, &joints, 85).valid[joint::WRIST_LEFT], "the threshold itself passes");
    assert!(map(&format, &joints, 0).valid[joint::WRIST_LEFT]);
    // Confidence 0 means not tracked even when the caller accepts everything.
    joints[azure_kinect::WRIST_LEFT].confidence = 0;
    assert!(!map(&format, &joints, 0).valid[joint::WRIST_LEFT]);
}

#[test]
fn non_finite_coordinates_are_missing_and_never_reach_the_pose() {
    let format = SourceFormat::new(LayoutId::XsensMvn23, Units::Metres, Axes::XForwardYLeftZUp);
    let mut joints = t_pose(&format, 255);
    joints[xsens_mvn::LEFT_HAND].y = f32::NAN;
    joints[xsens_mvn::RIGHT_HAND].z = f32::INFINITY;
    let pose = map(&format, &joints, 1);
    for j in [joint::WRIST_LEFT, joint::HAND_LEFT, joint::HAND_TIP_LEFT, joint::WRIST_RIGHT, joint::HAND_RIGHT] {
        assert!(!pose.valid[j], "{}", NTU_JOINT_NAMES[j]);
    }
    assert!(pose.valid[joint::ELBOW_LEFT]);
    assert!(pose.joints.iter().flatten().all(|c| c.is_finite()));
}

#[test]
fn absurd_finite_coordinates_are_missing_and_counted() {
    let format = SourceFormat::new(LayoutId::XsensMvn23, Units::Metres, Axes::XForwardYLeftZUp);
    let mut joints = t_pose(&format, 255);
    joints[xsens_mvn::LEFT_FORE_ARM].y = -3.0e38;
    joints[xsens_mvn::LEFT_HAND].y = 3.0e38;
    // Within the bound on every axis but not as a distance: 60 m along each is 104 m from the origin.
    joints[xsens_mvn::RIGHT_HAND] = Joint { x: 60.0, y: 60.0, z: 60.0, confidence: 255 };
    // Untracked joints are not looked at, absurd or not.
    joints[xsens_mvn::RIGHT_FOOT] = Joint { x: 3.0e38, y: 0.0, z: 0.0, confidence: 0 };
    let mut pose = Pose::MISSING;
    let report = map_body(&format, &joints, 1, &mut pose).unwrap();
    assert_eq!(report.implausible_joints, 3);
    for j in [joint::ELBOW_LEFT, joint::WRIST_LEFT, joint::HAND_LEFT, joint::HAND_TIP_LEFT, joint::WRIST_RIGHT] {
        assert!(!pose.valid[j], "{}", NTU_JOINT_NAMES[j]);
    }
    assert!(pose.valid[joint::SHOULDER_LEFT] && pose.valid[joint::ELBOW_RIGHT]);
    assert!(pose.joints.iter().flatten().all(|c| c.abs() <= MAX_JOINT_DISTANCE_M));

    // Millimetres are converted before the bound applies: 99 m away is within it, 101 m is not.
    let format = SourceFormat::new(LayoutId::KinectV2, Units::Millimetres, Axes::XLeftYUpZForward);
    let mut joints = t_pose(&format, 255);
    joints[0].z = 99_000.0;
    joints[1].z = 101_000.0;
    let mut pose = Pose::MISSING;
    assert_eq!(map_body(&format, &joints, 1, &mut pose).unwrap().implausible_joints, 1);
    assert!(pose.valid[0] && !pose.valid[1]);
}

#[test]
fn wrong_joint_count_is_an_error_and_leaves_the_pose_alone() {
    for layout in ALL_LAYOUTS {
        let format = SourceFormat::new(layout, Units::Metres, Axes::XLeftYUpZForward);
        let joints = t_pose(&format, 255);
        let before = map(&SourceFormat::MODEL, &t_pose(&SourceFormat::MODEL, 255), 1);
        for actual in [0, joints.len() - 1, joints.len() + 1] {
            let mut body: Vec<Joint> = joints.to_vec();
            body.resize(actual, Joint { x: 0.0, y: 0.0, z: 0.0, confidence: 255 });
            let mut pose = before;
            let result = map_body(&format, &body, 0, &mut pose);
            assert_eq!(result, Err(LayoutError::JointCount { expected: layout.joint_count(), actual }));
            assert_eq!(pose, before);
        }
    }
}

#[test]
fn source_format_comes_from_hello() {
    let hello = Hello {
        protocol_major: crate::wire::PROTOCOL_MAJOR,
        protocol_minor: crate::wire::PROTOCOL_MINOR,
        layout: LayoutId::ZedBody38,
        units: Units::Millimetres,
        axes: Axes::XRightYUpZBackward,
        nominal_fps_millihertz: 30_000,
        sensor_name: heapless::String::new(),
    };
    let format = SourceFormat::from(&hello);
    assert_eq!(format, SourceFormat::new(LayoutId::ZedBody38, Units::Millimetres, Axes::XRightYUpZBackward));
    assert_eq!(format.joint_count(), 38);
    assert_eq!(format.to_model(1000.0, 2000.0, -3000.0), [-1.0, 2.0, 3.0]);
    assert_eq!(format.to_model(1234.5, 0.0, 0.0)[0], -1.2345f32, "the nearest f32 to the true value");
    for units in [Units::Metres, Units::Centimetres, Units::Millimetres] {
        assert!((units_per_metre(units) * units.to_metres() - 1.0).abs() < 1e-6, "{units:?}");
    }
}

#[test]
fn sdk_confidences_map_onto_the_wire_scale() {
    assert_eq!([0, 1, 2, 3].map(kinect_v2::confidence_from_tracking_state), [0, 128, 255, 0]);
    assert_eq!([0, 1, 2, 3, 4].map(azure_kinect::confidence_from_level), [0, 85, 170, 255, 0]);
    assert_eq!(
        [f32::NAN, -1.0, 0.0, 0.001, 0.5, 1.0, 7.0].map(mediapipe::confidence_from_visibility),
        [0, 0, 0, 1, 128, 255, 255]
    );
    let zed = [f32::NAN, 0.0, 20.0, 50.0, 100.0].map(zed_body38::confidence_from_keypoint_confidence);
    assert_eq!(zed, [0, 0, 51, 128, 255]);
    assert_eq!(xsens_mvn::CONFIDENCE, 255);
    assert_eq!([0, 1, 2, 3].map(kinect_v1::confidence_from_tracking_state), [0, 128, 255, 0]);
    assert_eq!([f32::NAN, 0.0, 0.5, 1.0].map(openni15::confidence_from_position_confidence), [0, 0, 128, 255]);
}

// ---------------------------------------------------------------------------------------------------------------
// docs/layouts.md

fn describe_joint(layout: LayoutId, index: usize) -> String {
    format!("`{}` ({index})", joint_names(layout)[index])
}

fn describe_pair(layout: LayoutId, [a, b]: [usize; 2]) -> String {
    if a == b {
        describe_joint(layout, a)
    } else {
        format!("mid({}, {})", describe_joint(layout, a), describe_joint(layout, b))
    }
}

fn describe_rule(layout: LayoutId, rule: &JointRule) -> String {
    let j = |i| describe_joint(layout, i);
    match *rule {
        JointRule::Source(a) => j(a),
        JointRule::Midpoint(a, b) => format!("midpoint of {} and {}", j(a), j(b)),
        JointRule::Lerp { a, b, t } => format!("{} + {t} · ({} − {})", j(a), j(b), j(a)),
        JointRule::Extend { from, to, by } => format!("{} + {by} · ({} − {})", j(to), j(to), j(from)),
        JointRule::Mean3([a, b, c]) => format!("centroid of {}, {}, {}", j(a), j(b), j(c)),
        JointRule::LerpMidpoints { a, b, t } => {
            let (a, b) = (describe_pair(layout, a), describe_pair(layout, b));
            format!("{a} + {t} · ({b} − {a})")
        }
        JointRule::Missing => "missing".into(),
    }
}

fn render_mapping(layout: LayoutId) -> String {
    let mut out = String::from("| NTU | joint | from the source |\n|---|---|---|\n");
    for (ntu, rule) in rules(layout).iter().enumerate() {
        out += &format!("| {ntu} | {} | {} |\n", NTU_JOINT_NAMES[ntu], describe_rule(layout, rule));
    }
    let unused: Vec<String> = (0..layout.joint_count())
        .filter(|&i| rules(layout).iter().all(|r| !r.inputs().0[..r.inputs().1].contains(&i)))
        .map(|i| describe_joint(layout, i))
        .collect();
    if !unused.is_empty() {
        out += &format!("\nNot used: {}.\n", unused.join(", "));
    }
    out
}

fn docs_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/layouts.md")
}

/// Every layout's table in `docs/layouts.md` is what the code does. `SKELACT_BLESS=1 cargo test` rewrites them.
#[test]
fn docs_show_the_tables_the_code_uses() {
    let path = docs_path();
    let mut text = std::fs::read_to_string(&path).expect("docs/layouts.md is readable");
    let mut stale = Vec::new();
    for layout in ALL_LAYOUTS {
        let begin = format!("<!-- mapping {layout:?} begin -->\n");
        let end = format!("<!-- mapping {layout:?} end -->");
        let lacks = || panic!("docs/layouts.md lacks `{}`", begin.trim());
        let start = text.find(&begin).unwrap_or_else(lacks) + begin.len();
        let stop = start + text[start..].find(&end).unwrap_or_else(|| panic!("docs/layouts.md lacks `{end}`"));
        let rendered = render_mapping(layout);
        if text[start..stop] != rendered {
            stale.push(format!("{layout:?}:\n{rendered}"));
            text.replace_range(start..stop, &rendered);
        }
    }
    if stale.is_empty() {
        return;
    }
    if std::env::var_os("SKELACT_BLESS").is_some() {
        std::fs::write(&path, text).expect("docs/layouts.md is writable");
    } else {
        panic!("docs/layouts.md is stale (SKELACT_BLESS=1 rewrites it); the tables should read:\n{}", stale.join("\n"));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Real Kinect v1 frames: the device's mapping equals the training code's (models/skelact_models/layouts.py)

/// `tests/fixtures/layouts/kinect_v1.json`, written by `models/tools/write_layout_golden.py` from real NW-UCLA and
/// UTD-MHAD frames: each frame's 20 Kinect v1 joints and the NTU-25 joints Python computes from them. The device
/// must compute the same f32 values, bit for bit (both sides evaluate the same rules in f32, in the same order).
#[test]
fn real_kinect_v1_frames_map_as_the_training_code_maps_them() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/layouts/kinect_v1.json");
    let text = std::fs::read_to_string(&path).expect("tests/fixtures/layouts/kinect_v1.json is readable");
    let golden: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(golden["layout"], "KinectV1");
    let format = SourceFormat::new(LayoutId::KinectV1, Units::Metres, Axes::XLeftYUpZForward);
    let frames = golden["frames"].as_array().expect("frames");
    let mut datasets = Vec::new();
    for frame in frames {
        let what = frame["source"].as_str().expect("source");
        datasets.push(frame["dataset"].as_str().expect("dataset").to_owned());
        let xyz = |v: &serde_json::Value| -> [f32; 3] {
            let row = v.as_array().expect("a joint is [x, y, z]");
            core::array::from_fn(|k| row[k].as_f64().expect("number") as f32)
        };
        let joints: Vec<Joint> = frame["joints"]
            .as_array()
            .expect("joints")
            .iter()
            .map(|v| {
                let [x, y, z] = xyz(v);
                Joint { x, y, z, confidence: 255 }
            })
            .collect();
        let pose = map(&format, &joints, 1);
        let expected = frame["ntu"].as_array().expect("ntu");
        let valid = frame["valid"].as_array().expect("valid");
        for ntu in 0..NTU_JOINTS {
            let name = NTU_JOINT_NAMES[ntu];
            assert_eq!(pose.valid[ntu], valid[ntu].as_bool().expect("bool"), "{what}: {name} validity");
            let want = xyz(&expected[ntu]);
            assert_eq!(pose.joints[ntu].map(f32::to_bits), want.map(f32::to_bits), "{what}: {name}");
        }
        assert_plausible_kinect_v1_frame(&pose, what);
    }
    for dataset in ["nw-ucla", "utd-mhad"] {
        assert!(datasets.iter().any(|d| d == dataset), "the golden file has a frame of {dataset}");
    }
}

/// A real standing person mapped from Kinect v1: spine joints in Kinect v2's order from bottom to top.
fn assert_plausible_kinect_v1_frame(pose: &Pose, what: &str) {
    use joint::*;
    let y = |j: usize| pose.joints[j][1];
    assert!(y(HEAD) > y(NECK) && y(NECK) > y(SPINE_SHOULDER) && y(SPINE_SHOULDER) > y(SPINE_MID), "{what}");
    assert!(y(SPINE_MID) > y(SPINE_BASE) && y(SPINE_BASE) > y(KNEE_LEFT) && y(KNEE_LEFT) > y(ANKLE_LEFT), "{what}");
}
