"""DCMAE reconstruction ("REC"): fill in missing joints of a window before it is classified.

After the seed DCMAE (diffusion + cross-attention masked autoencoder). One token per joint and frame of each body;
an encoder sees only the visible tokens, and a decoder reconstructs x0 of the masked joints in one step from their
noised values x_t, the diffusion step t and the visible encoding. Diffusion touches only the masked part:

- masking as the paper does: a ratio M_t = 0.5 of the frames is masked whole, then a ratio M_j = 0.4 of the joints
  within each remaining frame (`dcmae_mask`);
- DDPM forward process with T = 1000 linear betas (1e-4 .. 0.02); training draws t uniformly and noises only the
  masked joints, the loss is the MSE of the predicted x0 on the masked joints;
- the decoder's CSTTA blocks: temporal cross-attention per joint (each token attends to the visible encodings of
  its own joint across the frames), spatial cross-attention per frame (to the visible encodings of its own frame),
  then self-attention among the masked tokens, and an MLP.

Scaled for the CPU path, and where we differ from the paper: the encoder's attention is factorised (alternating
attention among the visible joints of one frame and among the visible frames of one joint, as the small
transformer's `attention="factorised"`), and the decoder's self-attention alternates the same two axes, because
full attention over T x 25 = 800 tokens per body is too costly here; every attention is written as a masked
attention over the full fixed grid, so training and the fixed-shape ONNX export compute the same thing.

The second difference: the model refines the device's interpolation instead of replacing it. The device already
fills every missing joint (spec step 1: interpolation in time, else the parent joint), so the decoder's masked
tokens also carry that filled value (`embed_prior`), diffusion runs on the residual x0 - filled, and the output
layer starts at zero: an untrained model returns the interpolation, and training can only move it where the data
says interpolation is wrong (a limb hidden for a third of a window). The first version predicted x0 from scratch
and after 390 steps was worse than interpolation in every condition (`docs/models.md`).

On the device (`RecExport`): inputs `joint` [1, 3, T, 25, 2] (the preprocessed window, missing joints filled by the
spec's interpolation) and `missing` [1, 1, T, 25, 2] (1 where a joint is missing); output `completed`, equal to
`joint` where nothing is missing. The diffusion noise is a constant of the graph (seeded), and x_t of the missing
joints is the residual the device assumes (zero: the interpolation) noised to step `inference_step`, so the result
is deterministic.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from .transformer import _init_weights

NEG = -1e4  # a masked attention score: exp underflows to exactly 0 next to any real score, and stays finite


@dataclass(frozen=True)
class DcmaeConfig:
    frames: int = 32
    joints: int = 25
    channels: int = 3
    bodies: int = 2
    width: int = 64
    heads: int = 4
    mlp_hidden: int = 128
    encoder_depth: int = 2
    decoder_depth: int = 2
    diffusion_steps: int = 1000  # T of the DDPM schedule
    beta_start: float = 1e-4
    beta_end: float = 0.02
    frame_mask_ratio: float = 0.5  # M_t
    joint_mask_ratio: float = 0.4  # M_j, within the frames left unmasked
    inference_step: int = 500  # t at which the device noises the interpolated values (chosen on validation)
    noise_seed: int = 0

    @classmethod
    def paper(cls):
        """The seed's scale: a MAMP-sized encoder (8 blocks of 256, 8 heads) and 5 decoder blocks, T = 120."""
        return cls(frames=120, width=256, heads=8, mlp_hidden=1024, encoder_depth=8, decoder_depth=5)

    @classmethod
    def small(cls):
        """The CPU configuration shipped on the device (T = 32, as the default classifier)."""
        return cls()

    def to_dict(self):
        return asdict(self)

    def __post_init__(self):
        if self.width % self.heads:
            raise ValueError("width must be a multiple of heads")
        if not 0 <= self.inference_step < self.diffusion_steps:
            raise ValueError(f"inference_step must be in 0..{self.diffusion_steps - 1}")
        if not (0 <= self.frame_mask_ratio < 1 and 0 <= self.joint_mask_ratio < 1):
            raise ValueError("mask ratios must be in [0, 1)")


def alphas_cumprod(config: DcmaeConfig):
    betas = torch.linspace(config.beta_start, config.beta_end, config.diffusion_steps, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0).float()


def dcmae_mask(bodies, frames, joints, frame_ratio, joint_ratio, generator=None):
    """The paper's masking for `bodies` sequences: True = masked. round(frame_ratio * T) frames are masked whole,
    then round(joint_ratio * V) joints in each other frame. Returns [B, T, V] bool."""
    masked_frames = round(frame_ratio * frames)
    masked_joints = round(joint_ratio * joints)
    frame_rank = torch.rand(bodies, frames, generator=generator).argsort(dim=1).argsort(dim=1)
    joint_rank = torch.rand(bodies, frames, joints, generator=generator).argsort(dim=2).argsort(dim=2)
    return (frame_rank < masked_frames)[:, :, None] | (joint_rank < masked_joints)


def timestep_embedding(t, width):
    """Sinusoidal embedding of diffusion steps t [B] -> [B, width]."""
    half = width // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class MaskedAttention(nn.Module):
    """Multi-head attention of queries x over keys/values y along one axis of the token grid, with a key mask.
    Queries with no allowed key get zeros (a frame whose joints are all masked, for example)."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.scale = (width // heads) ** -0.5
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x, y, allowed):
        """x, y [S, L, W]; allowed [S, L] (keys that may be attended to) -> [S, L, W]."""
        s, length, width = x.shape
        d = width // self.heads
        q = self.q(x).reshape(s, length, self.heads, d).transpose(1, 2)
        kv = self.kv(y).reshape(s, length, 2, self.heads, d).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        scores = (q * self.scale) @ k.transpose(-2, -1)
        keep = allowed[:, None, None, :]
        weights = torch.softmax(scores.masked_fill(~keep, NEG), dim=-1)
        out = (weights * keep.to(weights.dtype)) @ v  # no allowed key: the weights are zeroed, the output is 0
        return self.proj(out.transpose(1, 2).reshape(s, length, width))


def along(tokens, axis):
    """[B, T, V, W] -> sequences along `axis`: "joints" -> [B*T, V, W], "frames" -> [B*V, T, W]."""
    b, t, v, w = tokens.shape
    if axis == "joints":
        return tokens.reshape(b * t, v, w)
    return tokens.transpose(1, 2).reshape(b * v, t, w)


def back(sequences, axis, shape):
    b, t, v, w = shape
    if axis == "joints":
        return sequences.reshape(b, t, v, w)
    return sequences.reshape(b, v, t, w).transpose(1, 2)


def mask_along(mask, axis):
    b, t, v = mask.shape
    return mask.reshape(b * t, v) if axis == "joints" else mask.transpose(1, 2).reshape(b * v, t)


class AxisAttention(nn.Module):
    """Pre-norm residual attention along one grid axis: x + Attn(LN(x), LN(y) or context, allowed keys)."""

    def __init__(self, width, heads, axis, cross=False):
        super().__init__()
        self.axis = axis
        self.norm = nn.LayerNorm(width)
        self.context_norm = nn.LayerNorm(width) if cross else None
        self.attn = MaskedAttention(width, heads)

    def forward(self, x, allowed, context=None):
        q = self.norm(x)
        kv = self.context_norm(context) if context is not None else q
        out = self.attn(along(q, self.axis), along(kv, self.axis), mask_along(allowed, self.axis))
        return x + back(out, self.axis, x.shape)


class Mlp(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x):
        return x + self.net(self.norm(x))


class EncoderBlock(nn.Module):
    def __init__(self, config, axis):
        super().__init__()
        self.attn = AxisAttention(config.width, config.heads, axis)
        self.mlp = Mlp(config.width, config.mlp_hidden)

    def forward(self, x, visible):
        return self.mlp(self.attn(x, visible))


class CsttaBlock(nn.Module):
    """Temporal cross-attention per joint, spatial cross-attention per frame (both to the visible encodings), then
    self-attention among the masked tokens (alternating axes by block), then an MLP."""

    def __init__(self, config, self_axis):
        super().__init__()
        self.temporal = AxisAttention(config.width, config.heads, "frames", cross=True)
        self.spatial = AxisAttention(config.width, config.heads, "joints", cross=True)
        self.self_attn = AxisAttention(config.width, config.heads, self_axis)
        self.mlp = Mlp(config.width, config.mlp_hidden)

    def forward(self, x, encoded, visible, masked):
        x = self.temporal(x, visible, encoded)
        x = self.spatial(x, visible, encoded)
        return self.mlp(self.self_attn(x, masked))


class Dcmae(nn.Module):
    """Per-body model over [B, T, V, C] coordinates. `reconstruct_x0` predicts x0 at every position (only the
    masked ones are meant)."""

    def __init__(self, config: DcmaeConfig):
        super().__init__()
        c = config
        self.config = c
        self.embed_visible = nn.Linear(c.channels, c.width)
        self.embed_noisy = nn.Linear(c.channels, c.width)
        self.embed_prior = nn.Linear(c.channels, c.width)
        self.pos_spatial = nn.Parameter(torch.zeros(1, 1, c.joints, c.width))
        self.pos_temporal = nn.Parameter(torch.zeros(1, c.frames, 1, c.width))
        self.time_mlp = nn.Sequential(nn.Linear(c.width, c.width), nn.SiLU(), nn.Linear(c.width, c.width))
        self.encoder = nn.ModuleList(EncoderBlock(c, "joints" if i % 2 == 0 else "frames")
                                     for i in range(c.encoder_depth))
        self.encoder_norm = nn.LayerNorm(c.width)
        self.decoder = nn.ModuleList(CsttaBlock(c, "frames" if i % 2 == 0 else "joints")
                                     for i in range(c.decoder_depth))
        self.decoder_norm = nn.LayerNorm(c.width)
        self.out = nn.Linear(c.width, c.channels)
        self.register_buffer("alphas_cumprod", alphas_cumprod(c), persistent=False)
        nn.init.trunc_normal_(self.pos_spatial, std=0.02)
        nn.init.trunc_normal_(self.pos_temporal, std=0.02)
        self.apply(_init_weights)
        nn.init.zeros_(self.out.weight)  # the residual starts at zero: an untrained model returns its prior
        nn.init.zeros_(self.out.bias)

    def encode(self, x, masked):
        """Visible tokens only: masked positions are never keys and their inputs are zeroed."""
        visible = ~masked
        pos = self.pos_spatial + self.pos_temporal
        tokens = self.embed_visible(x * visible[..., None].to(x.dtype)) + pos
        for block in self.encoder:
            tokens = block(tokens, visible)
        return self.encoder_norm(tokens)

    def reconstruct_x0(self, x_t, t, encoded, masked, prior):
        """x_t [B, T, V, C] (the noised residual at masked positions), t [B], prior [B, T, V, C] (the filled values)
        -> prediction of the residual x0 - prior [B, T, V, C] (only the masked positions are meant)."""
        pos = self.pos_spatial + self.pos_temporal
        step = self.time_mlp(timestep_embedding(t, self.config.width))[:, None, None, :]
        keep = masked[..., None].to(prior.dtype)
        tokens = self.embed_noisy(x_t) + self.embed_prior(prior * keep) + pos + step
        visible = ~masked
        for block in self.decoder:
            tokens = block(tokens, encoded, visible, masked)
        return self.out(self.decoder_norm(tokens))

    def q_sample(self, x0, t, noise):
        ab = self.alphas_cumprod[t][:, None, None, None]
        return ab.sqrt() * x0 + (1.0 - ab).sqrt() * noise

    def loss(self, clean, filled, masked, generator=None):
        """One training loss: `clean` [B, T, V, C] windows, `filled` the same windows with the masked joints filled
        as the device fills them. Uniform t, noise on the masked residual only, MSE of the residual there."""
        b = clean.shape[0]
        t = torch.randint(0, self.config.diffusion_steps, (b,), generator=generator)
        noise = torch.randn(clean.shape, generator=generator)
        residual = clean - filled
        x_t = torch.where(masked[..., None], self.q_sample(residual, t, noise), torch.zeros_like(clean))
        pred = self.reconstruct_x0(x_t, t, self.encode(filled, masked), masked, filled)
        weight = masked[..., None].to(clean.dtype).expand_as(clean)
        return ((pred - residual) ** 2 * weight).sum() / weight.sum().clamp_min(1.0)

    def complete(self, x, masked, noise, step=None):
        """The device's rule: x [B, T, V, C] with missing joints already filled; x_t of the missing joints is a
        zero residual noised to `step` with the fixed `noise`; one prediction of the residual corrects them.
        Returns [B, T, V, C]."""
        step = self.config.inference_step if step is None else step
        t = torch.full((x.shape[0],), step, dtype=torch.long)
        x_t = torch.where(masked[..., None], self.q_sample(torch.zeros_like(x), t, noise), torch.zeros_like(x))
        pred = self.reconstruct_x0(x_t, t, self.encode(x, masked), masked, x)
        return torch.where(masked[..., None], x + pred, x)


def fixed_noise(config: DcmaeConfig):
    """The device's constant noise [M, T, V, C], from `noise_seed`."""
    g = torch.Generator().manual_seed(config.noise_seed)
    return torch.randn(config.bodies, config.frames, config.joints, config.channels, generator=g)


class RecExport(nn.Module):
    """The device's contract around `Dcmae.complete`: joint [N, 3, T, 25, 2], missing [N, 1, T, 25, 2] ->
    completed [N, 3, T, 25, 2]. Bodies are processed side by side as the batch; an absent body (all zeros, no
    missing joints) comes back unchanged because nothing in it is missing. `step` overrides the model's inference
    step (the recipe tries several on validation data)."""

    def __init__(self, model: Dcmae, step=None):
        super().__init__()
        self.model = model
        self.step = step
        self.register_buffer("noise", fixed_noise(model.config))

    def forward(self, joint, missing):
        n, c, t, v, m = joint.shape
        x = joint.permute(0, 4, 2, 3, 1).reshape(n * m, t, v, c)
        masked = missing.permute(0, 4, 2, 3, 1).reshape(n * m, t, v) > 0.5
        noise = self.noise.repeat(n, 1, 1, 1)
        out = self.model.complete(x, masked, noise, self.step)
        return out.reshape(n, m, t, v, c).permute(0, 4, 2, 3, 1)
