"""Zero-shot actions from their descriptions (issue 11): the protocol, and the plain embedding-similarity baseline
that AC-SAR and TDSM are to beat.

Protocol (UTD-MHAD cross-subject, after TDSM's seen/unseen splits): the 27 classes are split at random into 22 seen
and 5 unseen, `SPLITS` times from one seed. Training reads only the seen classes of the training subjects (1, 3, 5,
7); the score is the top-1 accuracy on the unseen classes of the test subjects (2, 4, 6, 8), choosing among the 5
unseen descriptions (chance: 20 %). Every setting is fixed before the test split is read: there is no tuning, and
no early stopping.

Skeleton encoder: frozen, and it must never have seen an unseen class. The HCN trained on NW-UCLA
(`models/zoo/hcn-nw-ucla-aligned`) never saw UTD-MHAD at all, so no split leaks through it; the default model (HCN
on all of UTD-MHAD) would, and is not used.

Baseline: a linear map of the encoder's 256-d embedding into the text encoder's 384-d space, trained with the
symmetric cross-modal contrastive loss (skeleton to the seen classes' texts, and each seen text to the skeletons of
its class); a window is labelled with the description nearest to its projection by cosine. Two texts per class:
the hand-written description and the bare class name.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import real, text
from .preprocess import PreprocessConfig

ROOT = Path(__file__).resolve().parents[2]
ENCODER = "models/zoo/hcn-nw-ucla-aligned/hcn.pt"
DATASET = "utd-mhad"
UNSEEN = 5
SPLITS = 5
SEED = 0
# The baseline's settings, fixed in advance.
EPOCHS = 300
LR = 1e-2
WEIGHT_DECAY = 1e-3
TEMPERATURE = 0.1


def unseen_splits(classes, unseen=UNSEEN, count=SPLITS, seed=SEED):
    """`count` random sets of `unseen` class indices (sorted), from one seed."""
    rng = np.random.default_rng(seed)
    return [sorted(rng.choice(classes, unseen, replace=False).tolist()) for _ in range(count)]


@torch.no_grad()
def skeleton_features(checkpoint=ENCODER, dataset=DATASET):
    """Frozen-encoder embeddings and labels of both splits: {"train": (x, y), "test": (x, y)}."""
    from .recipes import load_encoder

    encoder, _, payload = load_encoder(ROOT / checkpoint)
    pre = payload["preprocess"]
    config = PreprocessConfig(frames_out=pre["frames_out"], crop_ratio=pre["crop_ratio"], align=pre["align"])
    out = {}
    for split, load in (("train", real.load_train), ("test", real.load_test)):
        data = load(dataset, align=config.align)
        windows = data.eval_windows(config)
        x = torch.cat([encoder(w) for w in windows.split(128)])
        out[split] = (x, torch.as_tensor(np.asarray(data.labels)))
    return out


def class_texts(dataset=DATASET):
    """{"description": [...], "name": [...]} in class order."""
    names = list(real.classes(dataset))
    written = text.descriptions()[dataset]
    return {"description": [written[n] for n in names], "name": names}


def symmetric_cross_modal_loss(logits, targets, present=None):
    """CLIP's symmetric loss with several skeletons per text. `logits` [B, K]: skeleton i against text k; `targets`
    [B]: each skeleton's text. Skeleton to text: cross-entropy over the K texts. Text to skeleton: each text present
    in the batch (`present`, default the distinct targets) against every skeleton of the batch, the mean
    log-probability of its own class's skeletons. Returns the mean of the two."""
    present = torch.unique(targets) if present is None else present
    skeleton_to_text = F.cross_entropy(logits, targets)
    log_p = F.log_softmax(logits[:, present].T, dim=1)
    own = (targets[None, :] == present[:, None]).float()
    text_to_skeleton = -((log_p * own).sum(dim=1) / own.sum(dim=1)).mean()
    return 0.5 * (skeleton_to_text + text_to_skeleton)


def train_projection(x, y, text_embeddings, seen, seed=SEED):
    """The baseline's linear map, trained on features `x` with labels `y` (all in `seen`) against the seen classes'
    text embeddings."""
    torch.manual_seed(seed)
    seen = torch.as_tensor(seen)
    targets = torch.searchsorted(seen, y)  # label -> position among the seen classes
    texts = F.normalize(text_embeddings[seen], dim=1)
    projection = torch.nn.Linear(x.shape[1], texts.shape[1])
    optimizer = torch.optim.AdamW(projection.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    present = torch.unique(targets)
    for _ in range(EPOCHS):
        z = F.normalize(projection(x), dim=1)
        loss = symmetric_cross_modal_loss(z @ texts.T / TEMPERATURE, targets, present)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return projection.eval()


def evaluate_split(features, text_embeddings, unseen):
    """Top-1 on the unseen classes of the test split, choosing among the unseen texts only."""
    classes = text_embeddings.shape[0]
    seen = [c for c in range(classes) if c not in unseen]
    (x_train, y_train), (x_test, y_test) = features["train"], features["test"]
    keep = torch.isin(y_train, torch.as_tensor(seen))
    mean, std = x_train[keep].mean(dim=0), x_train[keep].std(dim=0).clamp_min(1e-6)
    projection = train_projection((x_train[keep] - mean) / std, y_train[keep], text_embeddings, seen)
    test = torch.isin(y_test, torch.as_tensor(unseen))
    with torch.no_grad():
        z = F.normalize(projection((x_test[test] - mean) / std), dim=1)
        choice = (z @ F.normalize(text_embeddings[unseen], dim=1).T).argmax(dim=1)
    predicted = torch.as_tensor(unseen)[choice]
    return float((predicted == y_test[test]).float().mean()), int(test.sum())


def run_baseline(out=ROOT / "models" / "zoo" / "zero-shot-baseline.json", threads=2):
    started = time.time()
    torch.set_num_threads(threads)
    features = skeleton_features()
    texts = class_texts()
    embedded = {kind: torch.from_numpy(text.encode(prompts)[0]) for kind, prompts in texts.items()}
    splits = unseen_splits(len(texts["name"]))
    rows = []
    for unseen in splits:
        row = {"unseen": [texts["name"][c] for c in unseen]}
        for kind, embeddings in embedded.items():
            row[kind], row["test_windows"] = evaluate_split(features, embeddings, unseen)
        rows.append(row)
        print(json.dumps(row))
    report = {"protocol": f"{DATASET} cross-subject, {len(texts['name']) - UNSEEN} seen / {UNSEEN} unseen classes, "
                          f"{SPLITS} random splits (seed {SEED})",
              "encoder": ENCODER + " (frozen; trained on NW-UCLA only)",
              "text_encoder": "all-MiniLM-L6-v2 (skelact_models.text)",
              "method": f"linear projection, symmetric cross-modal InfoNCE, {EPOCHS} full-batch epochs, lr {LR}, "
                        f"weight decay {WEIGHT_DECAY}, temperature {TEMPERATURE}",
              "chance": 1.0 / UNSEEN, "splits": rows,
              "mean": {kind: float(np.mean([r[kind] for r in rows])) for kind in embedded},
              "std": {kind: float(np.std([r[kind] for r in rows])) for kind in embedded},
              "seconds": time.time() - started}
    Path(out).write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    print(json.dumps(run_baseline()["mean"]))
