"""Real windows for parity checks, calibration and validation, in the raw form the device receives.

A window is the preprocessing specification's input (`present[2, F]`, `joints[2, F, 25, 3]`, `valid[2, F, 25]`), not
a model tensor: validation must push the same raw windows through both implementations of the preprocessing (this
package's and the Rust runtime's), or it would not test what runs on the device.

On disk a set of windows is a directory of `.npy` files, all float32 so that the device-side reader (which reads
`<f4` and `<f8` only) needs nothing else:

| file | shape | meaning |
|---|---|---|
| `joints.npy` | [N, 2, F, 25, 3] | metres, model axes; zeros past a window's length and where a joint is not valid |
| `valid.npy` | [N, 2, F, 25] | 1.0 where the joint was observed |
| `present.npy` | [N, 2, F] | 1.0 where the body is in the frame |
| `frames.npy` | [N] | each window's length F_i (the rest is padding) |
| `labels.npy` | [N] | index into the model's labels, -1 when unlabelled |

F is the longest window of the set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import synthetic
from ..preprocess import PreprocessConfig, preprocess_window

FILES = ("joints", "valid", "present", "frames", "labels")


@dataclass
class RawWindows:
    joints: np.ndarray  # [N, 2, F, 25, 3] float32
    valid: np.ndarray  # [N, 2, F, 25] bool
    present: np.ndarray  # [N, 2, F] bool
    frames: np.ndarray  # [N] int64
    labels: np.ndarray  # [N] int64, -1 = unlabelled

    def __len__(self):
        return int(self.frames.shape[0])

    @classmethod
    def from_items(cls, items, labels):
        """items: (present[2, F_i], joints[2, F_i, 25, 3], valid[2, F_i, 25]) per window."""
        items = list(items)
        n = len(items)
        longest = max((p.shape[1] for p, _, _ in items), default=1)
        joints = np.zeros((n, 2, longest, 25, 3), dtype=np.float32)
        valid = np.zeros((n, 2, longest, 25), dtype=bool)
        present = np.zeros((n, 2, longest), dtype=bool)
        frames = np.zeros(n, dtype=np.int64)
        for i, (p, j, v) in enumerate(items):
            f = p.shape[1]
            frames[i] = f
            present[i, :, :f] = p
            valid[i, :, :f] = v
            # Unobserved joints are written as zeros so that nothing but the flags carries information there.
            joints[i, :, :f] = np.where(v[..., None] & p[:, :, None, None], j, 0.0)
        return cls(joints, valid, present, frames, np.asarray(labels, dtype=np.int64))

    def item(self, i):
        f = int(self.frames[i])
        return self.present[i, :, :f], self.joints[i, :, :f], self.valid[i, :, :f]

    def subset(self, indices):
        idx = np.asarray(indices, dtype=np.int64)
        return RawWindows(self.joints[idx], self.valid[idx], self.present[idx], self.frames[idx], self.labels[idx])

    def tensors(self, config: PreprocessConfig, stream="joint"):
        """Model inputs [N, 3, T, 25, 2] of one stream through this package's preprocessing."""
        return np.stack([preprocess_window(*self.item(i), config)[stream] for i in range(len(self))])

    def save(self, directory):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            np.save(directory / f"{name}.npy", np.ascontiguousarray(getattr(self, name), dtype=np.float32))
        return directory

    @classmethod
    def load(cls, directory):
        directory = Path(directory)
        missing = [name for name in FILES if not (directory / f"{name}.npy").is_file()]
        if missing:
            raise FileNotFoundError(f"{directory} is not a window set: missing {', '.join(m + '.npy' for m in missing)}")
        a = {name: np.load(directory / f"{name}.npy") for name in FILES}
        return cls(a["joints"].astype(np.float32), a["valid"] > 0.5, a["present"] > 0.5,
                   a["frames"].astype(np.int64), a["labels"].astype(np.int64))


def synthetic_windows(class_names, split, count=None, seed=0, data_seed=0):
    """Windows of the synthetic corpus for the model's classes, one per (subject, class, camera) of `split`.

    split: "test" = the cross-subject test subjects (never seen by training), "train" = the training subjects
    (for calibration). `count` draws that many keys at random (seeded), in corpus order; None takes them all.
    Labels are indices into `class_names`; names the synthetic corpus does not have are an error.
    """
    config = synthetic.SyntheticConfig(seed=data_seed)
    unknown = [n for n in class_names if n not in config.classes]
    if unknown:
        raise ValueError(f"the synthetic corpus has no class {unknown[0]!r}")
    corpus_labels = [config.classes.index(n) for n in class_names]
    want_train = split == "train"
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    subjects = [s for s in range(config.subjects) if config.is_train_subject(s) == want_train]
    keys = [(s, label, 0, cam) for s in subjects for label in range(len(class_names))
            for cam in range(len(config.cameras_deg))]
    if count is not None and count < len(keys):
        chosen = np.sort(np.random.default_rng(seed).choice(len(keys), size=count, replace=False))
        keys = [keys[i] for i in chosen]
    samples = [synthetic.generate_sample(config, s, corpus_labels[label], r, cam) for s, label, r, cam in keys]
    return RawWindows.from_items(((x.present, x.joints, x.valid) for x in samples), [k[1] for k in keys])


def real_windows(dataset, class_names, split, count=None, seed=0):
    """Whole sequences of a real dataset's standard split ("nw-ucla" cross-view, "utd-mhad" cross-subject) as raw
    windows after the device's Kinect v1 -> NTU-25 mapping: "test" for parity and validation (evaluation only),
    "train" for calibration. Labels index `class_names` by the dataset's class names; sequences of classes the
    model does not have (held out of a text-aligned model's training) are left out. `count` draws that many of the
    rest at random (seeded), in file order."""
    from ..data import nwucla, utdmhad

    module = {"nw-ucla": nwucla, "utd-mhad": utdmhad}[dataset]
    if not set(class_names) & set(module.CLASSES):
        raise ValueError(f"the model has none of {dataset}'s classes")
    sequences = [s for s in map(module.read_sequence, module.list_files(split=split))
                 if module.CLASSES[s["label"]] in class_names]
    if count is not None and count < len(sequences):
        chosen = np.sort(np.random.default_rng(seed).choice(len(sequences), size=count, replace=False))
        sequences = [sequences[i] for i in chosen]
    labels = [class_names.index(module.CLASSES[s["label"]]) for s in sequences]
    return RawWindows.from_items((nwucla.to_spec_input(s["joints"]) for s in sequences), labels)


def model_windows(corpus, class_names, split, count=None, seed=0):
    """The windows a model is checked on: its own corpus's ("synthetic", "nw-ucla" or "utd-mhad") test split, or
    training split for calibration."""
    if corpus == "synthetic":
        return synthetic_windows(class_names, split, count, seed)
    return real_windows(corpus, class_names, split, count, seed)


def corpus_of(description):
    """The corpus a model description was trained on (descriptions written before real data: synthetic)."""
    return description.get("data", {}).get("corpus", "synthetic")
