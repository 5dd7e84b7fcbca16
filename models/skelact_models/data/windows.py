"""Model windows from skeleton sequences, through the preprocessing specification.

Every sequence is filled, centred and (optionally) aligned once by `preprocess.prepare_sequence` (spec steps 1-3)
and kept at its own length. Evaluation windows then take the spec's deterministic crop and resize (step 4), exactly
what the device computes. Training windows take CTR-GCN's random crop instead (a random crop ratio and offset,
resized with the same interpolation), plus optional random rotations, so the model sees the same kind of tensor
either way.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..preprocess import PreprocessConfig, crop_resize, prepare_sequence, resize_time, to_ctvm


class SequenceSet:
    """Preprocessed sequences [C, F_i, V, M] with integer labels and per-sample metadata."""

    def __init__(self, sequences, labels, meta=None, class_names=()):
        if len(sequences) != len(labels):
            raise ValueError("one label per sequence")
        self.sequences = list(sequences)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.meta = {k: np.asarray(v) for k, v in (meta or {}).items()}
        self.class_names = tuple(class_names)

    @classmethod
    def from_spec_inputs(cls, items, labels, meta=None, class_names=(), align=False):
        """items: iterable of (present, joints, valid) spec inputs."""
        sequences = [to_ctvm(prepare_sequence(p, j, v, align=align)[0]) for p, j, v in items]
        return cls(sequences, labels, meta, class_names)

    def __len__(self):
        return len(self.sequences)

    def subset(self, mask_or_indices):
        idx = np.flatnonzero(mask_or_indices) if np.asarray(mask_or_indices).dtype == bool else \
            np.asarray(mask_or_indices)
        return SequenceSet([self.sequences[i] for i in idx], self.labels[idx],
                           {k: v[idx] for k, v in self.meta.items()}, self.class_names)

    def eval_windows(self, config: PreprocessConfig):
        """The spec's test-time windows of every sequence: float32 tensor [N, 3, T, 25, 2]."""
        return torch.from_numpy(np.stack([crop_resize(s, config.crop_ratio, config.frames_out)
                                          for s in self.sequences]))


def random_crop_resize(sequence, frames_out, rng, interval=(0.5, 1.0), min_length=16):
    """CTR-GCN's training-time `valid_crop_resize`: keep a random ratio p of the frames (at least `min_length`)
    at a random offset and resize them to `frames_out`."""
    frames = sequence.shape[1]
    p = rng.uniform(*interval)
    length = int(min(max(int(math.floor(frames * p)), min_length), frames))
    start = int(rng.integers(0, frames - length + 1))
    return resize_time(sequence[:, start:start + length], frames_out)


def random_rotation(batch, rng, max_angle=0.3):
    """Rotates each window about the x, y and z axes by angles drawn from [-max_angle, max_angle] (CTR-GCN's
    `random_rot`). batch [N, 3, T, V, M]; absent (all-zero) frames stay zero."""
    n = batch.shape[0]
    angles = rng.uniform(-max_angle, max_angle, size=(n, 3))
    rotations = []
    for ax, ay, az in angles:
        cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
        rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
        ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
        rz = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
        rotations.append(rz @ ry @ rx)
    rot = torch.from_numpy(np.stack(rotations).astype(np.float32))
    return torch.einsum("nij,njtvm->nitvm", rot, batch)


def random_scale(batch, rng, max_change=0.1):
    """Scales each window's x, y and z by factors drawn from [1 - max_change, 1 + max_change] (people of other
    sizes and proportions). batch [N, 3, T, V, M]; absent (all-zero) frames stay zero."""
    factors = rng.uniform(1.0 - max_change, 1.0 + max_change, size=(batch.shape[0], 3)).astype(np.float32)
    return batch * torch.from_numpy(factors)[:, :, None, None, None]


def random_yaw(batch, rng, max_angle):
    """Turns each window about the vertical (y) axis by an angle drawn from [-max_angle, max_angle]: the same
    person seen from another side, which the cross-view benchmarks test and small rotations do not cover."""
    angles = rng.uniform(-max_angle, max_angle, size=batch.shape[0])
    rot = np.zeros((batch.shape[0], 3, 3))
    rot[:, 0, 0] = rot[:, 2, 2] = np.cos(angles)
    rot[:, 0, 2], rot[:, 2, 0] = -np.sin(angles), np.sin(angles)
    rot[:, 1, 1] = 1.0
    return torch.einsum("nij,njtvm->nitvm", torch.from_numpy(rot.astype(np.float32)), batch)


def training_batch(sequences, frames_out, rng, rotate=True, interval=(0.5, 1.0), scale=0.0, max_angle=0.3,
                   yaw=0.0):
    """Random crops resized to `frames_out`, then random rotations (`rotate`) of up to `max_angle` rad about each
    axis, when `yaw` > 0 a further turn of up to ±`yaw` rad about the vertical, and when `scale` > 0 random
    per-axis scaling by up to ±`scale`."""
    batch = torch.from_numpy(np.stack([random_crop_resize(s, frames_out, rng, interval) for s in sequences]))
    if rotate:
        batch = random_rotation(batch, rng, max_angle)
    if yaw > 0:
        batch = random_yaw(batch, rng, yaw)
    if scale > 0:
        batch = random_scale(batch, rng, scale)
    return batch
