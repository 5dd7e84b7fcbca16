"""Training recipes: the default model (small STARS on synthetic data) and the HCN low-power model.

`default` runs the whole STARS recipe on the synthetic corpus:
  1. generate the corpus and preprocess every sequence with spec v1 (fill, centre);
  2. MAMP pre-training on the training pool: seen classes x training subjects x training cameras;
  3. STARS contrastive tuning on the same pool;
  4. evaluation on the spec's test-time windows: linear probes for cross-subject and cross-view, k-NN (k = 1,
     cosine), and k-NN / 5-shot on the classes held out of all training;
  5. the shipped head is the cross-subject linear probe; checkpoint, ONNX, report (JSON + markdown).
Nothing in 2-5 ever sees a test window of the benchmark it is evaluated on: the encoder is trained on training
subjects at training cameras only, and each probe on its own benchmark's training split.
"""

from __future__ import annotations

import json
import platform
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .data import synthetic
from .data.windows import SequenceSet
from .encoders.hcn import Hcn, HcnConfig, HcnOnJoint
from .encoders.transformer import SkeletonTransformer, TransformerConfig, count_parameters, describe, flops_per_window
from .export import export_hcn, export_transformer, run_onnxruntime
from .preprocess import PreprocessConfig, motion_stream
from .train.common import log
from .train.evaluate import accuracy, extract_features, few_shot, fine_tune, knn_predict, linear_probe
from .train.mamp import MampConfig, pretrain
from .train.stars import StarsConfig, tune


@dataclass(frozen=True)
class DefaultRecipe:
    seed: int = 0
    data: synthetic.SyntheticConfig = field(default_factory=synthetic.SyntheticConfig)
    model: TransformerConfig = field(default_factory=TransformerConfig.small)
    mamp: MampConfig = field(default_factory=lambda: MampConfig(epochs=5, warmup_epochs=1, batch_size=64, lr=1e-3))
    stars: StarsConfig = field(default_factory=lambda: StarsConfig(epochs=6, warmup_epochs=1, batch_size=64,
                                                                   lr=5e-4, queue_size=512))
    crop_ratio: float = 0.95
    align: bool = False
    probe_epochs: int = 300
    few_shot_episodes: int = 10
    shots: int = 5

    @classmethod
    def tiny(cls, seed=0):
        """Seconds-scale settings for tests: 4 subjects, 3 cameras, a tiny transformer, one epoch each."""
        classes = ("hand waving", "clapping", "squat down", "jump up", "handshaking", "side kick", "cheer up")
        data = synthetic.SyntheticConfig(seed=seed, subjects=4, cameras_deg=(-60.0, 0.0, 60.0),
                                         cross_view_test_cameras=(1,), classes=classes)
        model = TransformerConfig(frames=16, width=16, depth=2, heads=2, mlp_hidden=32, decoder_width=16,
                                  decoder_depth=1, decoder_heads=2)
        return cls(seed=seed, data=data, model=model,
                   mamp=MampConfig(epochs=1, warmup_epochs=0, batch_size=8),
                   stars=StarsConfig(epochs=1, warmup_epochs=0, batch_size=8, queue_size=32, projector_hidden=32,
                                     predictor_hidden=32, out_dim=16),
                   probe_epochs=20, few_shot_episodes=2, shots=1)


def build_corpus(config: synthetic.SyntheticConfig, align=False):
    """Generates the synthetic corpus and runs spec steps 1-3 on every sample."""
    samples = synthetic.generate(config)
    data = SequenceSet.from_spec_inputs(
        ((s.present, s.joints, s.valid) for s in samples), [s.label for s in samples],
        meta={"subject": [s.subject for s in samples], "camera": [s.camera for s in samples],
              "azimuth": [s.azimuth_deg for s in samples]},
        class_names=config.classes, align=align)
    return data


def splits(data: SequenceSet, config: synthetic.SyntheticConfig, held_out):
    held = np.isin(data.labels, [config.classes.index(n) for n in held_out if n in config.classes])
    train_subject = np.array([config.is_train_subject(s) for s in data.meta["subject"]])
    test_camera = np.isin(data.meta["camera"], config.cross_view_test_cameras)
    seen = ~held
    return {
        "pool": seen & train_subject & ~test_camera,
        "xsub_train": seen & train_subject, "xsub_test": seen & ~train_subject,
        "xview_train": seen & ~test_camera, "xview_test": seen & test_camera,
        "unseen_bank": held & train_subject, "unseen_test": held & ~train_subject,
    }


def _relabel(labels, classes):
    """Maps corpus label indices to positions in `classes` (a sorted list of corpus labels)."""
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup[int(x)] for x in labels])


def run_default(out_dir, recipe: DefaultRecipe = DefaultRecipe(), threads=2, export=True):
    """Runs the default recipe and writes checkpoint, ONNX and report into out_dir. Returns the report dict."""
    started = time.time()
    torch.set_num_threads(threads)
    torch.manual_seed(recipe.seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    timings = {}

    log(f"generating the synthetic corpus ({recipe.data.subjects} subjects, {len(recipe.data.classes)} classes, "
        f"{len(recipe.data.cameras_deg)} cameras)")
    t = time.time()
    data = build_corpus(recipe.data, recipe.align)
    masks = splits(data, recipe.data, synthetic.HELD_OUT_CLASSES)
    timings["data_s"] = time.time() - t
    log(f"{len(data)} sequences; training pool {masks['pool'].sum()}; {describe(recipe.model)}")

    pool = data.subset(masks["pool"])
    t = time.time()
    encoder, mamp_history = pretrain(pool, recipe.model, recipe.mamp, seed=recipe.seed)
    timings["mamp_s"] = time.time() - t
    t = time.time()
    stars_history = tune(encoder, pool, recipe.stars, seed=recipe.seed)
    timings["stars_s"] = time.time() - t

    t = time.time()
    preprocess = PreprocessConfig(frames_out=recipe.model.frames, crop_ratio=recipe.crop_ratio, align=recipe.align)
    windows = data.eval_windows(preprocess)
    features = extract_features(encoder, windows)
    timings["features_s"] = time.time() - t

    seen_labels = sorted({int(x) for x in data.labels[~np.isin(
        data.labels, [recipe.data.classes.index(n) for n in synthetic.HELD_OUT_CLASSES if n in recipe.data.classes])]})
    seen_names = [recipe.data.classes[i] for i in seen_labels]
    results = {}
    heads = {}
    for bench in ("xsub", "xview"):
        train_m, test_m = masks[f"{bench}_train"], masks[f"{bench}_test"]
        y_train = _relabel(data.labels[train_m], seen_labels)
        y_test = _relabel(data.labels[test_m], seen_labels)
        head = linear_probe(features[train_m], y_train, len(seen_labels), epochs=recipe.probe_epochs,
                            seed=recipe.seed)
        heads[bench] = head
        with torch.no_grad():
            logits = head(features[test_m])
        knn = knn_predict(features[train_m], y_train, features[test_m], k=1)
        confusion = np.zeros((len(seen_names), len(seen_names)), dtype=int)
        np.add.at(confusion, (y_test, logits.argmax(dim=1).numpy()), 1)
        per_class = {seen_names[c]: accuracy(logits[y_test == c], y_test[y_test == c]) for c in range(len(seen_names))
                     if (y_test == c).any()}
        results[bench] = {"linear_probe": accuracy(logits, y_test), "knn_1": accuracy(knn, y_test),
                          "train_windows": int(train_m.sum()), "test_windows": int(test_m.sum()),
                          "per_class_linear_probe": per_class, "confusion_linear_probe": confusion.tolist()}
        log(f"{bench}: linear probe {results[bench]['linear_probe']:.4f}, 1-NN {results[bench]['knn_1']:.4f}")

    unseen = {}
    if masks["unseen_bank"].any() and masks["unseen_test"].any():
        bank_labels = data.labels[masks["unseen_bank"]]
        test_labels = data.labels[masks["unseen_test"]]
        bank, queries = features[masks["unseen_bank"]], features[masks["unseen_test"]]
        knn = knn_predict(bank, bank_labels, queries, k=1)
        mean, std = few_shot(bank, bank_labels, queries, test_labels, shots=recipe.shots,
                             episodes=recipe.few_shot_episodes, seed=recipe.seed)
        unseen = {"classes": [recipe.data.classes[i] for i in sorted(set(bank_labels.tolist()))],
                  "knn_1": accuracy(knn, test_labels), f"{recipe.shots}_shot_mean": mean,
                  f"{recipe.shots}_shot_std": std, "episodes": recipe.few_shot_episodes,
                  "bank_windows": int(masks["unseen_bank"].sum()), "test_windows": int(masks["unseen_test"].sum())}
        log(f"unseen classes: 1-NN {unseen['knn_1']:.4f}, {recipe.shots}-shot {mean:.4f} +- {std:.4f}")
    results["unseen"] = unseen

    head = heads["xsub"]
    checkpoint = out_dir / "stars_small.pt"
    torch.save({"format": "skelact-stars", "version": 1, "model": recipe.model.to_dict(),
                "encoder": encoder.state_dict(), "head": head.state_dict(), "classes": seen_names,
                "class_labels": seen_labels, "preprocess": asdict(preprocess), "stream": "joint",
                "seed": recipe.seed}, checkpoint)
    files = {"checkpoint": checkpoint.name}
    if export:
        onnx_path = export_transformer(encoder, out_dir / "stars_small_joint.onnx", "joint", head,
                                       metadata={"skelact.classes": json.dumps(seen_names),
                                                 "skelact.preprocess": json.dumps(asdict(preprocess)),
                                                 "skelact.model": json.dumps(recipe.model.to_dict())})
        files["onnx"] = onnx_path.name
        probe = windows[masks["xsub_test"]][:8]
        with torch.no_grad():
            ref_e = encoder(probe)
            ref_l = head(ref_e)
        err_e = err_l = 0.0
        for i in range(probe.shape[0]):
            got = run_onnxruntime(onnx_path, {"joint": probe[i:i + 1].numpy()})
            err_e = max(err_e, float(np.abs(got["embedding"] - ref_e[i:i + 1].numpy()).max()))
            err_l = max(err_l, float(np.abs(got["logits"] - ref_l[i:i + 1].numpy()).max()))
        results["onnx_parity"] = {"windows": int(probe.shape[0]), "max_abs_embedding": err_e, "max_abs_logits": err_l}
        log(f"onnxruntime vs PyTorch: max |d embedding| {err_e:.2e}, max |d logits| {err_l:.2e}")

    timings["total_s"] = time.time() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    timings["cpu_s"] = usage.ru_utime + usage.ru_stime  # with 2 threads, about twice the wall time of an idle machine
    report = {
        "recipe": "default", "package_version": __version__, "seed": recipe.seed, "threads": threads,
        "torch": torch.__version__, "machine": platform.machine(), "processor": platform.processor(),
        "model": {**recipe.model.to_dict(), "parameters": count_parameters(encoder),
                  "gflop_per_window": flops_per_window(recipe.model) / 1e9},
        "mamp": {**recipe.mamp.to_dict(), "loss_per_epoch": mamp_history},
        "stars": {**recipe.stars.to_dict(), "loss_per_epoch": stars_history},
        "data": {"subjects": recipe.data.subjects, "cameras_deg": list(recipe.data.cameras_deg),
                 "cross_view_test_cameras_deg": [recipe.data.cameras_deg[i] for i in recipe.data.cross_view_test_cameras],
                 "classes": list(recipe.data.classes), "held_out_classes": list(synthetic.HELD_OUT_CLASSES),
                 "sequences": len(data), "pretraining_pool": int(masks["pool"].sum())},
        "preprocess": asdict(preprocess), "results": results, "timings_s": timings, "files": files,
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out_dir / "report.md").write_text(report_markdown(report))
    log(f"done in {timings['total_s']:.0f} s; report in {out_dir / 'report.md'}")
    return report


def report_markdown(report):
    r = report["results"]
    m = report["model"]
    lines = [
        "# Default model report", "",
        f"Small STARS transformer (T={m['frames']}, l={m['segment']}, {m['depth']} blocks of {m['width']}, "
        f"{m['heads']} heads, FFN {m['mlp_hidden']}; {m['parameters']:,} parameters, "
        f"{m['gflop_per_window']:.2f} GFLOP per window), trained on the synthetic corpus with seed "
        f"{report['seed']} on {report['threads']} threads (torch {report['torch']}).", "",
        "| evaluation | accuracy |", "|---|---|",
        f"| cross-subject, linear probe (shipped head) | {r['xsub']['linear_probe']:.4f} |",
        f"| cross-view, linear probe | {r['xview']['linear_probe']:.4f} |",
        f"| cross-subject, 1-NN (cosine) | {r['xsub']['knn_1']:.4f} |",
        f"| cross-view, 1-NN (cosine) | {r['xview']['knn_1']:.4f} |",
    ]
    u = r.get("unseen") or {}
    if u:
        shots = [k for k in u if k.endswith("_shot_mean")][0]
        n = shots.split("_")[0]
        lines += [f"| unseen classes, 1-NN over the training-subject bank | {u['knn_1']:.4f} |",
                  f"| unseen classes, {n}-shot (nearest exemplar, {u['episodes']} draws) | "
                  f"{u[shots]:.4f} ± {u[shots.replace('mean', 'std')]:.4f} |"]
    lines += ["", f"Unseen (held-out) classes: {', '.join(report['data']['held_out_classes'])}.", ""]
    d = report["data"]
    lines += [f"Corpus: {d['sequences']} sequences, {d['subjects']} subjects (half for training), cameras at "
              f"{d['cameras_deg']} degrees (cross-view tests {d['cross_view_test_cameras_deg']}); pre-training pool "
              f"{d['pretraining_pool']} sequences.", ""]
    if "onnx_parity" in r:
        p = r["onnx_parity"]
        lines += [f"ONNX (onnxruntime) vs PyTorch on {p['windows']} windows: max |Δ embedding| "
                  f"{p['max_abs_embedding']:.2e}, max |Δ logits| {p['max_abs_logits']:.2e}.", ""]
    t = report["timings_s"]
    lines += ["| stage | seconds |", "|---|---|"] + [f"| {k[:-2]} | {v:.0f} |" for k, v in t.items()]
    lines += ["", "Wall-clock seconds on the machine named above (shared with other jobs when it was measured); `cpu` is "
              "the process's CPU time over both threads."]
    lines += ["", "Per-class cross-subject accuracy (linear probe):", "", "| class | accuracy |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in r["xsub"]["per_class_linear_probe"].items()]
    lines += ["", f"MAMP loss per epoch: {', '.join(f'{x:.4f}' for x in report['mamp']['loss_per_epoch'])}",
              f"STARS loss per epoch: {', '.join(f'{x:.3f}' for x in report['stars']['loss_per_epoch'])}", ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class HcnRecipe:
    seed: int = 0
    data: synthetic.SyntheticConfig = field(default_factory=synthetic.SyntheticConfig)
    # The paper's dropout of 0.5 after every stage left the network near chance after 3 epochs on this corpus;
    # 0.2 suits a short schedule on 2000 windows.
    model: HcnConfig = field(default_factory=lambda: HcnConfig(dropout=0.2))
    epochs: int = 12
    batch_size: int = 64
    lr: float = 1e-3
    crop_ratio: float = 0.95


def run_hcn(out_dir, recipe: HcnRecipe = HcnRecipe(), threads=2, export=True):
    """Supervised HCN on the cross-subject training split of the seen classes; cross-subject accuracy."""
    started = time.time()
    torch.set_num_threads(threads)
    torch.manual_seed(recipe.seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = build_corpus(recipe.data)
    masks = splits(data, recipe.data, synthetic.HELD_OUT_CLASSES)
    seen_labels = sorted({int(x) for x in data.labels[masks["xsub_train"]]})
    train = data.subset(masks["xsub_train"])
    train.labels = _relabel(train.labels, seen_labels)
    model = Hcn(recipe.model, len(seen_labels))

    def forward(enc, x):
        return enc(x, motion_stream(x))

    history = fine_tune(model, model.fc8, train, recipe.model.frames, epochs=recipe.epochs,
                        batch_size=recipe.batch_size, lr=recipe.lr, seed=recipe.seed, forward=forward)
    preprocess = PreprocessConfig(frames_out=recipe.model.frames, crop_ratio=recipe.crop_ratio)
    test = data.subset(masks["xsub_test"])
    windows = test.eval_windows(preprocess)
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model.classify(w, motion_stream(w)) for w in windows.split(256)])
    acc = accuracy(logits, _relabel(test.labels, seen_labels))
    log(f"HCN cross-subject accuracy {acc:.4f}")
    names = [recipe.data.classes[i] for i in seen_labels]
    torch.save({"format": "skelact-hcn", "version": 1, "model": recipe.model.to_dict(), "state": model.state_dict(),
                "classes": names, "preprocess": asdict(preprocess)}, out_dir / "hcn.pt")
    report = {"recipe": "hcn", "seed": recipe.seed, "xsub_accuracy": acc, "loss_per_epoch": history,
              "parameters": count_parameters(model), "total_s": time.time() - started}
    if export:
        export_hcn(model, out_dir / "hcn.onnx", metadata={"skelact.classes": json.dumps(names)})
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def load_encoder(checkpoint):
    """Loads any deployable checkpoint: (encoder, head, payload). The encoder maps the joint tensor
    [N, 3, T, 25, 2] to the embedding and `head` maps that to logits: a default-recipe STARS checkpoint, or an HCN
    one (`format` "skelact-hcn", as `cargo xtask train real-hcn` writes), whose motion stream is then computed inside
    the encoder (`HcnOnJoint`). `payload["encoder"]` names the family the bundle records."""
    payload = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if payload.get("format") == "skelact-hcn-text":
        from .textaligned import load

        encoder, head = load(payload)
        return encoder, head, {**payload, "encoder_family": "Hcn"}
    if payload.get("format") == "skelact-hcn":
        hcn = Hcn(HcnConfig(**payload["model"]), len(payload["classes"]))
        hcn.load_state_dict(payload["state"])
        hcn.eval()
        return HcnOnJoint(hcn).eval(), hcn.fc8, {**payload, "encoder_family": "Hcn"}
    encoder, head, payload = load_default(checkpoint)
    return encoder, head, {**payload, "encoder_family": "StarsTransformer"}


def load_default(checkpoint):
    """Loads a default-recipe checkpoint: (encoder, head, payload)."""
    payload = torch.load(checkpoint, map_location="cpu", weights_only=False)
    encoder = SkeletonTransformer(TransformerConfig(**payload["model"]))
    encoder.load_state_dict(payload["encoder"])
    head = torch.nn.Linear(encoder.width, len(payload["classes"]))
    head.load_state_dict(payload["head"])
    return encoder.eval(), head.eval(), payload


