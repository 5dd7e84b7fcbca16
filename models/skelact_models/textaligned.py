"""A text-aligned skeleton model for labels typed on the device (issue 11): HCN whose embedding is mapped into the
text encoder's space, so that a typed prompt's embedding is one more row of its linear head.

The model: HCN trained on the seen classes of UTD-MHAD's training subjects; a linear map from its embedding
(standardised) into all-MiniLM-L6-v2's 384-d space, trained with the symmetric cross-modal loss of the zero-shot
baseline (`zeroshot.train_projection`) against the seen classes' names; and L2 normalisation. The linear head is
the seen names' text embeddings divided by the contrastive temperature (CLIP's classifier: logits = cos / T), so a
prompt typed on the device becomes a label by appending its embedding / T as a row, on the same scale as the
trained classes' rows. Nothing of the held-out classes (`HELD_OUT`) reaches training: not the encoder, not the map.

Calibrated stacking (Chao et al., 2016): a model trained on the seen classes puts every window nearer a seen name
than any new prompt (with plain cosines no held-out window is named by its prompt), so the seen rows carry a bias of
-gamma / T. A shift shared by every seen row leaves the trained classes' own softmax as it was; it only lets a
typed row win where it comes within gamma of the best seen row. gamma is fixed from seen training windows only
(`calibrate_gamma`): the 5th percentile of each window's margin between its best and second-best seen name, so a
prompt as near as another trained class takes at most about 5 % of the trained classes' training windows.

`HELD_OUT` is the zero-shot protocol's second split (`zeroshot.unseen_splits()[1]`). The first would hold out
"draw circle (clockwise)" while its counter-clockwise twin is seen, which no typed name could tell apart; the
second's five names each differ from every seen name.

Measured on the test subjects (the only read of the test split, after training): the seen classes' accuracy
through the text head, zero-shot top-1 among the five held-out names, and the generalised zero-shot figures (all
27 names compete: seen, held-out, harmonic mean), as the device meets them.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import real, text, zeroshot
from .encoders.hcn import Hcn, HcnConfig, HcnOnJoint
from .preprocess import PreprocessConfig
from .train.common import log
from .train.evaluate import fine_tune

FORMAT = "skelact-hcn-text"
DATASET = "utd-mhad"
HELD_OUT = ("baseball swing from right", "arm curl (two arms)", "tennis serve", "right hand knock on door",
            "walking in place")
# The default model's settings (`real.DEFAULT_RECIPE`, chosen on validation), and the baseline's map.
RECIPE = real.DEFAULT_RECIPE


class TextAlignedHcn(nn.Module):
    """joint [N, 3, T, 25, 2] -> unit-length embedding in the text encoder's space [N, 384]."""

    def __init__(self, hcn: Hcn, mean, std, projection: nn.Linear):
        super().__init__()
        self.encoder = HcnOnJoint(hcn)
        self.config = hcn.config
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.projection = projection

    @property
    def width(self):
        return self.projection.out_features

    def forward(self, joint):
        return F.normalize(self.projection((self.encoder(joint) - self.mean) / self.std), dim=1)


# Percentile of the seen training windows' best-minus-second margins that sets gamma.
GAMMA_PERCENTILE = 5


def text_head(text_embeddings, temperature, gamma=0.0):
    """The linear head over the aligned embedding: each class's normalised text embedding / temperature, and a
    bias of -gamma / temperature on every row (calibrated stacking; a typed row gets bias 0)."""
    rows = F.normalize(torch.as_tensor(text_embeddings, dtype=torch.float32), dim=1) / temperature
    head = nn.Linear(rows.shape[1], rows.shape[0])
    with torch.no_grad():
        head.weight.copy_(rows)
        head.bias.fill_(-gamma / temperature)
    return head.eval()


def calibrate_gamma(z, text_embeddings, percentile=GAMMA_PERCENTILE):
    """gamma from seen windows `z` (unit embeddings) and the seen names' embeddings: the `percentile` of each
    window's margin between its nearest and second-nearest name."""
    sims = z @ F.normalize(torch.as_tensor(text_embeddings, dtype=torch.float32), dim=1).T
    top = sims.topk(2, dim=1).values
    return float(np.percentile((top[:, 0] - top[:, 1]).numpy(), percentile))


@torch.no_grad()
def embed(aligned, data, preprocess):
    """Unit embeddings [N, 384] of the spec test-time windows of every sequence of `data`."""
    return torch.cat([aligned(w) for w in data.eval_windows(preprocess).split(128)])


def load(payload):
    """(encoder, head) of a `FORMAT` checkpoint's payload."""
    hcn = Hcn(HcnConfig(**payload["model"]), len(payload["classes"]))
    hcn.load_state_dict(payload["state"])
    projection = nn.Linear(*payload["projection_shape"])
    projection.load_state_dict(payload["projection"])
    encoder = TextAlignedHcn(hcn.eval(), payload["mean"], payload["std"], projection).eval()
    return encoder, text_head(payload["text_embeddings"], payload["temperature"], payload.get("gamma", 0.0))


def seen_subset(data, names, seen_names):
    """The sequences of `seen_names`, labelled by their position among them."""
    seen_index = [names.index(n) for n in seen_names]
    keep = np.isin(data.labels, seen_index)
    part = data.subset(keep)
    part.labels = np.searchsorted(np.asarray(seen_index), part.labels)
    return part


def zero_shot_scores(z, labels, name_embeddings, held_out, gamma=0.0):
    """Top-1 figures of unit embeddings `z` with true labels `labels` (indices into all names) against every
    name's embedding: `zsl` among the held-out names only; `gzsl_seen` / `gzsl_unseen` when all names compete,
    the seen ones lowered by `gamma` (calibrated stacking, as the device's head does); their harmonic mean."""
    texts = F.normalize(torch.as_tensor(name_embeddings, dtype=torch.float32), dim=1)
    sims = z @ texts.T
    labels = torch.as_tensor(labels)
    unseen = torch.isin(labels, torch.as_tensor(held_out))
    choice = torch.as_tensor(held_out)[sims[:, held_out].argmax(dim=1)]
    stacked = sims.clone()
    stacked[:, [c for c in range(sims.shape[1]) if c not in held_out]] -= gamma
    overall = stacked.argmax(dim=1)
    zsl = float((choice[unseen] == labels[unseen]).float().mean())
    seen_acc = float((overall[~unseen] == labels[~unseen]).float().mean())
    unseen_acc = float((overall[unseen] == labels[unseen]).float().mean())
    harmonic = 2 * seen_acc * unseen_acc / max(seen_acc + unseen_acc, 1e-9)
    return {"zsl": zsl, "gzsl_seen": seen_acc, "gzsl_unseen": unseen_acc, "gzsl_harmonic": harmonic,
            "unseen_windows": int(unseen.sum()), "seen_windows": int((~unseen).sum())}


def one_typed_label(z, labels, seen, seen_embeddings, prompt_embedding, target, gamma):
    """The board's case: the trained (seen) rows, lowered by `gamma`, and one typed label. Returns the share of the
    target class's windows the typed label takes (`recall`) and the share of the seen classes' windows it takes
    (`false_accepts`). `labels` index all names; `seen`: the seen classes' indices, in the head's order."""
    rows = F.normalize(torch.as_tensor(seen_embeddings, dtype=torch.float32), dim=1)
    typed = F.normalize(torch.as_tensor(prompt_embedding, dtype=torch.float32).reshape(1, -1), dim=1)
    best_seen = (z @ rows.T).max(dim=1).values - gamma
    takes = (z @ typed.T)[:, 0] > best_seen
    labels = torch.as_tensor(labels)
    own = labels == target
    is_seen = torch.isin(labels, torch.as_tensor(seen))
    return {"recall": float(takes[own].float().mean()), "windows": int(own.sum()),
            "false_accepts": float(takes[is_seen].float().mean())}


def run(out_dir, epochs=RECIPE.epochs, threads=2, tiny=False, reuse=False):
    """Trains, calibrates gamma, measures and writes `hcn_text.pt`, `report.json` and `report.md` into `out_dir`.
    `reuse`: the trained encoder and map of `out_dir`'s checkpoint (and its report's training record) instead of
    training again; gamma and the figures are computed again."""
    started = time.time()
    torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = real.classes(DATASET)
    seen_names = [n for n in names if n not in HELD_OUT]
    train = seen_subset(real.load_train(DATASET, RECIPE.align), names, seen_names)
    if reuse:
        payload = torch.load(out_dir / "hcn_text.pt", map_location="cpu", weights_only=False)
        previous = json.loads((out_dir / "report.json").read_text())
        record = {"epochs": previous["epochs"], "threads": previous["threads"],
                  "loss_per_epoch": previous["loss_per_epoch"], "train_s": previous["timings_s"]["train_s"]}
    else:
        payload, record = _train(train, names, seen_names, epochs, threads, tiny, started)
    preprocess = PreprocessConfig(**payload["preprocess"])
    aligned, _ = load(payload)  # the encoder; gamma only shifts the head
    z_train = embed(aligned, train, preprocess)
    payload["gamma"] = calibrate_gamma(z_train, payload["text_embeddings"])
    torch.save(payload, out_dir / "hcn_text.pt")
    return measure(payload, out_dir, {**record, "started": started})


def _train(train, names, seen_names, epochs, threads, tiny, started):
    """The encoder and the map, trained: (checkpoint payload without gamma, training record)."""
    model_config = HcnConfig.tiny() if tiny else RECIPE.model
    log(f"text-aligned HCN: {len(train)} training sequences of {len(seen_names)} seen classes, {epochs} epochs")
    torch.manual_seed(RECIPE.seed)
    hcn = Hcn(model_config, len(seen_names))
    history = fine_tune(hcn, hcn.fc8, train, model_config.frames, epochs=epochs, batch_size=RECIPE.batch_size,
                        lr=RECIPE.lr, weight_decay=RECIPE.weight_decay, seed=RECIPE.seed,
                        forward=real._hcn_forward, scale=RECIPE.scale, label_smoothing=RECIPE.label_smoothing)
    hcn.eval()
    preprocess = PreprocessConfig(frames_out=model_config.frames, crop_ratio=RECIPE.crop_ratio, align=RECIPE.align)
    encoder = HcnOnJoint(hcn).eval()
    with torch.no_grad():
        features = torch.cat([encoder(w) for w in train.eval_windows(preprocess).split(128)])
    mean, std = features.mean(dim=0), features.std(dim=0).clamp_min(1e-6)
    name_embeddings = torch.from_numpy(text.encode(names)[0])
    seen_embeddings = name_embeddings[[names.index(n) for n in seen_names]]
    projection = zeroshot.train_projection((features - mean) / std, torch.as_tensor(train.labels), seen_embeddings,
                                           list(range(len(seen_names))))
    train_s = time.time() - started
    payload = {"format": FORMAT, "version": 1, "model": model_config.to_dict(), "state": hcn.state_dict(),
               "classes": seen_names, "held_out": list(HELD_OUT), "preprocess": asdict(preprocess),
               "layout": "KinectV1", "dataset": DATASET, "mean": mean, "std": std,
               "projection": projection.state_dict(),
               "projection_shape": [projection.in_features, projection.out_features],
               "text_model": text.MODEL, "text_embeddings": seen_embeddings, "temperature": zeroshot.TEMPERATURE}
    return payload, {"epochs": epochs, "threads": threads, "loss_per_epoch": history, "train_s": train_s}


def measure(payload, out_dir, run):
    """The test split's figures of a trained checkpoint's payload, written as `report.json` and `report.md`. `run`:
    epochs, threads, loss_per_epoch, train_s and started (time.time() at the start)."""
    out_dir = Path(out_dir)
    names = real.classes(DATASET)
    seen_names = payload["classes"]
    held_out = [names.index(n) for n in payload["held_out"]]
    preprocess = PreprocessConfig(**payload["preprocess"])
    name_embeddings = torch.from_numpy(text.encode(names)[0])
    aligned, head = load(payload)
    hcn = aligned.encoder.hcn
    test = real.load_test(DATASET, RECIPE.align)
    with torch.no_grad():
        z = embed(aligned, test, preprocess)
        seen_test = ~np.isin(test.labels, held_out)
        seen_labels = np.searchsorted(np.asarray([names.index(n) for n in seen_names]), test.labels[seen_test])
        text_head_acc = float((head(z[seen_test]).argmax(dim=1).numpy() == seen_labels).mean())
        logits = torch.cat([hcn.fc8(aligned.encoder(w))
                            for w in test.subset(seen_test).eval_windows(preprocess).split(128)])
        fc8_acc = float((logits.argmax(dim=1).numpy() == seen_labels).mean())
    gamma = payload["gamma"]
    figures = zero_shot_scores(z, test.labels, name_embeddings, held_out, gamma)
    plain = zero_shot_scores(z, test.labels, name_embeddings, held_out)
    # The seen/unseen trade-off over gamma (Chao et al.'s curve), reported, not used to choose gamma.
    curve = [{"gamma": g, **{k: v for k, v in zero_shot_scores(z, test.labels, name_embeddings, held_out, g).items()
                             if k.startswith("gzsl")}} for g in np.round(np.arange(0.0, 0.41, 0.05), 2).tolist()]
    # One label typed at a time, as an integrator adds one action to a board: its name, or its description.
    seen = [names.index(n) for n in seen_names]
    described = text.descriptions()[DATASET]
    description_embeddings = torch.from_numpy(text.encode([described[n] for n in payload["held_out"]])[0])
    typed_one = {n: {"name": one_typed_label(z, test.labels, seen, payload["text_embeddings"], name_embeddings[c],
                                             c, gamma),
                     "description": one_typed_label(z, test.labels, seen, payload["text_embeddings"],
                                                    description_embeddings[i], c, gamma)}
                 for i, (n, c) in enumerate(zip(payload["held_out"], held_out))}
    report = {"recipe": "text-aligned-hcn", "dataset": DATASET,
              "protocol": "cross-subject (train subjects 1, 3, 5, 7; test 2, 4, 6, 8); 22 seen / 5 held-out classes",
              "held_out": list(payload["held_out"]), "epochs": run["epochs"], "threads": run["threads"],
              "text_model": text.MODEL, "temperature": payload["temperature"], "gamma": gamma,
              "gamma_rule": f"{GAMMA_PERCENTILE}th percentile of the best-minus-second name margin of the seen "
                            "training windows",
              "seen_accuracy_text_head": text_head_acc, "seen_accuracy_fc8": fc8_acc, **figures,
              "without_gamma": {k: v for k, v in plain.items() if k.startswith("gzsl")}, "gamma_curve": curve,
              "one_typed_label": typed_one,
              "chance_zsl": 1.0 / len(held_out), "loss_per_epoch": run["loss_per_epoch"],
              "timings_s": {"train_s": run["train_s"], "total_s": time.time() - run["started"]}}
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out_dir / "report.md").write_text(_markdown(report))
    log(f"text-aligned HCN: seen {text_head_acc:.4f} (fc8 {fc8_acc:.4f}), zero-shot {figures['zsl']:.4f}, "
        f"GZSL seen {figures['gzsl_seen']:.4f} unseen {figures['gzsl_unseen']:.4f}")
    return report


def _markdown(r):
    pct = lambda v: f"{100 * v:.2f}%"  # noqa: E731
    return "\n".join([
        f"# Text-aligned HCN on {r['dataset']} ({r['protocol']})", "",
        f"Held out of all training: {', '.join(r['held_out'])}. {r['epochs']} epochs, {r['threads']} threads, "
        f"{r['timings_s']['total_s']:.0f} s.", "",
        "| figure | value |", "|---|---|",
        f"| seen classes, text head (22 names) | {pct(r['seen_accuracy_text_head'])} ({r['seen_windows']} windows) |",
        f"| seen classes, HCN's own classifier | {pct(r['seen_accuracy_fc8'])} |",
        f"| zero-shot top-1 among the 5 held-out names | {pct(r['zsl'])} ({r['unseen_windows']} windows; "
        f"chance {pct(r['chance_zsl'])}) |",
        f"| all 27 names compete (seen rows lowered by gamma {r['gamma']:.3f}): seen | {pct(r['gzsl_seen'])} |",
        f"| all 27 names compete: held out | {pct(r['gzsl_unseen'])} |",
        f"| harmonic mean | {pct(r['gzsl_harmonic'])} |",
        f"| without gamma: seen / held out | {pct(r['without_gamma']['gzsl_seen'])} / "
        f"{pct(r['without_gamma']['gzsl_unseen'])} |", "",
        "One label typed at a time (the trained rows lowered by gamma, and the typed one): the share of the "
        "held-out class's test windows it takes, and of the seen classes' windows:", "",
        "| held-out class | typed name: recall / false accepts | typed description: recall / false accepts |",
        "|---|---|---|",
        *[f"| {n} | {pct(v['name']['recall'])} / {pct(v['name']['false_accepts'])} | "
          f"{pct(v['description']['recall'])} / {pct(v['description']['false_accepts'])} |"
          for n, v in r.get("one_typed_label", {}).items()], "",
        "Seen / held-out accuracy over gamma (reported only; gamma comes from the training windows):", "",
        "| gamma | seen | held out | harmonic |", "|---|---|---|---|",
        *[f"| {c['gamma']:.2f} | {pct(c['gzsl_seen'])} | {pct(c['gzsl_unseen'])} | {pct(c['gzsl_harmonic'])} |"
          for c in r["gamma_curve"]], ""])
