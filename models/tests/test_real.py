"""Real datasets: the NW-UCLA and UTD-MHAD readers and splits, and the guarantee that training never opens a test
file. They read ../shared/datasets (or $SKELACT_DATASETS) and skip with a message when it is absent."""

import builtins
import io
from pathlib import Path

import numpy as np
import pytest

from skelact_models import real
from skelact_models.data import nwucla, utdmhad
from skelact_models.preprocess import PreprocessConfig

needs_nwucla = pytest.mark.skipif(nwucla.root() is None, reason="SKIPPED: NW-UCLA absent (../shared/datasets)")
needs_utd = pytest.mark.skipif(utdmhad.root() is None, reason="SKIPPED: UTD-MHAD absent (../shared/datasets)")


def test_names_parse_without_the_data():
    assert nwucla.parse_name("a12_s10_e04_v03.json") == {"action": 12, "subject": 10, "repetition": 4, "view": 3,
                                                         "label": 9}
    assert utdmhad.parse_name("a27_s8_t3_skeleton.mat") == {"action": 27, "subject": 8, "trial": 3, "label": 26}
    with pytest.raises(nwucla.NwUclaFormatError):
        nwucla.parse_name("a07_s01_e00_v01.json")  # NW-UCLA has no action 7
    assert nwucla.split_of(3) == "test" and utdmhad.split_of(2) == "test" and utdmhad.split_of(7) == "train"
    # UTD's head-first order becomes the Kinect SDK's: HipCenter, Spine, ShoulderCenter, Head, then the limbs.
    assert [utdmhad.UTD_JOINT_NAMES[i] for i in utdmhad.SDK_FROM_UTD[:5]] == [
        "hip_center", "spine", "shoulder_center", "head", "left_shoulder"]


@needs_nwucla
def test_nwucla_counts_labels_and_split():
    files = nwucla.list_files()
    assert len(files) == nwucla.SEQUENCES == 1484
    assert len(nwucla.list_files(split="train")) == 1020 and len(nwucla.list_files(split="test")) == 464
    frames, labels = 0, []
    lengths = []
    for path in files:
        seq = nwucla.read_sequence(path)  # also checks the file's label against its name
        lengths.append(len(seq["joints"]))
        labels.append(seq["label"])
    frames = sum(lengths)
    assert frames == 58534 and min(lengths) == 1 and max(lengths) == 201
    assert sorted(set(labels)) == list(range(10))
    assert np.bincount(labels).tolist() == [150, 152, 141, 173, 148, 149, 142, 142, 145, 142]


@needs_utd
def test_utdmhad_counts_labels_split_and_joint_order():
    files = utdmhad.list_files()
    assert len(files) == utdmhad.SEQUENCES == 861
    names = {p.stem.removesuffix("_skeleton") for p in files}
    assert not names & set(utdmhad.MISSING)
    assert len(utdmhad.list_files(split="train")) == 431 and len(utdmhad.list_files(split="test")) == 430
    lengths = []
    for path in files:
        seq = utdmhad.read_sequence(path)
        joints = seq["joints"]
        lengths.append(len(joints))
        assert joints.shape[1:] == (20, 3)
    assert sum(lengths) == 58299 and min(lengths) == 41 and max(lengths) == 125
    # After reordering, the head (SDK 3) is the highest joint and the hip centre (SDK 0) sits between the hips.
    seq = utdmhad.read_sequence(files[0])["joints"]
    assert np.all(np.argmax(seq[:, :, 1], axis=1) == 3)
    hips = (seq[:, 12] + seq[:, 16]) / 2
    assert np.median(np.linalg.norm(seq[:, 0] - hips, axis=1)) < 0.1


@needs_nwucla
def test_nwucla_sequences_become_model_windows():
    test = nwucla.load_split("test")
    assert len(test) == 464 and test.labels.max() == 9
    windows = test.eval_windows(PreprocessConfig(frames_out=32))
    assert windows.shape == (464, 3, 32, 25, 2) and np.isfinite(windows.numpy()).all()
    assert float(windows[..., 1].abs().max()) == 0.0  # one person: body 1 is absent
    assert set(test.meta["view"].tolist()) == {3}


class _OpenRecorder:
    """Records every path opened through `open` / `io.open` (the readers use them; scipy gets the file object)."""

    def __init__(self, monkeypatch):
        self.paths = []
        real_open = builtins.open

        def recording_open(file, *args, **kwargs):
            if isinstance(file, (str, Path)):
                self.paths.append(Path(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", recording_open)
        monkeypatch.setattr(io, "open", recording_open)

    def dataset_files(self):
        out = {"train": [], "test": []}
        for path in self.paths:
            if path.suffix == ".json" and nwucla.NAME_PATTERN.search(path.stem):
                out[nwucla.split_of(nwucla.parse_name(path.name)["view"])].append(path)
            elif path.suffix == ".mat" and utdmhad.NAME_PATTERN.search(path.stem):
                out[utdmhad.split_of(utdmhad.parse_name(path.name)["subject"])].append(path)
        return out


@needs_nwucla
@needs_utd
def test_the_recorder_sees_a_test_file_being_read(monkeypatch):
    recorder = _OpenRecorder(monkeypatch)
    nwucla.read_sequence(nwucla.list_files(split="test")[0])
    utdmhad.read_sequence(utdmhad.list_files(split="test")[0])
    assert len(recorder.dataset_files()["test"]) == 2


@needs_nwucla
@needs_utd
def test_training_never_opens_a_test_split_file(monkeypatch, tmp_path):
    """A tiny run of every real-data training path (HCN, MAMP + STARS, fine-tuning) on the real training splits.
    The splits are read whole, as the recipes read them; the tiny models then train on a few sequences of each, to
    keep the test short."""
    recorder = _OpenRecorder(monkeypatch)
    few = np.arange(48)
    real.train_hcn(real.RealHcnRecipe.tiny("utd-mhad"), real.load_train("utd-mhad").subset(few))
    recipe = real.RealStarsRecipe.tiny()
    trains = {d: real.load_train(d).subset(few) for d in recipe.datasets}
    encoder, _ = real.pretrain_stars(recipe, trains)
    for dataset in recipe.datasets:
        real.fine_tune_stars(encoder, recipe, dataset, trains[dataset])
    files = recorder.dataset_files()
    assert files["test"] == [], f"training opened test-split files: {files['test'][:5]}"
    assert len(files["train"]) == 1020 + 431 + 431
