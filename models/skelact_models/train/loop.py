"""The one training loop of every stage (MAMP, STARS tuning, supervised fine-tuning and HCN).

Each epoch draws a permutation of the sequences from `rng`, cuts it into full batches, sets the learning rate of
every parameter group (`lr_at(step, total)` times the group's optional `scale`), and runs `batch_loss(indices)`,
backward and the optimizer step. The stages differ only in the loss of a batch and the schedule.
"""

from __future__ import annotations

import time

import numpy as np

from .common import log


def run_epochs(name, optimizer, size, epochs, batch_size, rng, batch_loss, lr_at, log_every=20):
    """Trains for `epochs` epochs over `size` sequences; returns the mean loss of each epoch.

    `batch_loss(indices)` returns the loss tensor of one batch; `lr_at(step, total_steps)` the base learning rate.
    `batch_size` larger than `size` trains on one batch of everything per epoch.
    """
    batch = min(batch_size, size)
    steps_per_epoch = max(1, size // batch)
    total = steps_per_epoch * epochs
    history = []
    step = 0
    started = time.time()
    for epoch in range(epochs):
        order = rng.permutation(size)
        losses = []
        for b in range(steps_per_epoch):
            idx = order[b * batch:(b + 1) * batch]
            loss = batch_loss(idx)
            lr = lr_at(step, total)
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("scale", 1.0)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            step += 1
            if log_every and step % log_every == 0:
                log(f"{name} step {step}/{total} loss {np.mean(losses[-log_every:]):.5f} lr {lr:.2e}")
        history.append(float(np.mean(losses)))
        log(f"{name} epoch {epoch + 1}/{epochs} loss {history[-1]:.5f} ({time.time() - started:.0f} s)")
    return history
