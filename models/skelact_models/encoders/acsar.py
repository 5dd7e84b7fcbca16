"""AC-SAR's skeleton encoder (after SCD-Net): CTR-GCN blocks, then decoupled spatial and temporal branches with one
transformer layer each.

- **CTR-GCN block** (Chen et al., 2021): channel-wise topology refinement. For each of the three subsets of the NTU
  graph (self, towards the spine, away from it) the block learns a per-channel correction of the shared adjacency
  from the window itself, tanh(q_u - k_v) with q, k the time-averaged features of joints u and v, mapped to the
  output channels and added to the (learned) adjacency with a learned scale. A temporal convolution (kernel 5)
  follows, with a residual around the block. The multi-scale temporal convolution of CTR-GCN is one kernel here:
  the windows are 32 frames and the CPU budget is two cores.
- **Decoupling** (SCD-Net): the GCN features [C, T, V] are averaged over time into V joint tokens (the spatial
  branch) and over joints into T frame tokens (the temporal branch); each branch runs one pre-norm transformer layer
  with a learned position embedding and is averaged into one vector. The embedding is the two concatenated.
- **Bodies**: each body is encoded alone and the embedding is the mean over the bodies present (a body of zeros, the
  missing partner of the NTU M = 2 convention, is left out). Outside the export only present bodies are computed; the
  export computes both, as a fixed-shape graph must, and masks the absent one, which gives the same result.

The stream (joint, bone or motion) is the caller's business: the encoder sees one [N, 3, T, 25, 2] tensor, which is
what the device hands each stream's model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..skeleton import BONE_PAIRS_1BASED
from .transformer import Block, bodies_first, body_presence

JOINTS = 25


@dataclass(frozen=True)
class AcSarConfig:
    frames: int = 32
    channels: int = 3
    joints: int = JOINTS
    bodies: int = 2
    # One CTR-GCN block per entry. The paper's encoder has ten blocks of 64 to 256 channels; two blocks of 32 and 64,
    # each halving the frames, cost about 1.5 s per pre-training step of 64 windows on one CPU core.
    widths: tuple = (32, 64)
    strides: tuple = (2, 2)  # temporal stride of each block
    relation: int = 8  # channels of the topology refinement
    heads: int = 4
    dropout: float = 0.0

    @classmethod
    def tiny(cls):
        return cls(frames=16, widths=(8, 16), strides=(1, 2), relation=4, heads=2)

    @property
    def width(self):
        """Width of the embedding: spatial and temporal branch, concatenated."""
        return 2 * self.widths[-1]

    def to_dict(self):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def ntu_adjacency():
    """[3, V, V] adjacency of the NTU-25 graph, each subset normalised by its in-degree (ST-GCN's spatial
    partition): the identity, the edges towards the spine and the edges away from it."""
    inward = torch.zeros(JOINTS, JOINTS)
    for child, parent in BONE_PAIRS_1BASED:
        if child != parent:
            inward[parent - 1, child - 1] = 1.0  # row: the joint that aggregates, column: its neighbour
    outward = inward.T.clone()

    def normalise(a):
        degree = a.sum(dim=0)
        return a / degree.clamp_min(1.0)[None, :]

    return torch.stack([torch.eye(JOINTS), normalise(inward), normalise(outward)])


class TopologyRefinedConv(nn.Module):
    """One subset of CTR-GC: x [B, Cin, T, V] -> [B, Cout, T, V] over the refined adjacency of the subset."""

    def __init__(self, c_in, c_out, relation):
        super().__init__()
        self.query = nn.Conv2d(c_in, relation, 1)
        self.key = nn.Conv2d(c_in, relation, 1)
        self.value = nn.Conv2d(c_in, c_out, 1)
        self.expand = nn.Conv2d(relation, c_out, 1)

    def forward(self, x, adjacency, alpha):
        q, k = self.query(x).mean(dim=2), self.key(x).mean(dim=2)  # [B, R, V]
        refinement = self.expand(torch.tanh(q.unsqueeze(-1) - k.unsqueeze(-2)))  # [B, Cout, V, V]
        topology = refinement * alpha + adjacency[None, None]
        return torch.einsum("bcuv,bctv->bctu", topology, self.value(x))


class CtrGcnBlock(nn.Module):
    """CTR-GC over the three subsets, batch norm, then a temporal convolution; residual around both."""

    def __init__(self, c_in, c_out, stride, relation):
        super().__init__()
        self.adjacency = nn.Parameter(ntu_adjacency())
        self.alpha = nn.Parameter(torch.zeros(1))
        self.subsets = nn.ModuleList(TopologyRefinedConv(c_in, c_out, relation) for _ in range(3))
        self.gcn_norm = nn.BatchNorm2d(c_out)
        self.gcn_skip = nn.Identity() if c_in == c_out else nn.Sequential(nn.Conv2d(c_in, c_out, 1),
                                                                          nn.BatchNorm2d(c_out))
        self.temporal = nn.Sequential(nn.Conv2d(c_out, c_out, (5, 1), (stride, 1), (2, 0)), nn.BatchNorm2d(c_out))
        if c_in == c_out and stride == 1:
            self.skip = nn.Identity()
        else:
            self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, (stride, 1)), nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = sum(conv(x, self.adjacency[i], self.alpha) for i, conv in enumerate(self.subsets))
        y = F.relu(self.gcn_norm(y) + self.gcn_skip(x))
        return F.relu(self.temporal(y) + self.skip(x))


class Branch(nn.Module):
    """Tokens [B, L, C] + position -> one transformer layer -> layer norm -> mean over tokens [B, C]."""

    def __init__(self, width, tokens, heads):
        super().__init__()
        self.position = nn.Parameter(torch.zeros(1, tokens, width))
        nn.init.trunc_normal_(self.position, std=0.02)
        self.block = Block(width, heads, 2 * width)
        self.norm = nn.LayerNorm(width)

    def forward(self, tokens):
        return self.norm(self.block(tokens + self.position)).mean(dim=1)


class AcSarEncoder(nn.Module):
    """[N, 3, T, 25, M] -> embedding [N, 2 * widths[-1]] (spatial branch, then temporal)."""

    def __init__(self, config: AcSarConfig):
        super().__init__()
        self.config = config
        self.input_norm = nn.BatchNorm1d(config.channels * config.joints)
        widths = (config.channels,) + tuple(config.widths)
        self.blocks = nn.Sequential(*(CtrGcnBlock(widths[i], widths[i + 1], config.strides[i], config.relation)
                                      for i in range(len(config.widths))))
        frames_out = config.frames
        for stride in config.strides:
            frames_out = (frames_out - 1) // stride + 1
        self.spatial = Branch(config.widths[-1], config.joints, config.heads)
        self.temporal = Branch(config.widths[-1], frames_out, config.heads)

    @property
    def width(self):
        return self.config.width

    @property
    def exporting(self):
        """The export path (`explicit_attention`, which `export.export_onnx` switches on): every body is computed,
        as a fixed-shape graph must."""
        return self.spatial.block.attn.explicit

    def _per_body(self, bodies):
        """bodies [B, T, V, C] -> (spatial [B, C'], temporal [B, C'])."""
        b, t, v, c = bodies.shape
        x = self.input_norm(bodies.permute(0, 3, 2, 1).reshape(b, c * v, t))  # channels ordered (C, V)
        x = self.blocks(x.reshape(b, c, v, t).transpose(2, 3))  # [B, C', T', V]
        return self.spatial(x.mean(dim=2).transpose(1, 2)), self.temporal(x.mean(dim=3).transpose(1, 2))

    def branches(self, x):
        """(spatial, temporal) features of the window [N, C'] each, pooled over the bodies present."""
        bodies = bodies_first(x, None)  # [N * M, T, V, C]
        present = body_presence(x)  # [N, M]
        width = self.config.widths[-1]
        if self.exporting:
            spatial, temporal = self._per_body(bodies)
        else:
            spatial, temporal = bodies.new_zeros(bodies.shape[0], width), bodies.new_zeros(bodies.shape[0], width)
            idx = present.reshape(-1).nonzero().squeeze(1)
            if idx.numel():
                s, t = self._per_body(bodies[idx])
                spatial, temporal = spatial.index_copy(0, idx, s), temporal.index_copy(0, idx, t)
        weights = present.to(x.dtype)[:, :, None]
        count = weights.sum(dim=1).clamp_min(1.0)

        def pool(features):
            return (features.reshape(x.shape[0], x.shape[-1], width) * weights).sum(dim=1) / count

        return pool(spatial), pool(temporal)

    def forward(self, x):
        spatial, temporal = self.branches(x)
        return torch.cat([spatial, temporal], dim=1)
