"""REC on real data (issue 10): train the DCMAE reconstruction model, choose its inference step, and measure what it
does for the device's classifiers when joints go missing.

- Training: the diffusion loss (`encoders.dcmae`) on the fit parts of both training splits (NW-UCLA view 1,
  UTD-MHAD subjects 1, 3, 5; `real.VALIDATION` holds out NW-UCLA view 2 and UTD-MHAD subject 7). Each training
  window loses samples on its raw frames (random samples, a hidden limb group, or the paper's frame-then-joint
  masking) and goes through the device's preprocessing, so the model sees exactly the filled window and missing
  mask the device will give it; random crop, rotation and scale as the classifiers' training windows
  (view-aligned, as the shipped classifiers are). The synthetic corpus is not used: it holds preprocessed
  windows, not raw frames the device's fill could run on.
- Choice of the inference step: reconstruction error on the held-out validation parts with 10 % of the joints
  dropped, never on a test split.
- Measurement (`evaluate`): each test sequence of NW-UCLA (cross-view) and UTD-MHAD (cross-subject) loses joints
  on the raw frames, before the device's preprocessing: random samples at 0, 5, 10 and 20 %, and structured
  occlusions (one arm, both legs, the lower half of the body) over a third of the window at a random place. The
  shipped HCN classifier of that dataset then classifies the window as the device fills it (interpolation and
  parent, spec step 1) and as REC completes it; the reconstruction error is the mean per-joint position error
  (mm) of the missing entries against the same window without the loss.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from . import real
from .data.windows import random_rotation, random_scale
from .encoders.dcmae import Dcmae, DcmaeConfig, RecExport
from .encoders.transformer import count_parameters
from .export import export_reconstruction, run_onnxruntime
from .layouts import KINECT_V1_TO_NTU, MISSING
from .preprocess import PreprocessConfig, PreprocessError, missing_mask, preprocess_window
from .skeleton import (
    ANKLE_LEFT,
    ANKLE_RIGHT,
    ELBOW_LEFT,
    ELBOW_RIGHT,
    FOOT_LEFT,
    FOOT_RIGHT,
    HAND_LEFT,
    HAND_RIGHT,
    HAND_TIP_LEFT,
    HAND_TIP_RIGHT,
    HEAD,
    HIP_LEFT,
    HIP_RIGHT,
    KNEE_LEFT,
    KNEE_RIGHT,
    NECK,
    SHOULDER_LEFT,
    SHOULDER_RIGHT,
    SPINE_BASE,
    THUMB_LEFT,
    THUMB_RIGHT,
    WRIST_LEFT,
    WRIST_RIGHT,
)
from .train.common import cosine_schedule, log
from .train.loop import run_epochs

ROOT = Path(__file__).resolve().parents[2]
# NTU-25 joints the Kinect v1 mapping provides (its thumbs are never measured: filled from the hand, not missing).
KINECT_V1_PROVIDED = np.array([rule != MISSING for rule in KINECT_V1_TO_NTU])
# The shipped classifier of each dataset (view-aligned HCN, T = 32): `models/zoo/default` and `nw-ucla.skb`'s.
CLASSIFIERS = {"utd-mhad": "models/zoo/default/hcn.pt", "nw-ucla": "models/zoo/hcn-nw-ucla-aligned/hcn.pt"}
LEGS = (HIP_LEFT, KNEE_LEFT, ANKLE_LEFT, FOOT_LEFT, HIP_RIGHT, KNEE_RIGHT, ANKLE_RIGHT, FOOT_RIGHT)
STRUCTURED = {
    "one arm": (SHOULDER_RIGHT, ELBOW_RIGHT, WRIST_RIGHT, HAND_RIGHT, HAND_TIP_RIGHT, THUMB_RIGHT),
    "both legs": LEGS,
    "lower half": (SPINE_BASE,) + LEGS,
}
# What training hides (`training_loss_mask`): generic groups, both sides, not the test conditions' draws.
TRAINING_GROUPS = (
    STRUCTURED["one arm"],
    (SHOULDER_LEFT, ELBOW_LEFT, WRIST_LEFT, HAND_LEFT, HAND_TIP_LEFT, THUMB_LEFT),
    STRUCTURED["one arm"] + (SHOULDER_LEFT, ELBOW_LEFT, WRIST_LEFT, HAND_LEFT, HAND_TIP_LEFT, THUMB_LEFT),
    LEGS,
    STRUCTURED["lower half"],
    (NECK, HEAD),
)
CONDITIONS = ("random 0%", "random 5%", "random 10%", "random 20%", *(f"{k}, a third" for k in STRUCTURED))


@dataclass(frozen=True)
class RecRecipe:
    seed: int = 0
    datasets: tuple = ("nw-ucla", "utd-mhad")
    model: DcmaeConfig = field(default_factory=DcmaeConfig.small)
    epochs: int = 60
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: int = 2
    scale: float = 0.1
    align: bool = True
    candidate_steps: tuple = (5, 10, 25, 50, 100, 250, 500, 999)

    @classmethod
    def tiny(cls, seed=0):
        return cls(seed=seed, model=DcmaeConfig(frames=8, width=16, heads=2, mlp_hidden=32, encoder_depth=1,
                                                decoder_depth=1), epochs=1, batch_size=16, candidate_steps=(500,))


def drop_mask(frames, condition, rng):
    """The samples of body 0 a condition removes: [F, 25] bool (only joints the layout provides)."""
    if condition.startswith("random"):
        rate = float(condition.split()[1].rstrip("%")) / 100.0
        drop = rng.random((frames, 25)) < rate
    else:
        drop = np.zeros((frames, 25), bool)
        length = max(1, frames // 3)
        start = int(rng.integers(0, frames - length + 1))
        drop[start:start + length, list(STRUCTURED[condition.split(",")[0]])] = True
    return drop & KINECT_V1_PROVIDED[None, :]


def raw_items(dataset, split):
    """Spec inputs (present, joints, valid) of one split, with labels and the validation key of each sequence."""
    module = real.DATASETS[dataset]["module"]
    key = real.VALIDATION[dataset][0]
    items, labels, keys = [], [], []
    for path in module.list_files(split=split):
        seq = module.read_sequence(path)
        items.append(module.to_spec_input(seq["joints"]))
        labels.append(seq["label"])
        keys.append(seq[key])
    return items, np.asarray(labels), np.asarray(keys)


def train_part(dataset, validation):
    """Raw spec inputs of the fit part of `dataset`'s training split, or with `validation` of its held-out part."""
    items, _, keys = raw_items(dataset, "train")
    held = keys == real.VALIDATION[dataset][1]
    return [item for item, h in zip(items, held) if h == validation]


def eval_config(recipe):
    """The device's preprocessing of the measurements (validation and test): a centred 95 % crop."""
    return PreprocessConfig(frames_out=recipe.model.frames, crop_ratio=0.95, align=recipe.align)


def lossy_window(present, joints, valid, drop, config: PreprocessConfig):
    """One item's device window without and with the loss `drop` ([F, 25] samples of body 0): (clean, joint,
    missing, fraction, refused). When the preprocessing refuses the lossy version, the clean one stands in for it,
    with nothing missing, and `refused` is True."""
    clean = preprocess_window(present, joints, valid, config)["joint"]
    lossy = valid.copy()
    lossy[0] &= ~drop
    try:
        joint = preprocess_window(present, joints, lossy, config)["joint"]
        missing, fraction = missing_mask(present, joints, lossy, config, KINECT_V1_PROVIDED)
        return clean, joint, missing, fraction, False
    except PreprocessError:
        return clean, clean, np.zeros((1,) + clean.shape[1:], np.float32), 0.0, True


def occluded_windows(items, condition, config: PreprocessConfig, seed):
    """Device windows of every item with `condition` applied: (joint, missing, clean) [N, ...] float32 tensors and
    the missing fractions. A window the preprocessing refuses after the loss keeps its loss-free version (counted
    in `refused`)."""
    rng = np.random.default_rng([seed, 21])
    windows = [lossy_window(present, joints, valid, drop_mask(present.shape[1], condition, rng), config)
               for present, joints, valid in items]
    clean, joint, missing, fractions, refused = zip(*windows)
    stack = lambda xs: torch.from_numpy(np.stack(xs))  # noqa: E731
    return stack(joint), stack(missing), stack(clean), np.asarray(fractions), sum(refused)


@torch.no_grad()
def complete(model: Dcmae, joint, missing, step=None, batch=64):
    """What the device computes (`RecExport`) over many windows, in batches, optionally at another step."""
    wrapper = RecExport(model, step).eval()
    return torch.cat([wrapper(joint[i:i + batch], missing[i:i + batch]) for i in range(0, joint.shape[0], batch)])


def mpjpe_mm(pred, clean, missing):
    """Mean per-joint position error (mm) over the missing entries: pred, clean [N, 3, T, 25, 2], missing
    [N, 1, T, 25, 2]."""
    error = (pred - clean).norm(dim=1, keepdim=True)
    count = missing.sum()
    return float((error * missing).sum() / count * 1000.0) if count > 0 else float("nan")


def training_loss_mask(frames, rng):
    """A loss pattern for training (body 0, raw frames): like the device meets them, not like the test conditions'
    exact draws. A random share of 5 to 30 % of the samples, a limb group (either arm, both arms, both legs, the
    lower half, the head) hidden over 15 to 60 % of the sequence, or the paper's masking (half the frames whole, then
    40 % of the joints of the others), in proportions 2 : 2 : 1."""
    kind = rng.choice(3, p=(0.4, 0.4, 0.2))
    if kind == 0:
        drop = rng.random((frames, 25)) < rng.uniform(0.05, 0.3)
    elif kind == 1:
        group = TRAINING_GROUPS[int(rng.integers(len(TRAINING_GROUPS)))]
        length = max(1, int(round(frames * rng.uniform(0.15, 0.6))))
        start = int(rng.integers(0, frames - length + 1))
        drop = np.zeros((frames, 25), bool)
        drop[start:start + length, list(group)] = True
    else:
        drop = (rng.random(frames) < 0.5)[:, None] | (rng.random((frames, 25)) < 0.4)
    return drop & KINECT_V1_PROVIDED[None, :]


def training_windows(items, recipe: RecRecipe, rng):
    """Device windows of `items` with a fresh loss pattern each (`training_loss_mask`), made by the device's own
    preprocessing, so the model learns to correct exactly the fill it is given: (filled, missing, clean)
    [N, ...] tensors, each with the same random rotation and scaling. A window the preprocessing refuses after the
    loss is drawn again without loss."""
    filled, missing, clean = [], [], []
    for present, joints, valid in items:
        config = PreprocessConfig(frames_out=recipe.model.frames, crop_ratio=float(rng.uniform(0.6, 1.0)),
                                  align=recipe.align)
        target, window, indicator, _, _ = lossy_window(present, joints, valid,
                                                       training_loss_mask(present.shape[1], rng), config)
        filled.append(window)
        missing.append(indicator)
        clean.append(target)
    pair = torch.from_numpy(np.concatenate([np.stack(filled), np.stack(clean)], axis=-1))  # bodies side by side
    pair = random_rotation(pair, rng)
    if recipe.scale > 0:
        pair = random_scale(pair, rng, recipe.scale)
    bodies = pair.shape[-1] // 2
    return pair[..., :bodies], torch.from_numpy(np.stack(missing)), pair[..., bodies:]


def fit_items(recipe: RecRecipe):
    """Raw spec inputs of the fit parts of the training splits (the validation parts are held out)."""
    return [item for dataset in recipe.datasets for item in train_part(dataset, validation=False)]


def train_rec(recipe: RecRecipe, items):
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng([recipe.seed, 22])
    generator = torch.Generator().manual_seed(recipe.seed + 3)
    c = recipe.model
    model = Dcmae(c)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and "pos_" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1 or "pos_" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=recipe.lr, betas=(0.9, 0.95))
    steps_per_epoch = max(1, len(items) // min(recipe.batch_size, len(items)))
    model.train()

    def as_bodies(x):  # [N, C, T, V, M] -> [N * M, T, V, C]
        return x.permute(0, 4, 2, 3, 1).reshape(-1, c.frames, c.joints, x.shape[1])

    def batch_loss(idx):
        filled, missing, clean = training_windows([items[i] for i in idx], recipe, rng)
        filled, clean = as_bodies(filled), as_bodies(clean)
        masked = as_bodies(missing)[..., 0] > 0.5
        lossy = masked.any(dim=(1, 2))  # bodies with nothing missing (the absent partner) teach nothing
        return model.loss(clean[lossy], filled[lossy], masked[lossy], generator)

    history = run_epochs("dcmae", optimizer, len(items), recipe.epochs, recipe.batch_size, rng, batch_loss,
                         lambda step, total: cosine_schedule(step, total, steps_per_epoch * recipe.warmup_epochs,
                                                             recipe.lr, recipe.lr * 1e-2))
    return model.eval(), history


def choose_step(model, recipe: RecRecipe):
    """The inference step with the lowest reconstruction error on the validation parts (10 % random loss)."""
    config = eval_config(recipe)
    errors = {}
    for dataset in recipe.datasets:
        joint, missing, clean, _, _ = occluded_windows(train_part(dataset, validation=True), "random 10%", config,
                                                       recipe.seed + 1)
        errors.setdefault("interpolation", []).append(mpjpe_mm(joint, clean, missing))
        for step in recipe.candidate_steps:
            errors.setdefault(step, []).append(mpjpe_mm(complete(model, joint, missing, step), clean, missing))
    means = {str(k): float(np.mean(v)) for k, v in errors.items()}
    best = min(recipe.candidate_steps, key=lambda s: means[str(s)])
    return best, means


@torch.no_grad()
def validate_conditions(model, recipe: RecRecipe, seed=0):
    """Reconstruction error of every test condition, measured on the validation parts (never the test split): the
    evidence for the device's default (REC on above the threshold, or off)."""
    config = eval_config(recipe)
    out = {}
    for dataset in recipe.datasets:
        held = train_part(dataset, validation=True)
        rows = {}
        for condition in CONDITIONS[1:]:
            joint, missing, clean, fractions, _ = occluded_windows(held, condition, config, seed + 2)
            rows[condition] = {"mpjpe_interpolation_mm": mpjpe_mm(joint, clean, missing),
                               "mpjpe_rec_mm": mpjpe_mm(complete(model, joint, missing), clean, missing),
                               "missing_fraction_mean": float(fractions.mean())}
        out[dataset] = rows
    return out


def load_classifier(dataset):
    from .recipes import load_encoder

    encoder, head, payload = load_encoder(ROOT / CLASSIFIERS[dataset])
    return (lambda x: head(encoder(x))), payload


def accuracy(classify, windows, labels):
    predicted = torch.cat([classify(w).argmax(dim=1) for w in windows.split(128)]).numpy()
    return float((predicted == labels).mean())


@torch.no_grad()
def evaluate(model, recipe: RecRecipe, seed=0):
    """The test-split measurement (read once, after training and the choice of step)."""
    config = eval_config(recipe)
    results = {}
    for dataset in recipe.datasets:
        classify, payload = load_classifier(dataset)
        items, labels, _ = raw_items(dataset, "test")
        rows = {}
        for condition in CONDITIONS:
            joint, missing, clean, fractions, refused = occluded_windows(items, condition, config, seed)
            completed = complete(model, joint, missing)
            rows[condition] = {"interpolation": accuracy(classify, joint, labels),
                               "rec": accuracy(classify, completed, labels),
                               "mpjpe_interpolation_mm": mpjpe_mm(joint, clean, missing),
                               "mpjpe_rec_mm": mpjpe_mm(completed, clean, missing),
                               "missing_fraction_mean": float(fractions.mean()), "refused": refused}
            log(f"REC {dataset} {condition}: {json.dumps(rows[condition])}")
        clean_acc = rows["random 0%"]["interpolation"]
        ten = rows["random 10%"]
        lost = clean_acc - ten["interpolation"]
        results[dataset] = {"protocol": real.DATASETS[dataset]["protocol"], "test_sequences": len(items),
                            "classifier": CLASSIFIERS[dataset], "conditions": rows,
                            "recovered_at_10pct": (ten["rec"] - ten["interpolation"]) / lost if lost > 0 else None}
    return results


def run_rec(out_dir, recipe: RecRecipe = RecRecipe(), threads=2, export=True, measure=True, reuse=False):
    """Trains (or with `reuse`, loads `out_dir/dcmae.pt` and keeps its training history), chooses the inference
    step on validation data, exports and measures."""
    started = time.time()
    torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if reuse:
        payload = torch.load(out_dir / "dcmae.pt", map_location="cpu", weights_only=False)
        model = Dcmae(DcmaeConfig(**payload["model"]))
        model.load_state_dict(payload["state"])
        model.eval()
        previous = json.loads((out_dir / "report.json").read_text())
        history, train_s, pool_size = (previous["loss_per_epoch"], previous["timings_s"]["train"],
                                       previous["training_sequences"])
    else:
        items = fit_items(recipe)
        pool_size = len(items)
        log(f"DCMAE: {len(items)} training sequences, {count_parameters(Dcmae(recipe.model))} parameters")
        model, history = train_rec(recipe, items)
        train_s = time.time() - started
    step, validation = choose_step(model, recipe)
    model.config = replace(model.config, inference_step=step)  # the export and `complete` use the chosen step
    log(f"DCMAE: inference step {step} (validation MPJPE {validation})")
    torch.save({"format": "skelact-dcmae", "version": 1, "model": model.config.to_dict(),
                "state": model.state_dict(), "seed": recipe.seed}, out_dir / "dcmae.pt")
    report = {"recipe": "rec", "seed": recipe.seed, "threads": threads, "torch": torch.__version__,
              "model": model.config.to_dict(), "parameters": count_parameters(model),
              "settings": {k: v for k, v in asdict(recipe).items() if k != "model"},
              "training_sequences": pool_size, "loss_per_epoch": history, "validation_mpjpe_mm": validation,
              "inference_step": step, "timings_s": {"train": train_s}}
    report["validation_conditions"] = validate_conditions(model, recipe)
    if export:
        path = export_reconstruction(model, out_dir / "rec.onnx")
        joint, missing, _, _, _ = occluded_windows(raw_items(recipe.datasets[0], "train")[0][:8], "random 10%",
                                                   PreprocessConfig(frames_out=model.config.frames, align=recipe.align),
                                                   recipe.seed)
        got = np.concatenate([run_onnxruntime(path, {"joint": joint[i:i + 1].numpy(),
                                                     "missing": missing[i:i + 1].numpy()})["completed"]
                              for i in range(joint.shape[0])])
        report["onnx_max_abs"] = float(np.abs(got - complete(model, joint, missing).numpy()).max())
    if measure:
        report["test"] = evaluate(model, recipe)
    report["timings_s"]["total"] = time.time() - started
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out_dir / "report.md").write_text(markdown(report))
    return report


def markdown(r):
    lines = ["# DCMAE reconstruction (REC) on real data", "",
             f"{r['parameters']} parameters, {r['training_sequences']} training sequences, "
             f"{r['settings']['epochs']} epochs, inference step {r['inference_step']} (validation MPJPE: "
             f"{json.dumps(r['validation_mpjpe_mm'])}).", ""]
    for dataset, rows in r.get("validation_conditions", {}).items():
        lines += [f"## {dataset}, validation part (reconstruction error only)", "",
                  "| missing joints | mean missing fraction | MPJPE interpolation (mm) | MPJPE REC (mm) |",
                  "|---|---|---|---|"]
        lines += [f"| {c} | {row['missing_fraction_mean']:.3f} | {row['mpjpe_interpolation_mm']:.1f} | "
                  f"{row['mpjpe_rec_mm']:.1f} |" for c, row in rows.items()]
        lines.append("")
    for dataset, d in r.get("test", {}).items():
        lines += [f"## {dataset}, {d['protocol']} ({d['test_sequences']} test sequences)", "",
                  "| missing joints | mean missing fraction | accuracy, interpolation | accuracy, REC | "
                  "MPJPE interpolation (mm) | MPJPE REC (mm) |", "|---|---|---|---|---|---|"]
        for condition, row in d["conditions"].items():
            lines.append(f"| {condition} | {row['missing_fraction_mean']:.3f} | {100 * row['interpolation']:.2f}% | "
                         f"{100 * row['rec']:.2f}% | {row['mpjpe_interpolation_mm']:.1f} | "
                         f"{row['mpjpe_rec_mm']:.1f} |")
        if d["recovered_at_10pct"] is not None:
            lines += ["", f"Share of the accuracy lost at 10 % that REC recovers: {d['recovered_at_10pct']:.2f}"]
        lines.append("")
    return "\n".join(lines)
