"""Small helpers shared by the training stages."""

from __future__ import annotations

import math
import sys
import time

_START = time.time()


def log(message):
    print(f"[{time.time() - _START:7.1f} s] {message}", file=sys.stderr, flush=True)


def cosine_schedule(step, total, warmup, base_lr, min_lr=0.0):
    """Linear warm-up to base_lr over `warmup` steps, then half-cosine decay to min_lr at `total`."""
    if warmup > 0 and step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
