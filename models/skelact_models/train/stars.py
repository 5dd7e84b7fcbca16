"""Stage 2: STARS contrastive tuning (Mehraban et al., 2024) of a MAMP-pre-trained encoder.

The MAMP decoder is replaced by a projector with BatchNorm and an MLP predictor (hidden 4096, output 256). Two
augmented views of every window are encoded; NNCLR swaps each view's projection for its nearest neighbour in a
queue of earlier projections (the support set) and contrasts it with the other view's prediction (InfoNCE,
temperature 0.07), symmetrically. Only the second half of the encoder is tuned, with layer-wise learning-rate decay
0.2 (the last block at the base rate, each earlier block 0.2 times the next); AdamW (0.9, 0.95), weight decay 0.01.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.windows import training_batch
from ..encoders.transformer import SkeletonTransformer, bodies_first, body_presence
from .common import cosine_schedule
from .loop import run_epochs


@dataclass(frozen=True)
class StarsConfig:
    """Paper-style defaults; `epochs`, `batch_size` and `queue_size` are the knobs that scale with the dataset."""

    epochs: int = 20
    warmup_epochs: int = 2
    batch_size: int = 128
    lr: float = 5e-4
    min_lr: float = 1e-6
    weight_decay: float = 0.01
    betas: tuple = (0.9, 0.95)
    layer_decay: float = 0.2
    temperature: float = 0.07
    queue_size: int = 16384
    projector_hidden: int = 4096
    predictor_hidden: int = 4096
    out_dim: int = 256
    crop_interval: tuple = (0.5, 1.0)

    def to_dict(self):
        return asdict(self)


def projector(width, hidden, out):
    return nn.Sequential(nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                         nn.Linear(hidden, out), nn.BatchNorm1d(out))


def predictor(out, hidden):
    return nn.Sequential(nn.Linear(out, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out))


class NnclrHead(nn.Module):
    """Projector, predictor and the support-set queue of NNCLR."""

    def __init__(self, width, config: StarsConfig, generator=None):
        super().__init__()
        self.config = config
        self.projector = projector(width, config.projector_hidden, config.out_dim)
        self.predictor = predictor(config.out_dim, config.predictor_hidden)
        queue = F.normalize(torch.randn(config.queue_size, config.out_dim, generator=generator), dim=1)
        self.register_buffer("queue", queue)
        self.register_buffer("queue_pointer", torch.zeros((), dtype=torch.long))

    def nearest(self, z):
        """The queue entry most similar (cosine) to each row of z."""
        z = F.normalize(z, dim=1)
        return self.queue[(z @ self.queue.T).argmax(dim=1)]

    @torch.no_grad()
    def enqueue(self, z):
        z = F.normalize(z, dim=1)
        n = z.shape[0]
        pointer = int(self.queue_pointer)
        idx = (torch.arange(n) + pointer) % self.queue.shape[0]
        self.queue[idx] = z
        self.queue_pointer.fill_((pointer + n) % self.queue.shape[0])

    def info_nce(self, anchor, prediction):
        logits = F.normalize(anchor, dim=1) @ F.normalize(prediction, dim=1).T / self.config.temperature
        return F.cross_entropy(logits, torch.arange(anchor.shape[0]))

    def loss(self, features1, features2):
        z1, z2 = self.projector(features1), self.projector(features2)
        p1, p2 = self.predictor(z1), self.predictor(z2)
        nn1, nn2 = self.nearest(z1), self.nearest(z2)
        loss = 0.5 * (self.info_nce(nn1, p2) + self.info_nce(nn2, p1))
        self.enqueue(z1.detach())
        return loss


def parameter_groups(encoder: SkeletonTransformer, head: NnclrHead, config: StarsConfig):
    """Freezes the embedding and the first half of the blocks; gives block i of the tuned half the learning-rate
    scale layer_decay ** (depth - 1 - i). Returns optimizer groups with a `scale` entry."""
    depth = len(encoder.blocks)
    first_tuned = depth // 2
    for param in encoder.parameters():
        param.requires_grad_(False)
    groups = []
    for i in range(first_tuned, depth):
        params = list(encoder.blocks[i].parameters())
        for p in params:
            p.requires_grad_(True)
        scale = config.layer_decay ** (depth - 1 - i)
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        groups.append({"params": decay, "weight_decay": config.weight_decay, "scale": scale})
        groups.append({"params": no_decay, "weight_decay": 0.0, "scale": scale})
    for p in encoder.norm.parameters():
        p.requires_grad_(True)
    groups.append({"params": list(encoder.norm.parameters()), "weight_decay": 0.0, "scale": 1.0})
    head_params = list(head.projector.parameters()) + list(head.predictor.parameters())
    groups.append({"params": [p for p in head_params if p.ndim > 1], "weight_decay": config.weight_decay,
                   "scale": 1.0})
    groups.append({"params": [p for p in head_params if p.ndim <= 1], "weight_decay": 0.0, "scale": 1.0})
    return groups, first_tuned


def encode_tuned(encoder: SkeletonTransformer, x, first_tuned):
    """Encoder forward pass where the frozen first half runs without building a graph; empty bodies are skipped
    and pooled out exactly as `SkeletonTransformer.forward` does."""
    bodies = bodies_first(x, encoder.config)
    present = body_presence(x).reshape(-1)
    idx = present.nonzero().squeeze(1)
    with torch.no_grad():
        tokens = encoder.run_blocks(encoder.embed_bodies(bodies[idx]), 0, first_tuned)
    tokens = encoder.norm(encoder.run_blocks(tokens, first_tuned))
    features = torch.zeros(bodies.shape[0], encoder.width).index_copy(0, idx, tokens.mean(dim=1))
    return encoder.pool(features, x)


def tune(encoder: SkeletonTransformer, data, config: StarsConfig, seed=0, log_every=20):
    """Contrastive tuning of `encoder` (modified in place) on the sequences of `data`. Returns the history."""
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 12])
    head = NnclrHead(encoder.width, config, torch.Generator().manual_seed(seed + 2))
    groups, first_tuned = parameter_groups(encoder, head, config)
    optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=config.betas)
    steps_per_epoch = max(1, len(data) // min(config.batch_size, len(data)))
    warmup = steps_per_epoch * config.warmup_epochs
    frames = encoder.config.frames
    encoder.train()
    head.train()

    def batch_loss(idx):
        seqs = [data.sequences[i] for i in idx]
        view1 = training_batch(seqs, frames, rng, interval=config.crop_interval)
        view2 = training_batch(seqs, frames, rng, interval=config.crop_interval)
        return head.loss(encode_tuned(encoder, view1, first_tuned), encode_tuned(encoder, view2, first_tuned))

    history = run_epochs("stars", optimizer, len(data), config.epochs, config.batch_size, rng, batch_loss,
                         lambda step, total: cosine_schedule(step, total, warmup, config.lr, config.min_lr), log_every)
    for param in encoder.parameters():
        param.requires_grad_(True)
    encoder.eval()
    return history
