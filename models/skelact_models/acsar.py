"""AC-SAR on real data (issue 11): the dual-branch encoder (`encoders.acsar`) pre-trained with SCD-Net's
cross-domain contrastive loss and AC-SAR's FiLM text alignment, one model per stream (joint, bone, motion), then
evaluated by linear probe, fine-tuning and the semi-supervised protocol, and fused at decision level.

Pre-training, per stream, on the training split of one dataset (never its test split):
- **Cross-domain InfoNCE with a MoCo queue** (SCD-Net): two augmented views of a batch; the query encoder embeds
  one, a momentum copy of it (the key encoder) the other. Each branch has a projection (MLP) into a 128-d space.
  The spatial query is matched against the temporal key of the same sequence and the temporal query against the
  spatial key; the negatives are the keys of earlier batches, held in one queue per branch.
- **FiLM text alignment** (AC-SAR): the description of the window's class (`action_descriptions.json`, through
  all-MiniLM-L6-v2) modulates the skeleton embedding feature-wise, gamma(e) * h + beta(e), and the modulated
  embedding, projected, is compared by cosine with the projected description. Every window of the batch is scored
  against every class description in the batch (the modulation is the candidate's), and the loss is the symmetric
  cross-modal one (skeleton to text and text to skeleton, `zeroshot.symmetric_cross_modal_loss`). The modulation
  starts as the identity (gamma 1, beta 0).
- Total loss: cross-domain + `text_weight` x alignment. The alignment needs labels; with a labelled fraction (the
  semi-supervised rows) only the labelled windows enter it.

Evaluation, after all training (the test split is read once, here):
- linear probe: the pre-trained encoder frozen, a linear classifier on standardised embeddings;
- fine-tuned: encoder and linear head trained together on the labelled training windows;
- semi-supervised: 5 % and 10 % of the training labels (stratified by class, at least one per class); pre-training
  sees every training window, its text loss and the fine-tuning only the labelled ones;
- three-stream: the softmax of the joint, bone and motion models averaged (the paper's decision-level fusion, equal
  weights; fusion normalises them), for the linear probes and the fine-tuned models.

The paper trains for hundreds of epochs on NTU with a 16,384-entry queue on GPUs; here every setting is scaled to two
CPU cores and to datasets of 400 to 1,000 sequences: `AcSarRecipe` lists them, and nothing is chosen on a test split.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import real, text
from .data.windows import training_batch
from .encoders.acsar import AcSarConfig, AcSarEncoder
from .encoders.transformer import count_parameters
from .preprocess import PreprocessConfig, bone_stream, motion_stream
from .train.common import cosine_schedule, log
from .train.evaluate import accuracy, extract_features, fine_tune, linear_probe
from .train.loop import run_epochs
from .zeroshot import symmetric_cross_modal_loss

FORMAT = "skelact-acsar"
STREAMS = {"joint": lambda x: x, "bone": bone_stream, "motion": motion_stream}
ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "models" / "zoo" / "acsar"


@dataclass(frozen=True)
class AcSarRecipe:
    dataset: str = "utd-mhad"
    stream: str = "joint"
    seed: int = 0
    model: AcSarConfig = field(default_factory=AcSarConfig)
    labelled_fraction: float = 1.0  # below 1: the semi-supervised protocol
    epochs: int = 30
    warmup_epochs: int = 2
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    projection: int = 128  # the contrastive spaces of both branches and the skeleton-text space
    queue: int = 1024  # negatives per branch (paper: 16,384 on NTU; our datasets hold 431 to 1,020 sequences)
    momentum: float = 0.99  # key encoder EMA (paper 0.999 over far more steps)
    temperature: float = 0.2  # cross-domain InfoNCE
    text_temperature: float = 0.1  # skeleton-text cosine
    text_weight: float = 1.0
    scale: float = 0.1  # augmentation: random crop, rotation, per-axis scaling
    probe_epochs: int = 300
    fine_tune_epochs: int = 30
    fine_tune_lr: float = 1e-3
    fine_tune_batch: int = 32
    fine_tune_encoder_lr_scale: float = 0.5
    label_smoothing: float = 0.1
    crop_ratio: float = 0.95

    @classmethod
    def tiny(cls, dataset="utd-mhad", stream="joint", labelled_fraction=1.0):
        return cls(dataset=dataset, stream=stream, model=AcSarConfig.tiny(), labelled_fraction=labelled_fraction,
                   epochs=1, warmup_epochs=0, batch_size=16, queue=32, projection=16, probe_epochs=5,
                   fine_tune_epochs=1, fine_tune_batch=16)

    def name(self):
        return self.stream if self.labelled_fraction >= 1.0 else f"{self.stream}-{round(self.labelled_fraction * 100)}pct"


class StreamEncoder(nn.Module):
    """A joint window -> the stream's tensor (as the device's preprocessing computes it) -> the encoder."""

    def __init__(self, encoder: AcSarEncoder, stream: str):
        super().__init__()
        self.encoder = encoder
        self.stream = stream
        self.config = encoder.config

    @property
    def width(self):
        return self.encoder.width

    def forward(self, joint):
        return self.encoder(STREAMS[self.stream](joint))


def mlp(width, hidden, out):
    return nn.Sequential(nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out))


class Film(nn.Module):
    """FiLM conditioning of a skeleton embedding on a text embedding: gamma(e) * h + beta(e), starting as the
    identity. Every embedding against every text: h [B, D], e [K, E] -> [B, K, D]."""

    def __init__(self, text_dim, width):
        super().__init__()
        self.generator = nn.Linear(text_dim, 2 * width)
        nn.init.zeros_(self.generator.weight)
        nn.init.zeros_(self.generator.bias)

    def forward(self, h, e):
        gamma, beta = self.generator(e).chunk(2, dim=1)  # [K, D] each
        return (1.0 + gamma)[None] * h[:, None] + beta[None]


class TextAlignment(nn.Module):
    """FiLM-modulated skeleton embeddings against projected descriptions: logits [B, K] = cos / T."""

    def __init__(self, width, text_dim, out, temperature):
        super().__init__()
        self.film = Film(text_dim, width)
        self.skeleton = nn.Linear(width, out)
        self.text = nn.Linear(text_dim, out)
        self.temperature = temperature

    def forward(self, h, e):
        z = F.normalize(self.skeleton(self.film(h, e)), dim=-1)  # [B, K, out]
        t = F.normalize(self.text(e), dim=-1)  # [K, out]
        return (z * t[None]).sum(dim=-1) / self.temperature


def info_nce(query, key, queue, temperature):
    """MoCo's InfoNCE: each query's positive is its own key, the negatives the queue. All unit length."""
    positive = (query * key).sum(dim=1, keepdim=True)
    negative = query @ queue.T
    logits = torch.cat([positive, negative], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(query.shape[0], dtype=torch.long))


class AcSarPretrainer(nn.Module):
    """Query and momentum key encoders with per-branch projections, the two queues, and the text alignment."""

    def __init__(self, recipe: AcSarRecipe, text_dim):
        super().__init__()
        config = recipe.model
        branch = config.widths[-1]
        self.encoder = AcSarEncoder(config)
        self.spatial_proj = mlp(branch, branch, recipe.projection)
        self.temporal_proj = mlp(branch, branch, recipe.projection)
        self.key_encoder = copy.deepcopy(self.encoder)
        self.key_spatial_proj = copy.deepcopy(self.spatial_proj)
        self.key_temporal_proj = copy.deepcopy(self.temporal_proj)
        for p in self._key_parameters():
            p.requires_grad_(False)
        self.alignment = TextAlignment(config.width, text_dim, recipe.projection, recipe.text_temperature)
        generator = torch.Generator().manual_seed(recipe.seed)
        for name in ("spatial_queue", "temporal_queue"):
            self.register_buffer(name, F.normalize(torch.randn(recipe.queue, recipe.projection, generator=generator),
                                                   dim=1))
        self.register_buffer("queue_pointer", torch.zeros((), dtype=torch.long))
        self.recipe = recipe

    def _pairs(self):
        return ((self.encoder, self.key_encoder), (self.spatial_proj, self.key_spatial_proj),
                (self.temporal_proj, self.key_temporal_proj))

    def _key_parameters(self):
        for _, key in self._pairs():
            yield from key.parameters()

    @torch.no_grad()
    def momentum_update(self):
        m = self.recipe.momentum
        for query, key in self._pairs():
            for q, k in zip(query.parameters(), key.parameters()):
                k.mul_(m).add_(q.detach(), alpha=1.0 - m)
            for q, k in zip(query.buffers(), key.buffers()):
                k.copy_(q)

    @torch.no_grad()
    def enqueue(self, spatial, temporal):
        size = self.spatial_queue.shape[0]
        idx = (self.queue_pointer + torch.arange(spatial.shape[0])) % size
        self.spatial_queue[idx] = spatial
        self.temporal_queue[idx] = temporal
        self.queue_pointer.copy_((self.queue_pointer + spatial.shape[0]) % size)

    def losses(self, view_q, view_k, targets, texts):
        """(cross-domain, alignment) losses of a batch. `targets` [B]: each window's description in `texts` [K, E],
        -1 for an unlabelled window."""
        t = self.recipe.temperature
        spatial, temporal = self.encoder.branches(view_q)
        q_s = F.normalize(self.spatial_proj(spatial), dim=1)
        q_t = F.normalize(self.temporal_proj(temporal), dim=1)
        with torch.no_grad():
            self.momentum_update()
            k_spatial, k_temporal = self.key_encoder.branches(view_k)
            k_s = F.normalize(self.key_spatial_proj(k_spatial), dim=1)
            k_t = F.normalize(self.key_temporal_proj(k_temporal), dim=1)
        cross = info_nce(q_s, k_t, self.temporal_queue.clone(), t) + info_nce(q_t, k_s, self.spatial_queue.clone(), t)
        self.enqueue(k_s, k_t)
        labelled = targets >= 0
        if labelled.any():
            present, local = torch.unique(targets[labelled], return_inverse=True)
            h = torch.cat([spatial, temporal], dim=1)[labelled]
            align = symmetric_cross_modal_loss(self.alignment(h, texts[present]), local)
        else:
            align = cross.new_zeros(())
        return cross, align


def class_texts(dataset):
    """The hand-written descriptions of the dataset's classes through the text encoder: [classes, 384]."""
    described = text.descriptions()[dataset]
    sentences, _ = text.encode([described[name] for name in real.classes(dataset)])
    return torch.from_numpy(sentences)


def labelled_subset(labels, fraction, seed):
    """Indices of a stratified `fraction` of the labels: per class round(fraction * count), at least one."""
    rng = np.random.default_rng([seed, 31])
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        chosen.extend(rng.choice(idx, max(1, round(fraction * len(idx))), replace=False).tolist())
    return np.sort(np.asarray(chosen))


def pretrain(train, recipe: AcSarRecipe, texts, labelled=None):
    """Cross-domain contrastive + FiLM alignment pre-training of one stream. `labelled`: indices whose labels the
    alignment may use (default all). Returns (encoder, history)."""
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng([recipe.seed, 32])
    model = AcSarPretrainer(recipe, texts.shape[1]).train()
    targets = np.full(len(train), -1, dtype=np.int64)
    keep = np.arange(len(train)) if labelled is None else labelled
    targets[keep] = train.labels[keep]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    stream = STREAMS[recipe.stream]
    frames = recipe.model.frames
    history = {"cross_domain": [], "alignment": []}

    def batch_loss(idx):
        sequences = [train.sequences[i] for i in idx]
        view_q = stream(training_batch(sequences, frames, rng, scale=recipe.scale))
        view_k = stream(training_batch(sequences, frames, rng, scale=recipe.scale))
        cross, align = model.losses(view_q, view_k, torch.as_tensor(targets[idx]), texts)
        history["cross_domain"].append(float(cross.detach()))
        history["alignment"].append(float(align.detach()))
        return cross + recipe.text_weight * align

    steps = max(1, len(train) // min(recipe.batch_size, len(train)))
    warmup = recipe.warmup_epochs * steps
    loss = run_epochs(f"AC-SAR {recipe.dataset} {recipe.name()}", optimizer, len(train), recipe.epochs,
                      recipe.batch_size, rng, batch_loss,
                      lambda step, total: cosine_schedule(step, total, warmup, recipe.lr), log_every=0)
    per_epoch = {k: [float(np.mean(v[e * steps:(e + 1) * steps])) for e in range(recipe.epochs)]
                 for k, v in history.items()}
    return model.encoder.eval(), {"loss": loss, **per_epoch}


def fine_tune_epochs(recipe: AcSarRecipe, labelled, total):
    """Fine-tuning epochs on `labelled` of `total` training sequences: `fine_tune_epochs` on the whole split, and
    on a labelled fraction as many epochs as give the same number of optimizer steps (30 epochs of 54 sequences
    would be 30 steps, which leaves the head untrained)."""
    return math.ceil(recipe.fine_tune_epochs * (total // min(recipe.fine_tune_batch, total))
                     / max(1, labelled // min(recipe.fine_tune_batch, labelled)))


def fine_tune_stream(encoder, recipe: AcSarRecipe, train, classes, epochs=None):
    """A copy of the encoder with a linear head, trained together on `train`. Returns (StreamEncoder, head, loss)."""
    tuned = StreamEncoder(copy.deepcopy(encoder), recipe.stream)
    for p in tuned.parameters():
        p.requires_grad_(True)
    torch.manual_seed(recipe.seed)
    head = nn.Linear(tuned.width, classes)
    history = fine_tune(tuned, head, train, recipe.model.frames, epochs=epochs or recipe.fine_tune_epochs,
                        batch_size=recipe.fine_tune_batch, lr=recipe.fine_tune_lr, seed=recipe.seed,
                        scale=recipe.scale, label_smoothing=recipe.label_smoothing,
                        encoder_lr_scale=recipe.fine_tune_encoder_lr_scale)
    return tuned.eval(), head.eval(), history


def run_stream(recipe: AcSarRecipe, out_dir=None, threads=1):
    """Pre-trains and fine-tunes one stream (optionally on a labelled fraction), then evaluates it on the test split.
    Writes `<out_dir>/<dataset>/<name>/`: the checkpoint (`acsar.pt`), the test logits of the linear probe and of
    the fine-tuned model (for fusion) and `result.json`. Returns the result."""
    started = time.time()
    torch.set_num_threads(threads)
    folder = Path(out_dir or ZOO) / recipe.dataset / recipe.name()
    folder.mkdir(parents=True, exist_ok=True)
    names = real.classes(recipe.dataset)
    train = real.load_train(recipe.dataset)
    texts = class_texts(recipe.dataset)
    labelled = None if recipe.labelled_fraction >= 1.0 else labelled_subset(train.labels, recipe.labelled_fraction,
                                                                            recipe.seed)
    log(f"AC-SAR {recipe.dataset} {recipe.name()}: {len(train)} training sequences, "
        f"{len(train) if labelled is None else len(labelled)} labelled")
    encoder, pre_history = pretrain(train, recipe, texts, labelled)
    pretrain_s = time.time() - started
    labelled_train = train if labelled is None else train.subset(labelled)
    t = time.time()
    epochs = fine_tune_epochs(recipe, len(labelled_train), len(train))
    tuned, head, ft_history = fine_tune_stream(encoder, recipe, labelled_train, len(names), epochs)
    fine_tune_s = time.time() - t

    preprocess = PreprocessConfig(frames_out=recipe.model.frames, crop_ratio=recipe.crop_ratio)
    frozen = StreamEncoder(encoder, recipe.stream).eval()
    f_train = extract_features(frozen, labelled_train.eval_windows(preprocess))
    probe = linear_probe(f_train, labelled_train.labels, len(names), epochs=recipe.probe_epochs, seed=recipe.seed)
    torch.save({"format": FORMAT, "version": 1, "model": recipe.model.to_dict(), "stream": recipe.stream,
                "pretrained": encoder.state_dict(), "probe": probe.state_dict(), "encoder": tuned.encoder.state_dict(),
                "head": head.state_dict(), "classes": names, "preprocess": asdict(preprocess), "layout": "KinectV1",
                "dataset": recipe.dataset, "recipe": _settings(recipe)}, folder / "acsar.pt")

    # Evaluation: the test split is read from here on, after all training.
    test = real.load_test(recipe.dataset)
    windows = test.eval_windows(preprocess)
    with torch.no_grad():
        probe_logits = probe(extract_features(frozen, windows))
        tuned_logits = head(extract_features(tuned, windows))
    np.save(folder / "test_logits_probe.npy", probe_logits.numpy())
    np.save(folder / "test_logits_fine_tuned.npy", tuned_logits.numpy())
    np.save(folder / "test_labels.npy", test.labels)
    result = {"dataset": recipe.dataset, "protocol": real.DATASETS[recipe.dataset]["protocol"],
              "stream": recipe.stream, "labelled_fraction": recipe.labelled_fraction,
              "train_sequences": len(train), "labelled_sequences": len(labelled_train), "test_sequences": len(test),
              "fine_tune_epochs": epochs,
              "linear_probe": accuracy(probe_logits, test.labels),
              "fine_tuned": accuracy(tuned_logits, test.labels),
              "parameters": count_parameters(encoder), "settings": _settings(recipe),
              "pretrain_loss": pre_history, "fine_tune_loss": ft_history,
              "timings_s": {"pretrain_s": pretrain_s, "fine_tune_s": fine_tune_s, "total_s": time.time() - started},
              "threads": threads, "torch": torch.__version__}
    log(f"AC-SAR {recipe.dataset} {recipe.name()}: linear probe {result['linear_probe']:.4f}, fine-tuned "
        f"{result['fine_tuned']:.4f} ({result['timings_s']['total_s']:.0f} s)")
    (folder / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def _settings(recipe):
    return {k: v for k, v in asdict(recipe).items() if k != "model"} | {"model": recipe.model.to_dict()}


def fuse(logits, weights=None):
    """Decision-level fusion as the device computes it: the weighted mean of the streams' softmax."""
    weights = np.ones(len(logits)) if weights is None else np.asarray(weights, dtype=np.float64)
    probabilities = [w * torch.softmax(torch.as_tensor(lg, dtype=torch.float64), dim=1).numpy()
                     for w, lg in zip(weights, logits)]
    return sum(probabilities) / weights.sum()


def load_stream(checkpoint, stage="encoder"):
    """(AcSarEncoder, nn.Linear head, payload) of a checkpoint: the fine-tuned encoder and head (`stage` "encoder")
    or the pre-trained encoder and its linear probe ("pretrained")."""
    payload = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if payload.get("format") != FORMAT:
        raise ValueError(f"{checkpoint}: not an AC-SAR checkpoint")
    encoder = AcSarEncoder(AcSarConfig.from_dict(payload["model"]))
    encoder.load_state_dict(payload[stage])
    head_state = payload["head" if stage == "encoder" else "probe"]
    head = nn.Linear(head_state["weight"].shape[1], head_state["weight"].shape[0])
    head.load_state_dict(head_state)
    return encoder.eval(), head.eval(), payload


class StreamClassifier(nn.Module):
    """One stream's fine-tuned model as the device runs it: the stream's tensor -> logits (the head inside)."""

    def __init__(self, encoder: AcSarEncoder, head: nn.Linear):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, x):
        return self.head(self.encoder(x))


# UTD-MHAD's actions last 41 to 125 frames: the device window holds 128, as the default bundle's.
RAW_FRAMES = {"utd-mhad": 128, "nw-ucla": 208}


def export_streams(dataset, out_dir, zoo=None, windows=32, tolerance=1e-4, seed=0):
    """The three fine-tuned stream models of `dataset` as one model folder for `cargo xtask bundle`: per stream an
    FP32 ONNX (the stream's tensor -> logits), checked against PyTorch with onnxruntime on real test windows through
    this package's preprocessing, and `model.json` with the logits head and the three streams at equal weights (the
    device fuses their softmax). Returns the description."""
    from .deploy import description as desc
    from .deploy.export import INPUT_NAME, OrtModel, ParityError, check_graph, class_action_ids
    from .deploy.windows import model_windows
    from .export import export_onnx

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    zoo = Path(zoo or ZOO) / dataset
    streams, parity, checkpoints = [], {}, {}
    raw = None
    for stream in STREAMS:
        checkpoint = zoo / stream / "acsar.pt"
        encoder, head, payload = load_stream(checkpoint)
        checkpoints[stream] = {"path": desc.portable_path(checkpoint), "sha256": desc.sha256_file(checkpoint)}
        model = StreamClassifier(encoder, head).eval()
        config, classes = encoder.config, list(payload["classes"])
        preprocess = PreprocessConfig(**payload["preprocess"])
        onnx_file = out_dir / f"{stream}.fp32.onnx"
        example = torch.zeros(1, config.channels, config.frames, config.joints, config.bodies)
        example[..., 0] = torch.randn(1, config.channels, config.frames, config.joints)
        export_onnx(model, onnx_file, [INPUT_NAME], [example], output_name="logits",
                    metadata={"skelact.model": f"acsar-{dataset}", "skelact.stream": stream,
                              "skelact.preprocess": json.dumps(asdict(preprocess))})
        graph = check_graph(onnx_file, config.frames, len(classes), output_name="logits")
        raw = raw or model_windows(dataset, classes, "test", windows, seed)
        tensors = raw.tensors(preprocess, stream)
        got = OrtModel(onnx_file).run_all(tensors)
        with torch.no_grad():
            ref = model(torch.from_numpy(tensors)).numpy()
        err = float(np.abs(got - ref).max())
        if err > tolerance:
            raise ParityError(f"{stream}: onnxruntime vs PyTorch max |d logits| {err:.3g} > {tolerance:g}")
        parity[stream] = {"windows": int(len(tensors)), "max_abs_logits": err, **graph}
        streams.append({"stream": stream, "weight": 1.0, "onnx": {"fp32": onnx_file.name}})
    window = dict(desc.DEFAULT_WINDOW) | {"raw_frames": RAW_FRAMES[dataset]}
    description = {
        "format": desc.FORMAT, "version": desc.VERSION, "model_name": f"acsar-{dataset}-3stream-{config.frames}",
        "encoder": "DualBranchGcn", "layout": "KinectV2", "bodies": config.bodies,
        "checkpoint": checkpoints["joint"]["path"], "checkpoint_sha256": checkpoints["joint"]["sha256"],
        "checkpoints": checkpoints, "model": config.to_dict(), "preprocess": asdict(preprocess), "window": window,
        "decision": dict(desc.DEFAULT_DECISION),
        "input": {"name": INPUT_NAME, "shape": [1, config.channels, config.frames, config.joints, config.bodies]},
        "output": {"name": "logits", "shape": [1, len(classes)]},
        "head": {"kind": "logits"},
        "labels": [{"name": n, "action_id": a} for n, a in zip(classes, class_action_ids(classes, dataset))],
        "streams": streams, "engines": [], "data": {"corpus": dataset},
        "export": {"parity": parity, "data": {"corpus": dataset, "split": "test", "seed": seed}},
    }
    desc.save(out_dir, description)
    return description


def write_device_reference(dataset, zoo=None):
    """What the three-stream bundle must say about every test sequence, from PyTorch through this package's
    preprocessing (the spec's test-time window of the whole sequence): the fused top label and its probability, and
    the joint stream's alone. `board/cli/tests/three_stream.rs` compares `skelact eval` on the bundle with it.
    Writes `<zoo>/<dataset>/device_reference.json` (labels and scores only, no recording data)."""
    folder = Path(zoo or ZOO) / dataset
    test = real.load_test(dataset)
    logits = {}
    for stream in STREAMS:
        encoder, head, payload = load_stream(folder / stream / "acsar.pt")
        windows = test.eval_windows(PreprocessConfig(**payload["preprocess"]))
        with torch.no_grad():
            logits[stream] = head(extract_features(StreamEncoder(encoder, stream), windows)).numpy()
    fused, joint = fuse(list(logits.values())), fuse([logits["joint"]])
    reference = {str(name): {"truth": int(label), "top1": int(f.argmax()), "score": float(f.max()),
                             "joint_top1": int(j.argmax()), "joint_score": float(j.max())}
                 for name, label, f, j in zip(test.meta["name"], test.labels, fused, joint)}
    out = {"dataset": dataset, "streams": list(STREAMS), "weights": [1.0] * len(STREAMS),
           "accuracy": float(np.mean([r["top1"] == r["truth"] for r in reference.values()])),
           "joint_accuracy": float(np.mean([r["joint_top1"] == r["truth"] for r in reference.values()])),
           "sequences": reference}
    (folder / "device_reference.json").write_text(json.dumps(out, indent=1) + "\n")
    return out


def report(out_dir=None, datasets=tuple(real.DATASETS)):
    """Collects the runs of `run_stream` into `report.json` and `report.md`, with the three-stream fusion and the
    STARS encoder's figures from the real-data issue beside them."""
    out_dir = Path(out_dir or ZOO)
    rows = {}
    for dataset in datasets:
        results = {}
        for folder in sorted((out_dir / dataset).iterdir()) if (out_dir / dataset).exists() else ():
            if (folder / "result.json").exists():
                results[folder.name] = json.loads((folder / "result.json").read_text())
        if not results:
            continue
        table = {name: {"linear_probe": r["linear_probe"], "fine_tuned": r["fine_tuned"],
                        "labelled_sequences": r["labelled_sequences"],
                        "minutes": r["timings_s"]["total_s"] / 60} for name, r in results.items()}
        if all(s in results for s in STREAMS):
            labels = np.load(out_dir / dataset / "joint" / "test_labels.npy")
            fused = {}
            for stage in ("probe", "fine_tuned"):
                logits = [np.load(out_dir / dataset / s / f"test_logits_{stage}.npy") for s in STREAMS]
                fused["linear_probe" if stage == "probe" else "fine_tuned"] = float(
                    (fuse(logits).argmax(axis=1) == labels).mean())
            table["three-stream"] = fused
        stars = json.loads((ROOT / "models/zoo/stars-real/report.json").read_text())["results"].get(dataset, {})
        table["STARS small (real-data issue)"] = {"linear_probe": stars.get("linear_probe"),
                                                  "fine_tuned": stars.get("fine_tuned", {}).get("accuracy")}
        rows[dataset] = {"protocol": real.DATASETS[dataset]["protocol"], "rows": table,
                         "settings": next(iter(results.values()))["settings"],
                         "parameters": next(iter(results.values()))["parameters"]}
    out = {"recipe": "acsar", "results": rows}
    (out_dir / "report.json").write_text(json.dumps(out, indent=1) + "\n")
    (out_dir / "report.md").write_text(_markdown(out))
    return out


def _markdown(r):
    lines = ["# AC-SAR on real data", "",
             "Per stream: cross-domain MoCo + FiLM text alignment pre-training, then linear probe and fine-tuning; "
             "three-stream: the mean of the joint, bone and motion softmax. Test split read after training.", ""]
    for dataset, d in r["results"].items():
        lines += [f"## {dataset} ({d['protocol']})", "", f"{d['parameters']:,} encoder parameters per stream.", "",
                  "| model | labelled | linear probe | fine-tuned | minutes |", "|---|---|---|---|---|"]
        for name, row in d["rows"].items():
            def pct(v):
                return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f} %"
            minutes = f"{row['minutes']:.1f}" if "minutes" in row else ""
            lines.append(f"| {name} | {row.get('labelled_sequences', '')} | {pct(row['linear_probe'])} | "
                         f"{pct(row['fine_tuned'])} | {minutes} |")
        lines.append("")
    return "\n".join(lines)


def recipe_for(dataset, stream, fraction=1.0, tiny=False, **overrides):
    base = AcSarRecipe.tiny(dataset, stream, fraction) if tiny else AcSarRecipe(dataset=dataset, stream=stream,
                                                                                labelled_fraction=fraction)
    return replace(base, **overrides)
