"""Synthetic skeleton actions in the NTU-25 layout.

No large real dataset can be downloaded where this project is built, so the default model learns from a kinematic
simulation: a skeleton with per-subject height and bone lengths, driven by per-class motion programs, seen by a
virtual Kinect from different azimuths, distances and heights, with sensor noise, dropped joints and dropped frames.
Everything is a pure function of a seed, so the same configuration always gives the same arrays.

Splits follow NTU RGB+D: cross-subject (half the subjects train, the other half test) and cross-view (every
performance is seen by five virtual cameras; the two at +-30 degrees are held out). A few classes are held out of
all training for the few-shot and k-NN evaluation of unseen actions.

`session` strings actions together, separated by idle motion, into a long stream with ground-truth segments for
streaming evaluation on the device (see `recording.py` for the file format).

Body-local frame: x to the subject's left, y up, z the subject's forward; the subject stands at the origin with the
feet on the floor (y = 0). Camera frame: Kinect v2 (+x to the sensor's left, +y up, +z away from the sensor).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..skeleton import NTU_JOINTS

TAU = 2.0 * math.pi
FPS = 30.0


# ----------------------------------------------------------------------------------------------------------------
# Subjects


@dataclass(frozen=True)
class Subject:
    """Body dimensions of one simulated person (metres)."""

    index: int
    height: float
    spine_lower: float  # SpineBase -> SpineMid
    spine_upper: float  # SpineMid -> SpineShoulder
    neck: float
    head: float
    shoulder_half: float
    upper_arm: float
    forearm: float
    hand: float
    hand_tip: float
    thumb: float
    hip_half: float
    thigh: float
    shin: float
    foot: float
    idle_arm_abd: float  # habitual arm posture at rest
    idle_elbow: float
    tempo: float  # the subject's habitual speed factor


def make_subject(seed: int, index: int) -> Subject:
    rng = np.random.default_rng([seed, 7919, index])
    height = float(rng.uniform(1.50, 1.95))

    def part(fraction):
        return float(height * fraction * rng.uniform(0.93, 1.07))

    return Subject(
        index=index, height=height,
        spine_lower=part(0.13), spine_upper=part(0.15), neck=part(0.05), head=part(0.07),
        shoulder_half=part(0.11), upper_arm=part(0.17), forearm=part(0.15), hand=part(0.05), hand_tip=part(0.05),
        thumb=part(0.03), hip_half=part(0.06), thigh=part(0.245), shin=part(0.245), foot=part(0.07),
        idle_arm_abd=float(rng.uniform(0.05, 0.25)), idle_elbow=float(rng.uniform(0.05, 0.4)),
        tempo=float(rng.uniform(0.85, 1.15)),
    )


# ----------------------------------------------------------------------------------------------------------------
# Pose parameters and forward kinematics

POSE_KEYS = (
    "root_x", "root_z", "lift", "yaw", "pitch", "roll", "trunk_pitch", "trunk_roll", "trunk_yaw", "neck_pitch",
    "neck_yaw",
    "l_u_flex", "l_u_abd", "l_f_flex", "l_f_abd", "r_u_flex", "r_u_abd", "r_f_flex", "r_f_abd",
    "l_thigh_flex", "l_thigh_abd", "l_knee", "r_thigh_flex", "r_thigh_abd", "r_knee",
)


def rest_pose(subject: Subject, frames: int, rng) -> dict:
    """Standing at rest with a little sway; every action program starts from and returns to this."""
    t = np.arange(frames) / FPS
    p = {key: np.zeros(frames) for key in POSE_KEYS}
    sway = rng.uniform(0.005, 0.02)
    f_sway = rng.uniform(0.15, 0.4)
    phase = rng.uniform(0, TAU)
    p["root_x"] += sway * np.sin(TAU * f_sway * t + phase)
    p["trunk_roll"] += 0.5 * sway * np.sin(TAU * f_sway * t + phase + 1.0)
    p["trunk_pitch"] += rng.uniform(-0.03, 0.08)
    for side in "lr":
        p[f"{side}_u_abd"] += subject.idle_arm_abd + rng.uniform(-0.05, 0.05)
        p[f"{side}_u_flex"] += rng.uniform(-0.05, 0.1)
        p[f"{side}_f_abd"] += subject.idle_arm_abd
        p[f"{side}_f_flex"] += subject.idle_elbow + rng.uniform(-0.05, 0.1)
        p[f"{side}_thigh_abd"] += rng.uniform(0.0, 0.08)
    return p


def _limb(flex, abd, side):
    """Unit direction of a limb segment: hanging down at (0, 0); flex swings it forward and up in the sagittal
    plane, abd sideways and up in the frontal plane (negative abd crosses the midline). side = +1 left, -1 right."""
    return np.stack([side * np.sin(abd), -np.cos(abd) * np.cos(flex), np.cos(abd) * np.sin(flex)], axis=-1)


def _rot_x(angle):
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _rot_y(angle):
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rot_z(angle):
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _apply(rot, vec):
    """rot [F, 3, 3] applied to vec [F, 3] or [3]."""
    return np.einsum("fij,fj->fi", rot, np.broadcast_to(vec, (rot.shape[0], 3)))


def forward_kinematics(subject: Subject, p: dict) -> np.ndarray:
    """Joint positions [F, 25, 3] in the body-local frame, with the lowest joint resting on the floor plus `lift`."""
    s = subject
    frames = p["yaw"].shape[0]
    joints = np.zeros((frames, NTU_JOINTS, 3))
    root = _rot_y(p["yaw"]) @ _rot_x(p["pitch"]) @ _rot_z(p["roll"])
    torso = root @ _rot_y(p["trunk_yaw"]) @ _rot_x(p["trunk_pitch"]) @ _rot_z(p["trunk_roll"])
    lower = root @ _rot_y(0.5 * p["trunk_yaw"]) @ _rot_x(0.5 * p["trunk_pitch"]) @ _rot_z(0.5 * p["trunk_roll"])
    head = torso @ _rot_y(p["neck_yaw"]) @ _rot_x(p["neck_pitch"])
    up = np.array([0.0, 1.0, 0.0])
    base = np.stack([p["root_x"], np.zeros(frames), p["root_z"]], -1)
    joints[:, 0] = base
    joints[:, 1] = base + _apply(lower, up * s.spine_lower)
    joints[:, 20] = joints[:, 1] + _apply(torso, up * s.spine_upper)
    joints[:, 2] = joints[:, 20] + _apply(head, up * s.neck)
    joints[:, 3] = joints[:, 2] + _apply(head, np.array([0.0, s.head, 0.02]))
    forward = _apply(torso, np.array([0.0, 0.0, 1.0]))
    for side, sign, (sh, el, wr, ha, tip, th) in (("l", 1.0, (4, 5, 6, 7, 21, 22)), ("r", -1.0, (8, 9, 10, 11, 23, 24))):
        joints[:, sh] = joints[:, 20] + _apply(torso, np.array([sign * s.shoulder_half, -0.02 * s.height, 0.0]))
        upper = _apply(torso, _limb(p[f"{side}_u_flex"], p[f"{side}_u_abd"], sign))
        fore = _apply(torso, _limb(p[f"{side}_f_flex"], p[f"{side}_f_abd"], sign))
        joints[:, el] = joints[:, sh] + upper * s.upper_arm
        joints[:, wr] = joints[:, el] + fore * s.forearm
        joints[:, ha] = joints[:, wr] + fore * s.hand
        joints[:, tip] = joints[:, ha] + fore * s.hand_tip
        thumb_dir = fore + 0.8 * forward
        thumb_dir /= np.linalg.norm(thumb_dir, axis=-1, keepdims=True) + 1e-9
        joints[:, th] = joints[:, ha] + thumb_dir * s.thumb
    for side, sign, (hip, knee, ankle, foot) in (("l", 1.0, (12, 13, 14, 15)), ("r", -1.0, (16, 17, 18, 19))):
        thigh_flex, thigh_abd = p[f"{side}_thigh_flex"], p[f"{side}_thigh_abd"]
        shin_flex = thigh_flex - p[f"{side}_knee"]
        joints[:, hip] = base + _apply(root, np.array([sign * s.hip_half, -0.02 * s.height, 0.0]))
        joints[:, knee] = joints[:, hip] + _apply(root, _limb(thigh_flex, thigh_abd, sign)) * s.thigh
        joints[:, ankle] = joints[:, knee] + _apply(root, _limb(shin_flex, thigh_abd, sign)) * s.shin
        joints[:, foot] = joints[:, ankle] + _apply(root, _limb(shin_flex + math.pi / 2, 0.0 * thigh_abd, sign)) * s.foot
    # Ground contact: the lowest joint touches the floor (ankles stand ~6 cm above it), then flight is added.
    lowest = joints[:, :, 1].min(axis=1)
    joints[:, :, 1] += (0.06 - lowest + p["lift"])[:, None]
    return joints


# ----------------------------------------------------------------------------------------------------------------
# Motion programs


def smooth(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def bump(s, a, b, c, d):
    """0 before a, rises to 1 over [a, b], stays 1 until c, falls to 0 over [c, d]."""
    return smooth((s - a) / max(b - a, 1e-6)) * (1.0 - smooth((s - c) / max(d - c, 1e-6)))


@dataclass
class Performance:
    """What varies between two performances of the same action by the same subject."""

    frames: int
    amplitude: float
    rate: float  # cycles per second for cyclic actions
    phase: float
    jitter: np.ndarray  # envelope timing jitter
    rng: np.random.Generator

    def env(self, s, a, b, c, d):
        j = self.jitter
        return bump(s, a + j[0], b + j[1], c + j[2], d + j[3])

    def osc(self, s, rate_scale=1.0):
        t = s * self.frames / FPS
        return np.sin(TAU * self.rate * rate_scale * t + self.phase)


def _set_arm(p, side, u_flex=None, u_abd=None, f_flex=None, f_abd=None, w=1.0):
    """Blends one arm towards the given angles with weight w (array or scalar); None leaves a value alone."""
    for key, value in (("u_flex", u_flex), ("u_abd", u_abd), ("f_flex", f_flex), ("f_abd", f_abd)):
        if value is not None:
            name = f"{side}_{key}"
            p[name] = (1.0 - w) * p[name] + w * value


def _walk(p, s, perf, speed_sign, distance):
    """Stepping gait along the body's forward axis, covering `distance` metres."""
    steps = perf.osc(s)
    lift = np.maximum(steps, 0.0)
    lift2 = np.maximum(-steps, 0.0)
    a = perf.amplitude
    p["l_thigh_flex"] += 0.45 * a * steps
    p["r_thigh_flex"] -= 0.45 * a * steps
    p["l_knee"] += 0.7 * a * lift
    p["r_knee"] += 0.7 * a * lift2
    p["l_u_flex"] -= 0.35 * a * steps
    p["r_u_flex"] += 0.35 * a * steps
    p["root_z"] += speed_sign * distance * s


def prog_hand_waving(p, s, perf):
    w = perf.env(s, 0.0, 0.2, 0.8, 1.0)
    a = perf.amplitude
    _set_arm(p, "r", u_flex=0.4, u_abd=1.25, f_flex=math.pi - 0.1, f_abd=0.25 + 0.45 * a * perf.osc(s), w=w)


def prog_clapping(p, s, perf):
    w = perf.env(s, 0.0, 0.2, 0.85, 1.0)
    open_ = 0.5 * (1.0 + perf.osc(s))
    for side in "lr":
        _set_arm(p, side, u_flex=0.6, u_abd=0.25, f_flex=1.35, f_abd=-0.1 + 0.55 * perf.amplitude * open_, w=w)


def prog_jump_up(p, s, perf):
    a = perf.amplitude
    crouch = perf.env(s, 0.05, 0.3, 0.35, 0.45) + perf.env(s, 0.6, 0.68, 0.72, 0.95)
    flight = np.clip(np.sin(math.pi * (s - 0.42) / 0.2), 0.0, None) * ((s > 0.42) & (s < 0.62))
    for side in "lr":
        p[f"{side}_thigh_flex"] += 0.8 * crouch
        p[f"{side}_knee"] += 1.3 * crouch
        _set_arm(p, side, u_flex=-0.5 + 3.0 * flight, f_flex=-0.3 + 3.0 * flight, w=np.maximum(crouch, flight))
    p["trunk_pitch"] += 0.45 * crouch
    p["lift"] += (0.15 + 0.2 * a) * flight


def _sit_amount(p, x, perf):
    """Puts the body at sitting amount x in [0, 1] (0 standing, 1 seated on a chair)."""
    bend = np.sin(math.pi * x)  # the torso leans forward most in the middle of the transition
    for side in "lr":
        p[f"{side}_thigh_flex"] += 1.5 * x
        p[f"{side}_knee"] += 1.5 * x
        _set_arm(p, side, u_flex=0.5, f_flex=0.9, w=0.8 * bend)
    p["trunk_pitch"] += 0.55 * perf.amplitude * bend + 0.1 * x
    p["root_z"] -= 0.25 * x


def prog_sitting_down(p, s, perf):
    _sit_amount(p, smooth((s - 0.15 - perf.jitter[0]) / 0.6), perf)


def prog_standing_up(p, s, perf):
    _sit_amount(p, 1.0 - smooth((s - 0.25 - perf.jitter[0]) / 0.6), perf)


def prog_kicking_something(p, s, perf):
    a = perf.amplitude
    back = perf.env(s, 0.15, 0.35, 0.38, 0.45)
    kick = perf.env(s, 0.4, 0.5, 0.55, 0.8)
    p["r_thigh_flex"] += -0.4 * back + (0.9 + 0.4 * a) * kick
    p["r_knee"] += 1.2 * back + 0.2 * kick
    p["trunk_pitch"] -= 0.2 * kick
    _set_arm(p, "l", u_flex=0.5, u_abd=0.5, w=kick)
    _set_arm(p, "r", u_flex=-0.3, u_abd=0.4, w=kick)


def prog_squat_down(p, s, perf):
    x = perf.env(s, 0.1, 0.4, 0.6, 0.9) * (0.85 + 0.15 * perf.amplitude)
    for side in "lr":
        p[f"{side}_thigh_flex"] += 1.8 * x
        p[f"{side}_knee"] += 2.3 * x
        _set_arm(p, side, u_flex=1.45, u_abd=0.15, f_flex=1.5, w=x)
    p["trunk_pitch"] += 0.55 * x


def prog_arm_circles(p, s, perf):
    w = perf.env(s, 0.0, 0.15, 0.85, 1.0)
    a = 0.25 + 0.2 * perf.amplitude
    c, d = perf.osc(s), perf.osc(s + 0.25 / max(perf.rate * perf.frames / FPS, 1e-6))
    for side in "lr":
        flex = a * c
        abd = math.pi / 2 + a * d
        _set_arm(p, side, u_flex=flex, u_abd=abd, f_flex=flex, f_abd=abd, w=w)


def prog_hands_up(p, s, perf):
    w = perf.env(s, 0.05, 0.3, 0.75, 0.95)
    spread = 0.2 + 0.2 * perf.amplitude
    for side in "lr":
        _set_arm(p, side, u_flex=2.9, u_abd=spread, f_flex=3.0, f_abd=spread, w=w)


def prog_cross_hands(p, s, perf):
    w = perf.env(s, 0.05, 0.3, 0.75, 0.95)
    for side in "lr":
        _set_arm(p, side, u_flex=1.25, u_abd=-0.15, f_flex=2.0, f_abd=-0.7 * perf.amplitude, w=w)


def prog_salute(p, s, perf):
    w = perf.env(s, 0.05, 0.3, 0.75, 0.95)
    _set_arm(p, "r", u_flex=0.35, u_abd=1.35, f_flex=2.5, f_abd=-1.0, w=w)


def prog_falling(p, s, perf):
    x = smooth((s - 0.2 - perf.jitter[0]) / 0.45)
    direction = 1.0 if perf.phase < math.pi else -1.0  # forwards or sideways
    if direction > 0:
        p["pitch"] += 1.35 * x
    else:
        p["roll"] += 1.3 * x
    for side in "lr":
        p[f"{side}_knee"] += 0.9 * np.sin(math.pi * np.clip(x * 1.4, 0, 1))
        _set_arm(p, side, u_flex=1.7, u_abd=0.4, f_flex=1.8, w=x)


def prog_hopping(p, s, perf):
    w = perf.env(s, 0.0, 0.15, 0.85, 1.0)
    p["r_thigh_flex"] += 0.6 * w
    p["r_knee"] += 1.3 * w
    hop = np.maximum(perf.osc(s), 0.0) * w
    p["lift"] += (0.06 + 0.06 * perf.amplitude) * hop
    p["l_knee"] += 0.5 * w * np.maximum(-perf.osc(s), 0.0)
    for side in "lr":
        _set_arm(p, side, u_abd=0.5, f_flex=0.8, w=w)


def prog_nod_bow(p, s, perf):
    w = perf.env(s, 0.1, 0.4, 0.55, 0.9)
    p["trunk_pitch"] += (0.45 + 0.25 * perf.amplitude) * w
    p["neck_pitch"] += 0.45 * w


def prog_running_on_the_spot(p, s, perf):
    # Knees driven up in front, arms pumping with elbows bent, a slight forward lean and a bounce on every step.
    w = perf.env(s, 0.0, 0.1, 0.9, 1.0)
    c = perf.osc(s)
    a = perf.amplitude
    p["l_thigh_flex"] += (1.1 * a) * np.maximum(c, 0.0) * w
    p["r_thigh_flex"] += (1.1 * a) * np.maximum(-c, 0.0) * w
    p["l_knee"] += 1.6 * np.maximum(c, 0.0) * w
    p["r_knee"] += 1.6 * np.maximum(-c, 0.0) * w
    p["lift"] += 0.05 * np.abs(c) * w
    p["trunk_pitch"] += 0.12 * w
    _set_arm(p, "l", u_flex=-0.7 * a * c, f_flex=1.5 - 0.7 * a * c, w=w)
    _set_arm(p, "r", u_flex=0.7 * a * c, f_flex=1.5 + 0.7 * a * c, w=w)


def prog_side_kick(p, s, perf):
    w = perf.env(s, 0.2, 0.45, 0.55, 0.8)
    p["r_thigh_abd"] += (0.8 + 0.3 * perf.amplitude) * w
    p["r_knee"] += 0.3 * perf.env(s, 0.15, 0.3, 0.4, 0.5)
    p["trunk_roll"] += 0.35 * w
    _set_arm(p, "l", u_abd=0.7, w=w)
    _set_arm(p, "r", u_abd=0.6, w=w)


def prog_pointing(p, s, perf):
    w = perf.env(s, 0.05, 0.3, 0.7, 0.95)
    direction = 0.7 * (perf.phase / math.pi - 1.0)  # where the pointed-at thing is
    _set_arm(p, "r", u_flex=1.45 + 0.2 * perf.amplitude, u_abd=0.25 + direction, f_flex=1.55, f_abd=0.25 + direction,
             w=w)


def prog_cheer_up(p, s, perf):
    w = perf.env(s, 0.0, 0.2, 0.8, 1.0)
    pump = 0.3 * perf.amplitude * perf.osc(s)
    for side in "lr":
        _set_arm(p, side, u_flex=2.4 + pump, u_abd=0.7, f_flex=2.7 + pump, f_abd=0.6, w=w)


def prog_arm_swings(p, s, perf):
    w = perf.env(s, 0.0, 0.15, 0.85, 1.0)
    c = (0.6 + 0.5 * perf.amplitude) * perf.osc(s)
    for side in "lr":
        _set_arm(p, side, u_flex=0.3 + c, f_flex=0.45 + c, w=w)


def prog_butt_kicks(p, s, perf):
    # Thighs stay vertical while the heels kick back towards the buttocks; the hands rest behind on the buttocks.
    w = perf.env(s, 0.0, 0.1, 0.9, 1.0)
    c = perf.osc(s)
    p["l_knee"] += 2.1 * perf.amplitude * np.maximum(c, 0.0) * w
    p["r_knee"] += 2.1 * perf.amplitude * np.maximum(-c, 0.0) * w
    p["lift"] += 0.03 * np.abs(c) * w
    for side in "lr":
        _set_arm(p, side, u_flex=-0.45, u_abd=0.25, f_flex=-1.5, f_abd=-0.6, w=w)


def prog_handshaking(p, s, perf, partner):
    w = perf.env(s, 0.1, 0.35, 0.7, 0.9)
    shake = 0.15 * perf.osc(s) * perf.env(s, 0.35, 0.4, 0.65, 0.7)
    for q in (p, partner):
        _set_arm(q, "r", u_flex=0.8, u_abd=-0.15, f_flex=1.3 + shake, f_abd=-0.25, w=w)
        q["root_z"] += 0.12 * w


def prog_hugging(p, s, perf, partner):
    approach = perf.env(s, 0.0, 0.35, 0.75, 1.0)
    w = perf.env(s, 0.2, 0.45, 0.65, 0.9)
    for q in (p, partner):
        q["root_z"] += 0.45 * approach
        for side in "lr":
            _set_arm(q, side, u_flex=1.35, u_abd=0.55, f_flex=1.6, f_abd=-0.9 * perf.amplitude, w=w)
        q["trunk_pitch"] += 0.15 * w


def prog_pushing(p, s, perf, partner):
    reach = perf.env(s, 0.15, 0.35, 0.5, 0.85)
    push = perf.env(s, 0.35, 0.45, 0.9, 1.0)
    for side in "lr":
        _set_arm(p, side, u_flex=1.45, u_abd=0.05, f_flex=1.5 + 0.4 * (1 - push), w=reach)
        _set_arm(partner, side, u_flex=0.8, u_abd=0.4, f_flex=1.2, w=push)
    p["root_z"] += 0.2 * reach
    p["trunk_pitch"] += 0.25 * reach
    partner["root_z"] -= (0.25 + 0.2 * perf.amplitude) * push
    partner["trunk_pitch"] -= 0.3 * push


def prog_high_five(p, s, perf, partner):
    w = perf.env(s, 0.15, 0.4, 0.55, 0.85)
    for q in (p, partner):
        _set_arm(q, "r", u_flex=2.1, u_abd=-0.1, f_flex=2.6, f_abd=-0.2, w=w)
        q["root_z"] += 0.15 * w


@dataclass(frozen=True)
class ActionClass:
    name: str
    ntu_id: int  # NTU RGB+D 120 action number (A001 = 1)
    program: object
    persons: int = 1
    seconds: tuple = (2.0, 3.5)  # typical duration range
    rate: tuple = (0.0, 0.0)  # cycles per second for cyclic programs


CLASSES = (
    ActionClass("hand waving", 23, prog_hand_waving, seconds=(2.0, 3.5), rate=(1.6, 2.6)),
    ActionClass("clapping", 10, prog_clapping, seconds=(2.0, 3.5), rate=(2.0, 3.2)),
    ActionClass("jump up", 27, prog_jump_up, seconds=(1.8, 2.8)),
    ActionClass("sitting down", 8, prog_sitting_down, seconds=(2.2, 3.5)),
    ActionClass("standing up", 9, prog_standing_up, seconds=(2.2, 3.5)),
    ActionClass("kicking something", 24, prog_kicking_something, seconds=(1.8, 2.8)),
    ActionClass("squat down", 80, prog_squat_down, seconds=(2.5, 4.0)),
    ActionClass("arm circles", 97, prog_arm_circles, seconds=(2.5, 4.0), rate=(0.8, 1.4)),
    ActionClass("hands up (both hands)", 95, prog_hands_up, seconds=(2.0, 3.5)),
    ActionClass("cross hands in front (say stop)", 40, prog_cross_hands, seconds=(2.0, 3.5)),
    ActionClass("salute", 38, prog_salute, seconds=(2.0, 3.2)),
    ActionClass("falling", 43, prog_falling, seconds=(2.0, 3.2)),
    ActionClass("hopping (one foot jumping)", 26, prog_hopping, seconds=(2.0, 3.5), rate=(1.6, 2.4)),
    ActionClass("nod head/bow", 35, prog_nod_bow, seconds=(1.8, 3.0)),
    ActionClass("running on the spot", 99, prog_running_on_the_spot, seconds=(2.0, 3.5), rate=(1.3, 1.8)),
    ActionClass("side kick", 102, prog_side_kick, seconds=(1.8, 2.8)),
    ActionClass("pointing to something with finger", 31, prog_pointing, seconds=(2.0, 3.2)),
    ActionClass("cheer up", 22, prog_cheer_up, seconds=(2.0, 3.5), rate=(1.5, 2.3)),
    ActionClass("arm swings", 98, prog_arm_swings, seconds=(2.0, 3.5), rate=(0.8, 1.3)),
    ActionClass("butt kicks (kick backward)", 100, prog_butt_kicks, seconds=(2.0, 3.5), rate=(1.2, 1.7)),
    ActionClass("handshaking", 58, prog_handshaking, persons=2, seconds=(2.5, 4.0), rate=(2.5, 3.5)),
    ActionClass("hugging other person", 55, prog_hugging, persons=2, seconds=(3.0, 4.5)),
    ActionClass("pushing other person", 52, prog_pushing, persons=2, seconds=(2.0, 3.2)),
    ActionClass("high-five", 112, prog_high_five, persons=2, seconds=(2.0, 3.2)),
)
CLASS_NAMES = tuple(c.name for c in CLASSES)

# Held out of every training stage; used for k-NN and few-shot evaluation of unseen actions.
HELD_OUT_CLASSES = ("side kick", "cheer up", "arm swings", "high-five")

# Synthetic actions that perform one of UTD-MHAD's actions, with the UTD-MHAD name (the default model's labels), so
# that a session of them can be scored against a model trained on UTD-MHAD. Chosen by what they show (the simulated
# wave is one raised hand waving, sitting down ends seated, ...), not by what any model predicts for them.
UTD_MHAD_COUNTERPARTS = {
    "hand waving": "right hand wave",
    "sitting down": "stand to sit",
    "standing up": "sit to stand",
    "running on the spot": "jogging in place",
    "cross hands in front (say stop)": "cross arms in the chest",
}


# ----------------------------------------------------------------------------------------------------------------
# Cameras and sensor


@dataclass(frozen=True)
class Camera:
    azimuth: float  # radians: 0 = the subject faces the sensor; positive turns the subject to its left
    distance: float
    lateral: float
    height: float
    tilt: float


def sample_camera(rng, azimuth_deg):
    distance = rng.uniform(2.5, 4.0)
    height = rng.uniform(0.7, 1.6)
    return Camera(
        azimuth=math.radians(azimuth_deg),
        distance=distance,
        lateral=rng.uniform(-0.3, 0.3),
        height=height,
        tilt=math.atan2(height - 1.0, distance) + rng.uniform(-0.05, 0.05),
    )


def to_camera(points, camera: Camera):
    """Scene points [..., 3] (scene frame: the first subject faces +z) -> Kinect camera coordinates."""
    # The subject faces the sensor at azimuth 0, i.e. the scene is turned by pi + azimuth about the vertical.
    angle = math.pi + camera.azimuth
    c, s = math.cos(angle), math.sin(angle)
    x = c * points[..., 0] + s * points[..., 2] + camera.lateral
    y = points[..., 1] - camera.height
    z = -s * points[..., 0] + c * points[..., 2] + camera.distance
    # A sensor tilted down by `tilt` sees the scene rotated about its x axis.
    ct, st = math.cos(camera.tilt), math.sin(camera.tilt)
    return np.stack([x, ct * y + st * z, -st * y + ct * z], axis=-1)


@dataclass(frozen=True)
class SensorModel:
    noise: tuple = (0.003, 0.015)  # per-sample Gaussian joint noise, metres (uniform range)
    joint_drop: tuple = (0.0, 0.04)  # per-sample probability that a joint is not tracked in a frame
    frame_drop: tuple = (0.0, 0.04)  # per-sample probability that a body is missing from a frame


EXTREMITIES = (7, 11, 15, 19, 21, 22, 23, 24)


def apply_sensor(points, rng, sensor: SensorModel, keep_ends=True):
    """Adds noise and drop-outs. points [F, 25, 3] -> (joints, valid[F, 25], present[F])."""
    frames = points.shape[0]
    sigma = rng.uniform(*sensor.noise)
    joints = points + rng.normal(0.0, sigma, points.shape)
    p_joint = rng.uniform(*sensor.joint_drop)
    drop_p = np.full(NTU_JOINTS, p_joint)
    drop_p[list(EXTREMITIES)] *= 2.0
    valid = rng.random((frames, NTU_JOINTS)) >= drop_p
    present = rng.random(frames) >= rng.uniform(*sensor.frame_drop)
    if keep_ends:
        present[0] = present[-1] = True
        valid[0, 20] = valid[-1, 20] = True  # the spec needs body 0's root in its first and last frame
    joints = np.where(valid[:, :, None], joints, 0.0)
    return joints.astype(np.float32), valid, present


# ----------------------------------------------------------------------------------------------------------------
# Samples and splits


@dataclass(frozen=True)
class SyntheticConfig:
    seed: int = 0
    subjects: int = 40
    repetitions: int = 1
    cameras_deg: tuple = (-60.0, -30.0, 0.0, 30.0, 60.0)
    camera_jitter_deg: float = 8.0
    cross_view_test_cameras: tuple = (1, 3)  # indices into cameras_deg: +-30 degrees are held out
    classes: tuple = CLASS_NAMES
    sensor: SensorModel = field(default_factory=SensorModel)

    def is_train_subject(self, subject):
        return subject % 2 == 0  # NTU also alternates subject ids between the two halves, roughly


@dataclass
class Sample:
    label: int  # index into SyntheticConfig.classes
    subject: int
    camera: int
    repetition: int
    azimuth_deg: float
    present: np.ndarray  # [2, F] bool
    joints: np.ndarray  # [2, F, 25, 3] float32, camera frame
    valid: np.ndarray  # [2, F, 25] bool


def perform(action: ActionClass, subject: Subject, rng, frames=None, partner_subject=None):
    """Runs a class's motion program. Returns body-local joints of the actor and the partner (or None) in the
    scene frame: [F, 25, 3] each."""
    if frames is None:
        frames = int(round(rng.uniform(*action.seconds) * FPS / subject.tempo))
    perf = Performance(
        frames=frames, amplitude=float(rng.uniform(0.8, 1.2)),
        rate=float(rng.uniform(*action.rate)) * subject.tempo if action.rate[1] > 0 else 0.0,
        phase=float(rng.uniform(0, TAU)), jitter=rng.uniform(-0.04, 0.04, 4), rng=rng,
    )
    s = np.linspace(0.0, 1.0, frames)
    p = rest_pose(subject, frames, rng)
    if action.persons == 1:
        action.program(p, s, perf)
        return forward_kinematics(subject, p), None
    q = rest_pose(partner_subject, frames, rng)
    action.program(p, s, perf, q)
    gap = rng.uniform(1.0, 1.3)
    actor = forward_kinematics(subject, p)
    other = forward_kinematics(partner_subject, q)
    # The partner stands `gap` metres in front of the actor, facing it: turn by pi about the vertical.
    other = other * np.array([-1.0, 1.0, -1.0]) + np.array([0.0, 0.0, gap])
    return actor, other


def generate_sample(config: SyntheticConfig, subject_index, label, repetition, camera_index) -> Sample:
    action = CLASSES[CLASS_NAMES.index(config.classes[label])]
    perf_rng = np.random.default_rng([config.seed, 1, subject_index, label, repetition])
    subject = make_subject(config.seed, subject_index)
    partner = make_subject(config.seed, (subject_index + 1 + int(perf_rng.integers(config.subjects - 1))) % config.subjects) \
        if action.persons == 2 else None
    actor, other = perform(action, subject, perf_rng, partner_subject=partner)
    facing = perf_rng.uniform(-0.2, 0.2)  # where the subject faces, before the camera is placed
    cam_rng = np.random.default_rng([config.seed, 2, subject_index, label, repetition, camera_index])
    azimuth = config.cameras_deg[camera_index] + cam_rng.uniform(-config.camera_jitter_deg, config.camera_jitter_deg)
    camera = sample_camera(cam_rng, azimuth + math.degrees(facing))
    frames = actor.shape[0]
    present = np.zeros((2, frames), dtype=bool)
    joints = np.zeros((2, frames, NTU_JOINTS, 3), dtype=np.float32)
    valid = np.zeros((2, frames, NTU_JOINTS), dtype=bool)
    centre = np.zeros(3) if other is None else np.array([0.0, 0.0, 0.5 * (other[0, 0, 2] + actor[0, 0, 2])])
    joints[0], valid[0], present[0] = apply_sensor(to_camera(actor - centre, camera), cam_rng, config.sensor)
    if other is not None:
        joints[1], valid[1], present[1] = apply_sensor(to_camera(other - centre, camera), cam_rng, config.sensor,
                                                       keep_ends=False)
    return Sample(label=label, subject=subject_index, camera=camera_index, repetition=repetition,
                  azimuth_deg=float(azimuth), present=present, joints=joints, valid=valid)


def sample_keys(config: SyntheticConfig, labels=None):
    """Every (subject, label, repetition, camera) of the corpus, in a fixed order."""
    labels = range(len(config.classes)) if labels is None else labels
    return [(s, c, r, k) for s in range(config.subjects) for c in labels for r in range(config.repetitions)
            for k in range(len(config.cameras_deg))]


def generate(config: SyntheticConfig, labels=None):
    return [generate_sample(config, s, c, r, k) for s, c, r, k in sample_keys(config, labels)]


# ----------------------------------------------------------------------------------------------------------------
# Sessions: a continuous stream of actions separated by idle motion

# Classes that start and end at the standing rest pose and involve one person. "sitting down" and "standing up"
# are scheduled as a pair (the idle between them is spent seated); "falling" ends on the floor and is left out.
SESSION_EXCLUDED = ("falling",)


@dataclass
class Segment:
    label: int  # index into the config's classes
    name: str
    start_frame: int  # first frame of the action (inclusive)
    end_frame: int  # last frame of the action (inclusive)


@dataclass
class Session:
    rate_hz: float
    body_id: int
    camera: Camera
    subject: int
    timestamps_us: np.ndarray  # [F] int64, increasing; dropped frames leave gaps
    present: np.ndarray  # [F] bool (False: the frame is sent with no body)
    joints: np.ndarray  # [F, 25, 3] float32, camera frame
    valid: np.ndarray  # [F, 25] bool
    segments: list


def session(config: SyntheticConfig, subject_index=0, actions=12, seed=None, camera_deg=None, labels=None,
            idle_seconds=(1.0, 3.0)) -> Session:
    """A stream of `actions` single-person actions separated by idle motion, seen by one camera."""
    seed = config.seed if seed is None else seed
    rng = np.random.default_rng([seed, 3, subject_index, actions])
    names = [n for n in config.classes if CLASSES[CLASS_NAMES.index(n)].persons == 1 and n not in SESSION_EXCLUDED]
    if labels is not None:
        names = [n for n in names if config.classes.index(n) in labels]
    if not names:
        raise ValueError("no single-person class is available for a session")
    subject = make_subject(config.seed, subject_index)
    plan = []  # (name or None for idle, frames)
    plan.append((None, int(rng.uniform(*idle_seconds) * FPS)))
    seated = False
    while len([n for n, _ in plan if n]) < actions:
        name = "standing up" if seated else names[int(rng.integers(len(names)))]
        if name == "standing up" and not seated:
            continue  # only after sitting down
        action = CLASSES[CLASS_NAMES.index(name)]
        plan.append((name, int(rng.uniform(*action.seconds) * FPS / subject.tempo)))
        seated = name == "sitting down" and "standing up" in names
        plan.append((None, int(rng.uniform(*idle_seconds) * FPS)))
    total = sum(f for _, f in plan)
    p = rest_pose(subject, total, rng)
    segments = []
    start = 0
    seated = False
    for name, frames in plan:
        window = slice(start, start + frames)
        part = {k: v[window].copy() for k, v in p.items()}
        s = np.linspace(0.0, 1.0, frames)
        if name is None:
            if seated:
                _sit_amount(part, np.ones(frames), Performance(frames, 0.0, 0.0, 0.0, np.zeros(4), rng))
        else:
            action = CLASSES[CLASS_NAMES.index(name)]
            perf = Performance(frames=frames, amplitude=float(rng.uniform(0.8, 1.2)),
                               rate=float(rng.uniform(*action.rate)) * subject.tempo if action.rate[1] > 0 else 0.0,
                               phase=float(rng.uniform(0, TAU)), jitter=np.zeros(4), rng=rng)
            action.program(part, s, perf)
            segments.append(Segment(config.classes.index(name), name, start, start + frames - 1))
            seated = name == "sitting down"
        for k in p:
            p[k][window] = part[k]
        start += frames
    local = forward_kinematics(subject, p)
    azimuth = rng.uniform(-60, 60) if camera_deg is None else camera_deg
    camera = sample_camera(rng, azimuth)
    joints, valid, present = apply_sensor(to_camera(local, camera), rng, config.sensor)
    period_us = 1_000_000.0 / FPS
    timestamps = np.round(np.arange(total) * period_us).astype(np.int64)
    # Whole frames the sensor never delivers (about 1 in 200) leave gaps in the timestamps; none in the first second.
    kept = rng.random(total) >= 0.005
    kept[: int(FPS)] = True
    keep_idx = np.flatnonzero(kept)
    remap = {old: new for new, old in enumerate(keep_idx)}
    segs = []
    for seg in segments:
        inside = keep_idx[(keep_idx >= seg.start_frame) & (keep_idx <= seg.end_frame)]
        segs.append(Segment(seg.label, seg.name, remap[int(inside[0])], remap[int(inside[-1])]))
    return Session(rate_hz=FPS, body_id=1, camera=camera, subject=subject_index, timestamps_us=timestamps[keep_idx],
                   present=present[keep_idx], joints=joints[keep_idx], valid=valid[keep_idx], segments=segs)
