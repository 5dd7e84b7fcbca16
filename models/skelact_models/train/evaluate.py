"""Evaluation protocols: linear probe, k-NN, few-shot, and supervised fine-tuning with a linear or MLP head.

- Linear probe (MAE/MAMP style): the encoder is frozen; a linear classifier on BatchNorm-standardised features.
  The standardisation is folded into the linear layer afterwards, so the shipped head is one matrix and bias.
- k-NN: k = 1 by default, cosine similarity, the training features as the memory bank.
- Few-shot: n exemplars per (unseen) class drawn from the training pool, each query takes the class of its
  nearest exemplar (cosine); averaged over several random draws of exemplars.
- Fine-tuning: encoder and head trained together with cross-entropy on augmented windows.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.windows import training_batch
from .common import cosine_schedule
from .loop import run_epochs


def auroc(positive, negative):
    """Probability that a random positive scores above a random negative (ties count half)."""
    positive, negative = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float((positive > negative).mean() + 0.5 * (positive == negative).mean())


@torch.no_grad()
def extract_features(encoder, windows, batch_size=256):
    """Features [N, D] of fixed windows [N, 3, T, 25, 2] with the encoder in eval mode."""
    encoder.eval()
    out = [encoder(windows[i:i + batch_size]) for i in range(0, windows.shape[0], batch_size)]
    return torch.cat(out) if out else torch.zeros(0, encoder.width)


class LinearHead(nn.Module):
    """Standardisation (mean, std) followed by a linear layer; `folded()` returns the equivalent nn.Linear."""

    def __init__(self, width, classes, mean, std):
        super().__init__()
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())
        self.linear = nn.Linear(width, classes)

    def forward(self, features):
        return self.linear((features - self.mean) / self.std)

    def folded(self):
        linear = nn.Linear(self.linear.in_features, self.linear.out_features)
        with torch.no_grad():
            linear.weight.copy_(self.linear.weight / self.std)
            linear.bias.copy_(self.linear.bias - (self.linear.weight * (self.mean / self.std)).sum(dim=1))
        return linear


def linear_probe(train_features, train_labels, classes, epochs=200, lr=0.01, weight_decay=1e-4, seed=0):
    """Trains a linear classifier on frozen features (full batch, Adam); returns the folded nn.Linear."""
    torch.manual_seed(seed)
    mean = train_features.mean(dim=0)
    std = train_features.std(dim=0).clamp_min(1e-6)
    head = LinearHead(train_features.shape[1], classes, mean, std)
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    labels = torch.as_tensor(train_labels)
    for epoch in range(epochs):
        for group in optimizer.param_groups:
            group["lr"] = cosine_schedule(epoch, epochs, 0, lr)
        loss = F.cross_entropy(head(train_features), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return head.folded()


def accuracy(logits_or_pred, labels):
    pred = logits_or_pred.argmax(dim=1) if logits_or_pred.ndim == 2 else logits_or_pred
    return float((pred.cpu().numpy() == np.asarray(labels)).mean()) if len(labels) else float("nan")


def knn_predict(bank, bank_labels, queries, k=1):
    """k-nearest neighbours by cosine similarity; ties in the vote go to the nearest neighbour's class."""
    bank_labels = torch.as_tensor(bank_labels)
    sims = F.normalize(queries, dim=1) @ F.normalize(bank, dim=1).T
    top = sims.topk(min(k, bank.shape[0]), dim=1).indices
    votes = bank_labels[top]
    if k == 1:
        return votes[:, 0]
    preds = []
    for row in votes:
        values, counts = row.unique(return_counts=True)
        best = values[counts == counts.max()]
        preds.append(next(int(v) for v in row if v in best))
    return torch.tensor(preds)


def few_shot(bank, bank_labels, queries, query_labels, shots=5, episodes=10, seed=0):
    """n-shot accuracy: `shots` exemplars per class drawn from the bank, nearest exemplar wins. Returns
    (mean, std) over `episodes` random draws."""
    rng = np.random.default_rng([seed, 13])
    bank_labels = np.asarray(bank_labels)
    classes = np.unique(bank_labels)
    scores = []
    for _ in range(episodes):
        chosen = np.concatenate([rng.choice(np.flatnonzero(bank_labels == c), size=shots, replace=False)
                                 for c in classes])
        pred = knn_predict(bank[chosen], bank_labels[chosen], queries, k=1)
        scores.append(accuracy(pred, query_labels))
    return float(np.mean(scores)), float(np.std(scores))


def mlp_head(width, classes, hidden=None):
    hidden = hidden or width
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def fine_tune(encoder, head, data, frames, epochs=10, batch_size=64, lr=1e-3, weight_decay=0.05, seed=0,
              forward=None, log_every=20, scale=0.0, label_smoothing=0.0, encoder_lr_scale=1.0, yaw=0.0):
    """Supervised training of encoder and head together (cross-entropy, AdamW, cosine schedule).
    `forward(encoder, x)` maps a window batch to features (default: encoder(x)). `scale` adds random scaling to the
    augmentation, `yaw` (rad) random turns about the vertical; `encoder_lr_scale` multiplies the learning rate of
    the encoder's own parameters."""
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 14])
    forward = forward or (lambda enc, x: enc(x))
    head_params = [p for p in head.parameters() if p.requires_grad]
    seen = {id(p) for p in head_params}  # the head may be part of the encoder module (HCN's fc8)
    encoder_params = [p for p in encoder.parameters() if p.requires_grad and id(p) not in seen]
    groups = [{"params": head_params, "scale": 1.0}]
    if encoder_params:
        groups.append({"params": encoder_params, "scale": encoder_lr_scale})
    optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    steps_per_epoch = max(1, len(data) // min(batch_size, len(data)))
    encoder.train()
    head.train()

    def batch_loss(idx):
        x = training_batch([data.sequences[i] for i in idx], frames, rng, scale=scale, yaw=yaw)
        y = torch.as_tensor(data.labels[idx])
        return F.cross_entropy(head(forward(encoder, x)), y, label_smoothing=label_smoothing)

    history = run_epochs("fine-tune", optimizer, len(data), epochs, batch_size, rng, batch_loss,
                         lambda step, total: cosine_schedule(step, total, steps_per_epoch, lr, lr * 1e-3), log_every)
    encoder.eval()
    head.eval()
    return history
