"""Preprocessing specification v1, the Python half (the Rust half is `runtime/src/preprocess.rs`).

The specification is normative and lives in the project brief and `docs/models.md`; the two implementations are
kept in agreement by the golden vectors in `tests/fixtures/preprocess/*.json` (reproduced here to 1e-6).

Arrays use the layout of the spec's input: `present[M, F]`, `joints[M, F, 25, 3]` (metres, model axes) and
`valid[M, F, 25]` for M = 2 bodies, where body 0 is the body the window is for. Steps 1 to 3 (fill, centre, align)
are `prepare_sequence`; steps 4 and 5 (crop and resize, tensor) are `crop_resize`; steps 6 and 7 are
`bone_stream` and `motion_stream`. `preprocess_window` runs them all, as the device does for every window.

Arithmetic follows the spec to the bit where it can: float32 everywhere except the alignment matrices (float64),
and the resize is PyTorch's own `F.interpolate(mode="bilinear", align_corners=False)`, as in the CTR-GCN and MAMP
feeders (`valid_crop_resize`), so what the model saw in training is what the device computes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .skeleton import (
    BONE_PAIRS_1BASED,
    NTU_JOINTS,
    PARENT,
    ROOT,
    ROOT_FIRST,
    SHOULDER_LEFT,
    SHOULDER_RIGHT,
    SPINE_BASE,
    SPINE_MID,
)

BODIES = 2


# A coordinate beyond this many metres (or NaN, or infinite) makes its sample unobserved (spec: numeric rules).
MAX_ABS_COORDINATE_M = 1000.0


class PreprocessError(ValueError):
    """The window is refused. `code` is the spec's refusal code: `empty_window`, `body0_absent_at_edge` or
    `body0_no_root` (or `invalid_input` for arrays of the wrong shape, an API error)."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class PreprocessConfig:
    frames_out: int = 64
    crop_ratio: float = 0.95
    align: bool = False

    def __post_init__(self):
        if not 1 <= self.frames_out <= 10_000:
            raise ValueError(f"frames_out must be in 1..=10000, got {self.frames_out}")
        if not 0.0 < self.crop_ratio <= 1.0:
            raise ValueError(f"crop_ratio must be in (0, 1], got {self.crop_ratio}")


def _check_inputs(present, joints, valid):
    present = np.asarray(present, dtype=bool)
    joints = np.asarray(joints, dtype=np.float32)
    valid = np.asarray(valid, dtype=bool)
    if present.ndim != 2 or present.shape[0] != BODIES:
        raise PreprocessError("invalid_input", f"present must have shape [2, F], got {present.shape}")
    frames = present.shape[1]
    if frames < 1:
        raise PreprocessError("empty_window", "a window needs at least one frame")
    if joints.shape != (BODIES, frames, NTU_JOINTS, 3):
        raise PreprocessError("invalid_input", f"joints must have shape [2, {frames}, 25, 3], got {joints.shape}")
    if valid.shape != (BODIES, frames, NTU_JOINTS):
        raise PreprocessError("invalid_input", f"valid must have shape [2, {frames}, 25], got {valid.shape}")
    if not (present[0, 0] and present[0, frames - 1]):
        raise PreprocessError("body0_absent_at_edge",
                              "body 0 must be present in the first and the last frame of the window")
    return present, joints, valid


def observed_samples(present, joints, valid):
    """The spec's observed samples of one body: present in the frame, valid, and every coordinate within
    +-1000 m (NaN and infinities fail). present [F], joints [F, 25, 3], valid [F, 25] -> [F, 25] bool."""
    with np.errstate(invalid="ignore"):
        plausible = np.all(np.abs(joints) <= np.float32(MAX_ABS_COORDINATE_M), axis=-1)
    return valid & present[:, None] & plausible


def fill_body(present, joints, valid):
    """Step 1 for one body: `present[F]`, `joints[F, 25, 3]`, `valid[F, 25]`.

    Returns `(filled[F, 25, 3] float32, in_range[F] bool)`. `in_range` is all False when the body is absent in
    every frame of the window, either because it is never present or because its root is never observed.
    """
    frames = present.shape[0]
    filled = np.zeros((frames, NTU_JOINTS, 3), dtype=np.float32)
    in_range = np.zeros(frames, dtype=bool)
    present_frames = np.flatnonzero(present)
    if present_frames.size == 0:
        return filled, in_range
    first, last = int(present_frames[0]), int(present_frames[-1])
    observed = observed_samples(present, joints, valid)
    if not observed[:, ROOT].any():
        return filled, in_range
    in_range[first:last + 1] = True
    range_frames = np.arange(first, last + 1)
    has_samples = np.zeros(NTU_JOINTS, dtype=bool)
    for v in range(NTU_JOINTS):
        obs = np.flatnonzero(observed[:, v])
        if obs.size == 0:
            continue
        has_samples[v] = True
        # Index of the first observed frame >= f (after) and the last observed frame <= f (before).
        after = np.searchsorted(obs, range_frames, side="left")
        before = np.searchsorted(obs, range_frames, side="right") - 1
        f0 = obs[np.clip(before, 0, obs.size - 1)]
        f1 = obs[np.clip(after, 0, obs.size - 1)]
        # Where f itself is observed, or only one side exists, f0 == f1 and the sample is copied (w = 0).
        f0 = np.where(before < 0, f1, f0)
        f1 = np.where(after >= obs.size, f0, f1)
        span = np.maximum(f1 - f0, 1).astype(np.float32)
        w = ((range_frames - f0).astype(np.float32) / span)[:, None]
        a, b = joints[f0, v], joints[f1, v]
        filled[first:last + 1, v] = np.where((f1 == f0)[:, None], a, a + (b - a) * w)
    for v in ROOT_FIRST:
        if not has_samples[v]:
            filled[first:last + 1, v] = filled[first:last + 1, PARENT[v]]
    return filled, in_range


def rotation_matrix(axis, theta):
    """MS-G3D's `rotation_matrix` (Euler-Rodrigues), in float64: rotation about `axis` by `theta` radians.

    The identity test uses the L1 norm of the axis, as MS-G3D's `np.abs(axis).sum() < 1e-6` does.
    """
    axis = np.asarray(axis, dtype=np.float64)
    if np.abs(axis).sum() < 1e-6 or abs(theta) < 1e-6:
        return np.eye(3)
    axis = axis / math.sqrt(float(np.dot(axis, axis)))
    a = math.cos(theta / 2.0)
    b, c, d = -axis * math.sin(theta / 2.0)
    aa, bb, cc, dd = a * a, b * b, c * c, d * d
    bc, ad, ac, ab, bd, cd = b * c, a * d, a * c, a * b, b * d, c * d
    return np.array([
        [aa + bb - cc - dd, 2 * (bc + ad), 2 * (bd - ac)],
        [2 * (bc - ad), aa + cc - bb - dd, 2 * (cd + ab)],
        [2 * (bd + ac), 2 * (cd - ab), aa + dd - bb - cc],
    ])


def _align_matrix(vector, target):
    """The matrix that turns `vector` towards `target` as MS-G3D's `pre_normalization` builds it."""
    vector = np.asarray(vector, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    axis = np.cross(vector, target)
    if np.abs(axis).sum() < 1e-6:
        return np.eye(3)
    unit = vector / np.linalg.norm(vector)
    angle = float(np.arccos(np.clip(np.dot(unit, target), -1.0, 1.0)))
    return rotation_matrix(axis, angle)


def _rotate(seq, in_range, matrix):
    """Applies `matrix` (float64) to every joint of every in-range frame; results rounded to float32."""
    out = seq.copy()
    rotated = (seq.astype(np.float64) @ matrix.T).astype(np.float32)
    mask = in_range[:, :, None, None]
    return np.where(mask, rotated, out)


def prepare_sequence(present, joints, valid, align=False):
    """Steps 1 to 3 (fill, centre, optional align) on a whole window.

    Returns `(seq[M, F, 25, 3] float32, in_range[M, F] bool)`; absent frames are zeros.
    Raises `PreprocessError` when body 0 is unusable.
    """
    present, joints, valid = _check_inputs(present, joints, valid)
    frames = present.shape[1]
    seq = np.zeros((BODIES, frames, NTU_JOINTS, 3), dtype=np.float32)
    in_range = np.zeros((BODIES, frames), dtype=bool)
    for b in range(BODIES):
        seq[b], in_range[b] = fill_body(present[b], joints[b], valid[b])
    if not in_range[0].any():
        raise PreprocessError("body0_no_root", "body 0's SpineShoulder (the root joint) is never observed in the window")
    origin = seq[0, 0, SPINE_MID].copy()
    seq = np.where(in_range[:, :, None, None], seq - origin, np.float32(0.0)).astype(np.float32)
    if align:
        first = seq[0, 0]
        matrix_z = _align_matrix(first[SPINE_MID].astype(np.float64) - first[SPINE_BASE].astype(np.float64),
                                 [0.0, 0.0, 1.0])
        seq = _rotate(seq, in_range, matrix_z)
        first = seq[0, 0]
        matrix_x = _align_matrix(first[SHOULDER_RIGHT].astype(np.float64) - first[SHOULDER_LEFT].astype(np.float64),
                                 [1.0, 0.0, 0.0])
        seq = _rotate(seq, in_range, matrix_x)
    return seq, in_range


def to_ctvm(seq):
    """[M, F, V, C] -> [C, F, V, M] (the NTU feeder order), float32, C-contiguous."""
    return np.ascontiguousarray(np.transpose(np.asarray(seq, dtype=np.float32), (3, 1, 2, 0)))


def crop_bias(frames, crop_ratio):
    """Frames dropped at each end by the test-time crop: floor((1 - p) * F / 2) in float64."""
    return int(math.floor((1.0 - crop_ratio) * frames / 2.0))


def resize_time(data, frames_out):
    """Resizes [C, L, V, M] to [C, T, V, M] along time with PyTorch's bilinear interpolation (align_corners=False),
    laid out exactly as the CTR-GCN/MAMP feeders lay it out (rows C*V*M, columns time)."""
    tensor = torch.as_tensor(np.asarray(data, dtype=np.float32))
    channels, length, joints, bodies = tensor.shape
    rows = tensor.permute(0, 2, 3, 1).reshape(channels * joints * bodies, length)
    resized = F.interpolate(rows[None, None], size=(channels * joints * bodies, frames_out), mode="bilinear",
                            align_corners=False)[0, 0]
    return resized.reshape(channels, joints, bodies, frames_out).permute(0, 3, 1, 2).contiguous().numpy()


def resize_time_reference(data, frames_out):
    """The spec's step 4 written out with numpy float32 arithmetic; used to check `resize_time`."""
    data = np.asarray(data, dtype=np.float32)
    length = data.shape[1]
    scale = np.float32(length) / np.float32(frames_out)
    out = np.empty((data.shape[0], frames_out) + data.shape[2:], dtype=np.float32)
    for t in range(frames_out):
        src = max(scale * (np.float32(t) + np.float32(0.5)) - np.float32(0.5), np.float32(0.0))
        i0 = int(math.floor(src))
        i1 = min(i0 + 1, length - 1)
        w1 = np.float32(src - np.float32(i0))
        w0 = np.float32(1.0) - w1
        out[:, t] = w0 * data[:, i0] + w1 * data[:, i1]
    return out


def crop_resize(data, crop_ratio, frames_out):
    """Step 4 at test time: keep frames [bias, F - bias) and resize them to `frames_out`. [C, F, V, M] in."""
    frames = data.shape[1]
    bias = crop_bias(frames, crop_ratio)
    return resize_time(data[:, bias:frames - bias], frames_out)


def bone_stream(joint):
    """Step 6: bone[:, :, v1] = joint[:, :, v1] - joint[:, :, v2] over the spec's pairs. Works on numpy arrays and
    torch tensors of shape [..., C, T, V, M]."""
    v1 = [a - 1 for a, _ in BONE_PAIRS_1BASED]
    v2 = [b - 1 for _, b in BONE_PAIRS_1BASED]
    if isinstance(joint, torch.Tensor):
        bone = torch.zeros_like(joint)
    else:
        bone = np.zeros_like(joint)
    bone[..., v1, :] = joint[..., v1, :] - joint[..., v2, :]
    return bone


def motion_stream(joint):
    """Step 7: motion[:, t] = joint[:, t + 1] - joint[:, t], and zero at the last frame. [..., C, T, V, M]."""
    if isinstance(joint, torch.Tensor):
        motion = torch.zeros_like(joint)
    else:
        motion = np.zeros_like(joint)
    motion[..., :, :-1, :, :] = joint[..., :, 1:, :, :] - joint[..., :, :-1, :, :]
    return motion


def missing_mask(present, joints, valid, config=PreprocessConfig(), provided=None):
    """The spec's missing mask of a window (what REC reconstructs) and its missing fraction.

    A source sample is missing when its frame is within the body's filled range (step 1) and the joint is not
    observed there; joints the sensor's layout never provides (`provided[v]` False, e.g. Kinect v1's thumbs) are
    filled from their parent as in training and are not counted. The indicator goes through step 4 like the
    coordinates; a model-window entry is missing when any sample it is built from was. Returns
    (missing [1, T, 25, 2] float32 of 0/1, fraction: missing entries / (25 x in-range (body, frame) pairs))."""
    present, joints, valid = _check_inputs(present, joints, valid)
    provided = np.ones(NTU_JOINTS, dtype=bool) if provided is None else np.asarray(provided, dtype=bool)
    in_range = np.zeros(present.shape, dtype=bool)
    source = np.zeros((1, present.shape[1], NTU_JOINTS, BODIES), dtype=np.float32)
    for b in range(BODIES):
        in_range[b] = fill_body(present[b], joints[b], valid[b])[1]
        observed = observed_samples(present[b], joints[b], valid[b])
        source[0, :, :, b] = (in_range[b][:, None] & ~observed & provided[None, :]).astype(np.float32)
    missing = (crop_resize(source, config.crop_ratio, config.frames_out) > 0).astype(np.float32)
    ranges = in_range.T.astype(np.float32)[None, :, None, :]  # [1, F, 1, 2]
    frames_in_range = int((crop_resize(ranges, config.crop_ratio, config.frames_out) > 0).sum())
    fraction = float(missing.sum()) / (NTU_JOINTS * frames_in_range) if frames_in_range else 0.0
    return missing, fraction


def preprocess_window(present, joints, valid, config=PreprocessConfig()):
    """The whole spec on one window: returns {"joint", "bone", "motion"} float32 arrays of shape [3, T, 25, 2]."""
    seq, _ = prepare_sequence(present, joints, valid, align=config.align)
    joint = crop_resize(to_ctvm(seq), config.crop_ratio, config.frames_out)
    return {"joint": joint, "bone": bone_stream(joint), "motion": motion_stream(joint)}
