"""Recipes on real data: NW-UCLA (cross-view) and UTD-MHAD (cross-subject), both Kinect v1.

Every sequence goes through the device's Kinect v1 -> NTU-25 mapping (`layouts`) and spec steps 1-3; evaluation
uses the spec's test-time windows (crop 0.95, resize to the model's T), exactly what the device computes.

Training never sees a test split. Training code reads only `load_train` (the readers select files by name before
opening any), uses fixed epoch counts (no early stopping, no model selection on test windows), and the test split is
read once, by `load_test`, after training. `models/tests/test_real.py` fails if a training path opens a test file.

- `hcn`: supervised HCN (joint + motion, T = 32, random crop, rotation and scale augmentation), one per dataset.
- `stars`: the small STARS transformer, MAMP pre-training then STARS tuning on both training splits (optionally
  plus the synthetic corpus's pre-training pool), then per dataset: linear probe, 1-NN and supervised fine-tuning.
"""

from __future__ import annotations

import copy
import json
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .data import nwucla, utdmhad
from .data.windows import SequenceSet
from .encoders.hcn import Hcn, HcnConfig
from .encoders.transformer import TransformerConfig, count_parameters
from .export import export_hcn, export_transformer, run_onnxruntime
from .preprocess import PreprocessConfig, motion_stream
from .train.common import log
from .train.evaluate import accuracy, extract_features, fine_tune, knn_predict, linear_probe
from .train.mamp import MampConfig, pretrain
from .train.stars import StarsConfig, tune

DATASETS = {
    "nw-ucla": {"module": nwucla, "protocol": "cross-view (train views 1, 2; test view 3)"},
    "utd-mhad": {"module": utdmhad, "protocol": "cross-subject (train subjects 1, 3, 5, 7; test 2, 4, 6, 8)"},
}


def load_train(dataset, align=False) -> SequenceSet:
    """The training split of `dataset` (the only split training code reads); `align`: spec step 3 (view
    alignment)."""
    return DATASETS[dataset]["module"].load_split("train", align=align)


def load_test(dataset, align=False) -> SequenceSet:
    """The test split of `dataset`, read for evaluation only, after training."""
    return DATASETS[dataset]["module"].load_split("test", align=align)


# Settings are chosen on a validation part of the training split, the way the benchmark itself is built: NW-UCLA
# trains on view 1 and validates on view 2 (an unseen view), UTD-MHAD trains on subjects 1, 3, 5 and validates on 7
# (an unseen person). The test split plays no part in it.
VALIDATION = {"nw-ucla": ("view", 2), "utd-mhad": ("subject", 7)}


def validation_split(dataset, train: SequenceSet):
    """(fit, validation) parts of a training split, by `VALIDATION`."""
    key, value = VALIDATION[dataset]
    held = np.asarray(train.meta[key]) == value
    return train.subset(~held), train.subset(held)


def classes(dataset):
    return list(DATASETS[dataset]["module"].CLASSES)


def scores(logits, labels, names):
    """Accuracy, per-class accuracy and confusion matrix (rows true, columns predicted)."""
    labels = np.asarray(labels)
    pred = logits.argmax(dim=1).numpy() if logits.ndim == 2 else np.asarray(logits)
    confusion = np.zeros((len(names), len(names)), dtype=int)
    np.add.at(confusion, (labels, pred), 1)
    per_class = {names[c]: float((pred[labels == c] == c).mean()) for c in range(len(names)) if (labels == c).any()}
    return {"accuracy": float((pred == labels).mean()), "per_class": per_class, "confusion": confusion.tolist()}


def _machine(threads):
    return {"threads": threads, "torch": torch.__version__, "machine": platform.machine(),
            "package_version": __version__}


# ---------------------------------------------------------------------------------------------------------------
# HCN


@dataclass(frozen=True)
class RealHcnRecipe:
    dataset: str = "nw-ucla"
    seed: int = 0
    model: HcnConfig = field(default_factory=lambda: HcnConfig(frames=32, dropout=0.3))
    epochs: int = 60
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    label_smoothing: float = 0.1
    scale: float = 0.1  # random per-axis scaling by up to ±10%, on top of the random crop and rotation
    crop_ratio: float = 0.95
    align: bool = False  # spec step 3: MS-G3D view alignment of every sequence (the device does it too)
    yaw_deg: float = 0.0  # random turns about the vertical by up to this many degrees (unseen views)
    validate: bool = False  # train on the fit part of the training split, report the validation part, no test

    @classmethod
    def tiny(cls, dataset, seed=0):
        return cls(dataset=dataset, seed=seed, model=HcnConfig.tiny(), epochs=1, batch_size=16)


# The shipped default model's recipe (`cargo xtask train real-hcn --dataset utd-mhad --align --epochs 120 --out
# models/zoo/default`): view alignment on, no yaw augmentation, 120 epochs, chosen on validation inside UTD-MHAD's
# training split (subject 7 held out; `models/tools/real_hcn_sweep.py`, `models/zoo/hcn-sweep.json`), never on test
# windows.
DEFAULT_RECIPE = RealHcnRecipe(dataset="utd-mhad", align=True, epochs=120)


def _hcn_forward(model, x):
    return model(x, motion_stream(x))


def train_hcn(recipe: RealHcnRecipe, train: SequenceSet | None = None):
    """Supervised HCN on the training split. Returns (model, loss history)."""
    train = train if train is not None else load_train(recipe.dataset, recipe.align)
    torch.manual_seed(recipe.seed)
    model = Hcn(recipe.model, len(classes(recipe.dataset)))
    history = fine_tune(model, model.fc8, train, recipe.model.frames, epochs=recipe.epochs,
                        batch_size=recipe.batch_size, lr=recipe.lr, weight_decay=recipe.weight_decay,
                        seed=recipe.seed, forward=_hcn_forward, scale=recipe.scale,
                        label_smoothing=recipe.label_smoothing, yaw=float(np.radians(recipe.yaw_deg)))
    return model.eval(), history


@torch.no_grad()
def hcn_logits(model, windows):
    model.eval()
    return torch.cat([model.classify(w, motion_stream(w)) for w in windows.split(128)])


def run_hcn(out_dir, recipe: RealHcnRecipe, threads=2, export=True):
    started = time.time()
    torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = classes(recipe.dataset)
    train = load_train(recipe.dataset, recipe.align)
    if recipe.validate:
        train, test = validation_split(recipe.dataset, train)
    log(f"HCN on {recipe.dataset}: {len(train)} training sequences")
    model, history = train_hcn(recipe, train)
    train_s = time.time() - started

    preprocess = PreprocessConfig(frames_out=recipe.model.frames, crop_ratio=recipe.crop_ratio, align=recipe.align)
    if not recipe.validate:
        test = load_test(recipe.dataset, recipe.align)
    windows = test.eval_windows(preprocess)
    result = scores(hcn_logits(model, windows), test.labels, names)
    log(f"HCN {recipe.dataset} {'validation' if recipe.validate else 'test'} accuracy {result['accuracy']:.4f} ({len(test)} sequences)")
    torch.save({"format": "skelact-hcn", "version": 1, "model": recipe.model.to_dict(), "state": model.state_dict(),
                "classes": names, "preprocess": asdict(preprocess), "layout": "KinectV1", "dataset": recipe.dataset},
               out_dir / "hcn.pt")
    files = {"checkpoint": "hcn.pt"}
    if export:
        metadata = {"skelact.classes": json.dumps(names), "skelact.preprocess": json.dumps(asdict(preprocess)),
                    "skelact.model": json.dumps({"hcn": recipe.model.to_dict()})}
        onnx_path = export_hcn(model, out_dir / "hcn.onnx", metadata=metadata)
        files["onnx"] = onnx_path.name
        probe = windows[:8]
        got = [run_onnxruntime(onnx_path, {"joint": probe[i:i + 1].numpy(),
                                           "motion": motion_stream(probe[i:i + 1]).numpy()})["logits"]
               for i in range(probe.shape[0])]
        ref = hcn_logits(model, probe).numpy()
        result["onnx_max_abs_logits"] = float(np.abs(np.concatenate(got) - ref).max())
    protocol = DATASETS[recipe.dataset]["protocol"]
    if recipe.validate:
        protocol = "validation inside the training split (%s %d held out)" % VALIDATION[recipe.dataset]
    report = {"recipe": "real-hcn", "dataset": recipe.dataset, "protocol": protocol,
              "seed": recipe.seed, **_machine(threads), "model": {**recipe.model.to_dict(),
                                                                   "parameters": count_parameters(model)},
              "recipe_settings": {k: v for k, v in asdict(recipe).items() if k != "model"},
              "train_sequences": len(train), "test_sequences": len(test), "classes": names,
              "preprocess": asdict(preprocess), "fine_tuned": result, "loss_per_epoch": history,
              "timings_s": {"train_s": train_s, "total_s": time.time() - started}, "files": files}
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out_dir / "report.md").write_text(_hcn_markdown(report))
    return report


def _hcn_markdown(r):
    return "\n".join([
        f"# HCN on {r['dataset']} ({r['protocol']})", "",
        f"Supervised HCN, T = {r['model']['frames']}, {r['model']['parameters']:,} parameters, "
        f"{r['recipe_settings']['epochs']} epochs, seed {r['seed']}, {r['threads']} threads.", "",
        f"- test accuracy (spec test-time windows): **{r['fine_tuned']['accuracy']:.4f}** "
        f"({r['test_sequences']} sequences; trained on {r['train_sequences']})",
        f"- wall time: {r['timings_s']['total_s']:.0f} s (training {r['timings_s']['train_s']:.0f} s)", "",
        "| class | accuracy |", "|---|---|",
        *[f"| {k} | {v:.3f} |" for k, v in r["fine_tuned"]["per_class"].items()], ""])


# ---------------------------------------------------------------------------------------------------------------
# STARS


def _small32():
    return replace(TransformerConfig.small(), frames=32)


@dataclass(frozen=True)
class RealStarsRecipe:
    seed: int = 0
    datasets: tuple = ("nw-ucla", "utd-mhad")
    synthetic: bool = False  # add the synthetic corpus's pre-training pool to MAMP and STARS
    model: TransformerConfig = field(default_factory=_small32)
    mamp: MampConfig = field(default_factory=lambda: MampConfig(epochs=30, warmup_epochs=3, batch_size=64, lr=1e-3))
    stars: StarsConfig = field(default_factory=lambda: StarsConfig(epochs=10, warmup_epochs=1, batch_size=64,
                                                                   lr=5e-4, queue_size=512))
    probe_epochs: int = 300
    fine_tune_epochs: int = 40
    fine_tune_lr: float = 1e-3
    fine_tune_batch: int = 32
    fine_tune_encoder_lr_scale: float = 0.5
    scale: float = 0.1
    label_smoothing: float = 0.1
    crop_ratio: float = 0.95

    @classmethod
    def tiny(cls, seed=0):
        model = TransformerConfig(frames=16, width=16, depth=2, heads=2, mlp_hidden=32, decoder_width=16,
                                  decoder_depth=1, decoder_heads=2)
        return cls(seed=seed, model=model, mamp=MampConfig(epochs=1, warmup_epochs=0, batch_size=16),
                   stars=StarsConfig(epochs=1, warmup_epochs=0, batch_size=16, queue_size=32, projector_hidden=32,
                                     predictor_hidden=32, out_dim=16),
                   probe_epochs=5, fine_tune_epochs=1)


def _concat(sets):
    sequences = [s for d in sets for s in d.sequences]
    labels = np.concatenate([d.labels for d in sets])
    return SequenceSet(sequences, labels)


def pretrain_stars(recipe: RealStarsRecipe, trains):
    """MAMP then STARS tuning on the union of the training splits (+ synthetic pool). Returns (encoder, history)."""
    pools = list(trains.values())
    if recipe.synthetic:
        from .data import synthetic
        from .recipes import build_corpus, splits

        config = synthetic.SyntheticConfig(seed=recipe.seed)
        corpus = build_corpus(config)
        pools.append(corpus.subset(splits(corpus, config, synthetic.HELD_OUT_CLASSES)["pool"]))
    pool = _concat(pools)
    log(f"pre-training pool: {len(pool)} sequences")
    t = time.time()
    encoder, mamp_history = pretrain(pool, recipe.model, recipe.mamp, seed=recipe.seed)
    mamp_s = time.time() - t
    t = time.time()
    stars_history = tune(encoder, pool, recipe.stars, seed=recipe.seed)
    return encoder, {"pool": len(pool), "mamp_loss": mamp_history, "stars_loss": stars_history, "mamp_s": mamp_s,
                     "stars_s": time.time() - t}


def fine_tune_stars(encoder, recipe: RealStarsRecipe, dataset, train):
    """A copy of the encoder and a linear head, fine-tuned on `train`. Returns (encoder, head, history)."""
    tuned = copy.deepcopy(encoder)
    for p in tuned.parameters():
        p.requires_grad_(True)
    torch.manual_seed(recipe.seed)
    head = torch.nn.Linear(tuned.width, len(classes(dataset)))
    history = fine_tune(tuned, head, train, recipe.model.frames, epochs=recipe.fine_tune_epochs,
                        batch_size=recipe.fine_tune_batch, lr=recipe.fine_tune_lr, seed=recipe.seed,
                        scale=recipe.scale, label_smoothing=recipe.label_smoothing,
                        encoder_lr_scale=recipe.fine_tune_encoder_lr_scale)
    return tuned.eval(), head.eval(), history


def run_stars(out_dir, recipe: RealStarsRecipe = RealStarsRecipe(), threads=2, export=True):
    started = time.time()
    torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    trains = {d: load_train(d) for d in recipe.datasets}
    encoder, pre = pretrain_stars(recipe, trains)
    torch.save({"format": "skelact-stars-encoder", "version": 1, "model": recipe.model.to_dict(),
                "encoder": encoder.state_dict(), "seed": recipe.seed, "synthetic": recipe.synthetic},
               out_dir / "encoder.pt")
    preprocess = PreprocessConfig(frames_out=recipe.model.frames, crop_ratio=recipe.crop_ratio)
    fine_tuned = {}
    timings = {"mamp_s": pre["mamp_s"], "stars_s": pre["stars_s"]}
    for dataset in recipe.datasets if recipe.fine_tune_epochs > 0 else ():
        t = time.time()
        tuned, head, history = fine_tune_stars(encoder, recipe, dataset, trains[dataset])
        timings[f"fine_tune_{dataset}_s"] = time.time() - t
        fine_tuned[dataset] = (tuned, head, history)

    # Evaluation: the test splits are read from here on, after all training.
    results = {}
    for dataset in recipe.datasets:
        names = classes(dataset)
        train, test = trains[dataset], load_test(dataset)
        train_windows, test_windows = train.eval_windows(preprocess), test.eval_windows(preprocess)
        f_train, f_test = extract_features(encoder, train_windows), extract_features(encoder, test_windows)
        probe = linear_probe(f_train, train.labels, len(names), epochs=recipe.probe_epochs, seed=recipe.seed)
        with torch.no_grad():
            probe_logits = probe(f_test)
        r = {"protocol": DATASETS[dataset]["protocol"], "train_sequences": len(train), "test_sequences": len(test),
             "linear_probe": accuracy(probe_logits, test.labels),
             "knn_1": accuracy(knn_predict(f_train, train.labels, f_test, k=1), test.labels)}
        log(f"STARS {dataset}: linear probe {r['linear_probe']:.4f}, 1-NN {r['knn_1']:.4f}")
        if dataset not in fine_tuned:
            results[dataset] = r
            continue
        tuned, head, history = fine_tuned[dataset]
        with torch.no_grad():
            ft_logits = head(extract_features(tuned, test_windows))
        r["fine_tuned"] = scores(ft_logits, test.labels, names)
        r["fine_tune_loss"] = history
        log(f"STARS {dataset}: fine-tuned {r['fine_tuned']['accuracy']:.4f}")
        folder = out_dir / dataset
        folder.mkdir(exist_ok=True)
        torch.save({"format": "skelact-stars", "version": 1, "model": recipe.model.to_dict(),
                    "encoder": tuned.state_dict(), "head": head.state_dict(), "classes": names,
                    "preprocess": asdict(preprocess), "stream": "joint", "seed": recipe.seed, "layout": "KinectV1",
                    "dataset": dataset}, folder / "stars_small.pt")
        if export:
            onnx_path = export_transformer(tuned, folder / "stars_small_joint.onnx", "joint", head,
                                           metadata={"skelact.classes": json.dumps(names),
                                                     "skelact.preprocess": json.dumps(asdict(preprocess)),
                                                     "skelact.model": json.dumps(recipe.model.to_dict())})
            probe_windows = test_windows[:8]
            got = np.concatenate([run_onnxruntime(onnx_path, {"joint": probe_windows[i:i + 1].numpy()})["logits"]
                                  for i in range(probe_windows.shape[0])])
            with torch.no_grad():
                ref = head(tuned(probe_windows)).numpy()
            r["onnx_max_abs_logits"] = float(np.abs(got - ref).max())
        results[dataset] = r
    timings["total_s"] = time.time() - started
    report = {"recipe": "real-stars", "seed": recipe.seed, **_machine(threads), "synthetic": recipe.synthetic,
              "model": {**recipe.model.to_dict(), "parameters": count_parameters(encoder)},
              "mamp": {**recipe.mamp.to_dict(), "loss_per_epoch": pre["mamp_loss"]},
              "stars": {**recipe.stars.to_dict(), "loss_per_epoch": pre["stars_loss"]},
              "pretraining_pool": pre["pool"],
              "recipe_settings": {k: v for k, v in asdict(recipe).items() if k not in ("model", "mamp", "stars")},
              "preprocess": asdict(preprocess), "results": results, "timings_s": timings}
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out_dir / "report.md").write_text(_stars_markdown(report))
    log(f"done in {timings['total_s']:.0f} s")
    return report


def _stars_markdown(r):
    m = r["model"]
    lines = [f"# STARS small on real data{' (with synthetic pre-training)' if r['synthetic'] else ''}", "",
             f"T = {m['frames']}, {m['depth']} blocks of {m['width']}, {m['parameters']:,} encoder parameters; MAMP "
             f"{r['mamp']['epochs']} epochs, STARS {r['stars']['epochs']} epochs on {r['pretraining_pool']} "
             f"training sequences; seed {r['seed']}, {r['threads']} threads.", "",
             "| dataset | protocol | linear probe | 1-NN | fine-tuned |", "|---|---|---|---|---|"]
    for d, x in r["results"].items():
        tuned = f"{x['fine_tuned']['accuracy']:.4f}" if "fine_tuned" in x else "not run"
        lines.append(f"| {d} | {x['protocol']} | {x['linear_probe']:.4f} | {x['knn_1']:.4f} | {tuned} |")
    lines += ["", "| stage | seconds |", "|---|---|", *[f"| {k[:-2]} | {v:.0f} |" for k, v in r["timings_s"].items()],
              ""]
    return "\n".join(lines)
