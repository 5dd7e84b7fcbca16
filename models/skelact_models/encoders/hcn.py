"""HCN-style two-stream CNN (Li et al., 2018; the skeleton branch of CC-DFARM): the low-power encoder.

Joint and motion streams each pass through a point-level stage (1x1 then 3x1 convolutions over time, per joint),
then the tensor is transposed so that joints become channels and 3x3 convolutions learn co-occurrence features
across all joints at once. The two streams are concatenated, two more convolution stages follow, the bodies are
merged by an element-wise maximum, and fc7 gives the embedding (fc8 the logits).

Inputs are the spec's joint and motion tensors [N, 3, T, 25, 2], so the device feeds it the streams it already
computes (preprocessing steps 5 and 7).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn


@dataclass(frozen=True)
class HcnConfig:
    frames: int = 64
    joints: int = 25
    channels: int = 3
    bodies: int = 2
    point_width: int = 64
    cooccurrence_width: int = 32
    embedding: int = 256
    dropout: float = 0.5

    @classmethod
    def tiny(cls):
        return cls(frames=32, point_width=16, cooccurrence_width=16, embedding=32)

    def to_dict(self):
        return asdict(self)

    def __post_init__(self):
        if self.frames % 16:
            raise ValueError("HCN pools time four times: frames must be a multiple of 16")
        if self.cooccurrence_width % 16:
            raise ValueError("HCN pools the feature axis four times: cooccurrence_width must be a multiple of 16")


class _Stream(nn.Module):
    """Point-level then co-occurrence convolutions for one input stream: [NM, C, T, V] -> [NM, 2w, T/4, w/4]."""

    def __init__(self, c: HcnConfig):
        super().__init__()
        w = c.cooccurrence_width
        self.point = nn.Sequential(
            nn.Conv2d(c.channels, c.point_width, kernel_size=1), nn.ReLU(),
            nn.Conv2d(c.point_width, w, kernel_size=(3, 1), padding=(1, 0)),
        )
        self.cooccurrence = nn.Sequential(
            nn.Conv2d(c.joints, w, kernel_size=3, padding=1), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, kernel_size=3, padding=1), nn.Dropout2d(c.dropout), nn.MaxPool2d(2),
        )

    def forward(self, x):
        x = self.point(x)  # [NM, w, T, V]
        return self.cooccurrence(x.permute(0, 3, 2, 1))  # joints become channels: [NM, V, T, w]


class Hcn(nn.Module):
    """`forward(joint, motion)` returns the embedding [N, embedding]; `classify` adds fc8."""

    def __init__(self, config: HcnConfig, classes: int):
        super().__init__()
        c = config
        self.config = config
        w = c.cooccurrence_width
        self.joint_stream = _Stream(c)
        self.motion_stream = _Stream(c)
        self.fusion = nn.Sequential(
            nn.Conv2d(4 * w, 4 * w, kernel_size=3, padding=1), nn.ReLU(), nn.Dropout2d(c.dropout), nn.MaxPool2d(2),
            nn.Conv2d(4 * w, 8 * w, kernel_size=3, padding=1), nn.ReLU(), nn.Dropout2d(c.dropout), nn.MaxPool2d(2),
        )
        flat = 8 * w * (c.frames // 16) * (w // 16)
        self.fc7 = nn.Sequential(nn.Flatten(), nn.Linear(flat, c.embedding), nn.ReLU(), nn.Dropout(c.dropout))
        self.fc8 = nn.Linear(c.embedding, classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        # A small classifier at the start keeps the first logits near zero (Kaiming here gave a loss of ~7 for 20
        # classes and a slow start).
        nn.init.normal_(self.fc8.weight, std=0.01)

    @property
    def width(self):
        return self.config.embedding

    def _per_body(self, x):
        n, c, t, v, m = x.shape
        return x.permute(0, 4, 1, 2, 3).reshape(n * m, c, t, v)

    def forward(self, joint, motion):
        n, m = joint.shape[0], joint.shape[-1]
        features = torch.cat([self.joint_stream(self._per_body(joint)), self.motion_stream(self._per_body(motion))],
                             dim=1)
        features = self.fusion(features)
        features = features.reshape(n, m, *features.shape[1:]).amax(dim=1)  # bodies merged by maximum
        return self.fc7(features)

    def classify(self, joint, motion):
        return self.fc8(self.forward(joint, motion))


class HcnOnJoint(nn.Module):
    """HCN with the joint tensor as its only input: the motion stream (spec step 7, `motion[:, t] = joint[:, t + 1]
    - joint[:, t]`, zero at the last frame) is computed inside the graph, so the device feeds one tensor, as it does
    for every other encoder. `forward(joint)` returns fc7's embedding; the device applies fc8 as its linear head."""

    def __init__(self, hcn: Hcn):
        super().__init__()
        self.hcn = hcn
        self.config = hcn.config

    @property
    def width(self):
        return self.hcn.width

    def forward(self, joint):
        motion = torch.cat([joint[:, :, 1:] - joint[:, :, :-1], torch.zeros_like(joint[:, :, :1])], dim=2)
        return self.hcn(joint, motion)
