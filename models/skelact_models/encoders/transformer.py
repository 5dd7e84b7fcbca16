"""The STARS/MAMP skeleton transformer encoder and MAMP's reconstruction decoder.

Input [N, C=3, T, V=25, M=2]. Each body is encoded on its own: the sequence is cut into segments of l frames, each
joint's segment (l x C values) is one token embedded by a linear layer, spatial and temporal positional embeddings
are added separately, and L_e pre-norm transformer blocks run full attention over all (T / l) x V tokens (the seed's
architecture, `attention="full"`) or, with `attention="factorised"`, alternate between attention among the V joints of
one segment (even blocks) and attention among the T / l segments of one joint (odd blocks): the same parameters, a
fraction of the attention products, for the CPU path (docs/performance.md, "The small encoder's attention layout"). Features
are mean-pooled over tokens, then over the bodies present in the window (a body whose values are all zero, the
missing partner of a one-person window, is left out of the mean rather than averaged in as MAMP does; this keeps
one-person embeddings undiluted and lets training skip those bodies, while the fixed-shape export computes them and
masks them out, with the same result).

For the ONNX export attention is written out (MatMul, Softmax, MatMul) instead of `scaled_dot_product_attention`,
and GELU is the exact erf form, so the exported graph uses only plain operators that tract and TensorRT both run.
Training uses PyTorch's fused `scaled_dot_product_attention` (same mathematics, 6-7x faster on CPU because the
T/l*V x T/l*V attention matrices are never stored); `explicit_attention(model)` switches a model to the written-out
form, which `export.py` does before exporting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class TransformerConfig:
    frames: int = 120  # T
    segment: int = 4  # l: frames per token
    joints: int = 25
    channels: int = 3
    bodies: int = 2
    width: int = 256
    depth: int = 8
    heads: int = 8
    mlp_hidden: int = 1024
    decoder_width: int = 256
    decoder_depth: int = 5
    decoder_heads: int = 8
    attention: str = "full"  # "full": every token attends to all; "factorised": joints, then segments, alternating

    @classmethod
    def paper(cls):
        """STARS/MAMP as published: T = 120, 8 blocks of width 256, 8 heads, FFN 1024; 5-block decoder."""
        return cls()

    @classmethod
    def small(cls):
        """The CPU configuration of the default model: T = 64, 4 blocks of width 64, 4 heads, FFN 256."""
        return cls(frames=64, width=64, depth=4, heads=4, mlp_hidden=256, decoder_width=64, decoder_depth=5,
                   decoder_heads=4)

    @property
    def temporal_tokens(self):
        return self.frames // self.segment

    @property
    def tokens(self):
        return self.temporal_tokens * self.joints

    def to_dict(self):
        return asdict(self)

    def __post_init__(self):
        if self.frames % self.segment:
            raise ValueError(f"frames ({self.frames}) must be a multiple of segment ({self.segment})")
        if self.width % self.heads or self.decoder_width % self.decoder_heads:
            raise ValueError("widths must be multiples of their head counts")
        if self.attention not in ATTENTION_LAYOUTS:
            raise ValueError(f"attention must be one of {', '.join(ATTENTION_LAYOUTS)}, not {self.attention!r}")

    def block_axis(self, index):
        """Which tokens block `index` attends over: "all", "joints" (within a segment) or "segments" (per joint)."""
        if self.attention == "full":
            return "all"
        return "joints" if index % 2 == 0 else "segments"


ATTENTION_LAYOUTS = ("full", "factorised")


class Attention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.scale = (width // heads) ** -0.5
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.explicit = False

    def forward(self, x):
        batch, tokens, width = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.explicit:
            out = torch.softmax((q * self.scale) @ k.transpose(-2, -1), dim=-1) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, width))


def explicit_attention(model, enabled=True):
    """Switches every attention layer of `model` to the written-out MatMul/Softmax form (for ONNX export)."""
    for module in model.modules():
        if isinstance(module, Attention):
            module.explicit = enabled
    return model


class Block(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x)). `axis` "all" attends over every token;
    "joints" and "segments" (factorised attention) need the token grid `grid` = (T / l, V), tokens in segment-major
    order as `embed_bodies` lays them out."""

    def __init__(self, width, heads, hidden, axis="all", grid=None):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))
        self.axis = axis
        self.grid = grid

    def attend(self, x):
        if self.axis == "all":
            return self.attn(x)
        batch, tokens, width = x.shape
        segments_, joints = self.grid
        if self.axis == "joints":  # each segment's V tokens attend to each other
            return self.attn(x.reshape(batch * segments_, joints, width)).reshape(batch, tokens, width)
        per_joint = x.reshape(batch, segments_, joints, width).transpose(1, 2).reshape(batch * joints, segments_, width)
        out = self.attn(per_joint).reshape(batch, joints, segments_, width).transpose(1, 2)
        return out.reshape(batch, tokens, width)

    def forward(self, x):
        x = x + self.attend(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def _init_weights(module):
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def bodies_first(x, config: TransformerConfig):
    """[N, C, T, V, M] -> [N * M, T, V, C]: every body becomes its own sequence."""
    n, c, t, v, m = x.shape
    return x.permute(0, 4, 2, 3, 1).reshape(n * m, t, v, c)


def segments(x, config: TransformerConfig):
    """[NM, T, V, C] -> [NM, T / l, V, l * C]: the values of one token are a joint's l frames."""
    nm, t, v, c = x.shape
    l = config.segment
    return x.reshape(nm, t // l, l, v, c).permute(0, 1, 3, 2, 4).reshape(nm, t // l, v, l * c)


class SkeletonTransformer(nn.Module):
    """The STARS/MAMP encoder. `forward` returns pooled features [N, width]."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        c = config
        self.joint_embed = nn.Linear(c.segment * c.channels, c.width)
        self.pos_spatial = nn.Parameter(torch.zeros(1, 1, c.joints, c.width))
        self.pos_temporal = nn.Parameter(torch.zeros(1, c.temporal_tokens, 1, c.width))
        grid = (c.temporal_tokens, c.joints)
        self.blocks = nn.ModuleList(Block(c.width, c.heads, c.mlp_hidden, c.block_axis(i), grid) for i in range(c.depth))
        self.norm = nn.LayerNorm(c.width)
        nn.init.trunc_normal_(self.pos_spatial, std=0.02)
        nn.init.trunc_normal_(self.pos_temporal, std=0.02)
        self.apply(_init_weights)

    @property
    def width(self):
        return self.config.width

    def embed(self, x):
        """[N, C, T, V, M] -> tokens [NM, (T / l) * V, width] with positional embeddings added."""
        return self.embed_bodies(bodies_first(x, self.config))

    def embed_bodies(self, bodies):
        """[B, T, V, C] -> tokens [B, (T / l) * V, width]."""
        tokens = self.joint_embed(segments(bodies, self.config)) + self.pos_spatial + self.pos_temporal
        return tokens.reshape(tokens.shape[0], -1, self.config.width)

    def run_blocks(self, tokens, start=0, stop=None):
        for block in self.blocks[start:stop]:
            tokens = block(tokens)
        return tokens

    def body_features(self, x):
        """Per-body features [N * M, D] (mean over tokens). Bodies that are all zeros (no partner) are skipped and
        left at zero unless attention is explicit (the export path), where every body is computed as the
        fixed-shape graph must; the pooled result is the same either way."""
        bodies = bodies_first(x, self.config)
        if self.blocks[0].attn.explicit:
            return self.norm(self.run_blocks(self.embed(x))).mean(dim=1)
        present = body_presence(x).reshape(-1)
        features = bodies.new_zeros(bodies.shape[0], self.config.width)
        idx = present.nonzero().squeeze(1)
        if idx.numel():
            tokens = self.embed_bodies(bodies[idx])
            features[idx] = self.norm(self.run_blocks(tokens)).mean(dim=1)
        return features

    def pool(self, body_features, x):
        """Mean over the bodies present in the window: [N * M, D] -> [N, D]."""
        weights = body_presence(x).to(body_features.dtype)  # [N, M]
        features = body_features.reshape(x.shape[0], self.config.bodies, -1)
        return (features * weights[:, :, None]).sum(dim=1) / weights.sum(dim=1, keepdim=True).clamp_min(1.0)

    def forward(self, x):
        return self.pool(self.body_features(x), x)


def body_presence(x):
    """[N, C, T, V, M] -> [N, M] bool: a body is present in the window when any of its values is non-zero. Summed in
    the bodies-first order the encoder uses anyway, so the reduction runs over contiguous memory (5 % of tract's
    time per window against summing over the strided C, T, V axes of the input)."""
    n, m = x.shape[0], x.shape[-1]
    return bodies_first(x, None).abs().sum(dim=(1, 2, 3)).reshape(n, m) > 0


class MampDecoder(nn.Module):
    """MAMP's decoder: embeds the visible latents, inserts a learned mask token at every masked position, adds its
    own positional embeddings and predicts every token's motion (l x C values)."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        c = config
        self.config = config
        self.embed = nn.Linear(c.width, c.decoder_width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c.decoder_width))
        self.pos_spatial = nn.Parameter(torch.zeros(1, 1, c.joints, c.decoder_width))
        self.pos_temporal = nn.Parameter(torch.zeros(1, c.temporal_tokens, 1, c.decoder_width))
        self.blocks = nn.ModuleList(
            Block(c.decoder_width, c.decoder_heads, 4 * c.decoder_width) for _ in range(c.decoder_depth))
        self.norm = nn.LayerNorm(c.decoder_width)
        self.pred = nn.Linear(c.decoder_width, c.segment * c.channels)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.pos_spatial, std=0.02)
        nn.init.trunc_normal_(self.pos_temporal, std=0.02)
        self.apply(_init_weights)

    def forward(self, latent, ids_restore):
        """latent [NM, kept, width] in shuffled order; ids_restore [NM, L] puts tokens back in place."""
        x = self.embed(latent)
        nm, kept, width = x.shape
        length = ids_restore.shape[1]
        x = torch.cat([x, self.mask_token.expand(nm, length - kept, width)], dim=1)
        x = torch.gather(x, 1, ids_restore[:, :, None].expand(-1, -1, width))
        pos = (self.pos_spatial + self.pos_temporal).reshape(1, length, width)
        x = x + pos
        for block in self.blocks:
            x = block(x)
        return self.pred(self.norm(x))


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())


def flops_per_window(config: TransformerConfig):
    """Multiply-accumulates x 2 of one encoder forward pass over one window (both bodies)."""
    c = config
    tokens = c.tokens
    attended = {"all": tokens, "joints": c.joints, "segments": c.temporal_tokens}  # keys each query attends to
    linear = tokens * (4 * c.width * c.width + 2 * c.width * c.mlp_hidden)
    blocks = sum(linear + 2 * tokens * attended[c.block_axis(i)] * c.width for i in range(c.depth))
    embed = tokens * c.segment * c.channels * c.width
    return 2 * c.bodies * (blocks + embed)


def describe(config: TransformerConfig):
    return (f"T={config.frames}, l={config.segment}, {config.attention} attention, {config.depth} blocks of "
            f"{config.width}, {config.heads} heads, "
            f"FFN {config.mlp_hidden}, {config.tokens} tokens per body, "
            f"{flops_per_window(config) / 1e9:.2f} GFLOP per window")



