"""Stage 1: MAMP masked motion prediction (Mao et al., ICCV 2023), the pre-training of STARS.

The encoder sees only the visible 10% of the tokens; the decoder reconstructs the *motion* of the masked tokens
(the difference between frames l apart, grouped into the same l-frame segments as the input tokens) and the loss is
the MSE over masked tokens only. Which tokens are masked is motion-aware: each token's motion intensity goes
through a softmax with temperature tau, and a Gumbel-max top-k draw without replacement picks the masked tokens,
so tokens that move more are masked more often and the model must predict the informative motion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn

from ..data.windows import training_batch
from ..encoders.transformer import MampDecoder, SkeletonTransformer, TransformerConfig, bodies_first, segments
from .common import cosine_schedule
from .loop import run_epochs


@dataclass(frozen=True)
class MampConfig:
    """Paper defaults (MAMP on NTU): 90% masking, tau 0.75, AdamW(0.9, 0.95), lr 1e-3, weight decay 0.05,
    400 epochs with 20 warm-up epochs, batch 128."""

    mask_ratio: float = 0.9
    tau: float = 0.75
    epochs: int = 400
    warmup_epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    min_lr: float = 5e-4 * 1e-3
    weight_decay: float = 0.05
    betas: tuple = (0.9, 0.95)
    crop_interval: tuple = (0.5, 1.0)
    skip_empty_bodies: bool = True  # an all-zero partner body has no motion to predict

    def to_dict(self):
        return asdict(self)


def motion_target(x, config: TransformerConfig):
    """Per-token motion targets [NM, L, l * C] from windows [N, C, T, V, M]: motion with stride l, zero in the
    last l frames (no future frame to compare with)."""
    seq = bodies_first(x, config)
    l = config.segment
    motion = torch.zeros_like(seq)
    motion[:, :-l] = seq[:, l:] - seq[:, :-l]
    tokens = segments(motion, config)
    return tokens.reshape(tokens.shape[0], -1, tokens.shape[-1])


def motion_aware_mask(target, mask_ratio, tau, generator=None):
    """Chooses the masked tokens. target [NM, L, l * C] -> (ids_keep [NM, kept], ids_restore [NM, L],
    mask [NM, L] with 1 = masked). Intensity = mean |motion| of the token; p = softmax(intensity / tau);
    masked = top-k of log p + Gumbel noise (a draw of k tokens without replacement, proportional to p)."""
    nm, length, _ = target.shape
    masked_count = int(round(length * mask_ratio))
    kept = length - masked_count
    intensity = target.abs().mean(dim=-1)
    log_p = torch.log_softmax(intensity / tau, dim=-1)
    uniform = torch.rand(nm, length, generator=generator).clamp_(1e-9, 1.0 - 1e-9)
    gumbel = -torch.log(-torch.log(uniform))
    order = torch.argsort(log_p + gumbel, dim=1, descending=True)  # masked first
    ids_shuffle = torch.cat([order[:, masked_count:], order[:, :masked_count]], dim=1)  # kept first
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(nm, length)
    mask[:, :kept] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return ids_shuffle[:, :kept], ids_restore, mask


class MampPretrainer(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.encoder = SkeletonTransformer(config)
        self.decoder = MampDecoder(config)

    def forward(self, x, mask_ratio=0.9, tau=0.75, generator=None, skip_empty_bodies=False):
        target = motion_target(x, self.config)
        tokens = self.encoder.embed(x)
        if skip_empty_bodies:
            # Bodies that are all zero (no partner) carry nothing to reconstruct; leaving them out only saves time.
            moving = bodies_first(x, self.config).abs().flatten(1).sum(1) > 0
            target, tokens = target[moving], tokens[moving]
        ids_keep, ids_restore, mask = motion_aware_mask(target, mask_ratio, tau, generator)
        visible = torch.gather(tokens, 1, ids_keep[:, :, None].expand(-1, -1, tokens.shape[-1]))
        latent = self.encoder.norm(self.encoder.run_blocks(visible))
        pred = self.decoder(latent, ids_restore)
        per_token = ((pred - target) ** 2).mean(dim=-1)
        return (per_token * mask).sum() / mask.sum()


def pretrain(data, model_config: TransformerConfig, config: MampConfig, seed=0, log_every=20):
    """Runs MAMP on the sequences of `data` (a SequenceSet; labels are not used). Returns (encoder, history)."""
    if model_config.attention != "full":
        raise ValueError("MAMP's encoder sees a random 10% of the tokens, which only full attention can run on; "
                         f"attention={model_config.attention!r} is for supervised training")
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 11])
    generator = torch.Generator().manual_seed(seed + 1)
    model = MampPretrainer(model_config)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim <= 1 or "pos_" in name or "mask_token" in name else decay).append(param)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, betas=config.betas)
    steps_per_epoch = max(1, len(data) // min(config.batch_size, len(data)))
    warmup = steps_per_epoch * config.warmup_epochs
    model.train()

    def batch_loss(idx):
        x = training_batch([data.sequences[i] for i in idx], model_config.frames, rng, interval=config.crop_interval)
        return model(x, config.mask_ratio, config.tau, generator, config.skip_empty_bodies)

    history = run_epochs("mamp", optimizer, len(data), config.epochs, config.batch_size, rng, batch_loss,
                         lambda step, total: cosine_schedule(step, total, warmup, config.lr, config.min_lr), log_every)
    return model.encoder, history


__all__ = ["MampConfig", "MampPretrainer", "motion_target", "motion_aware_mask", "pretrain"]
