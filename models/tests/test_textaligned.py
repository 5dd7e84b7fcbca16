"""The text-aligned HCN (labels typed on the device): its embedding, its head, its checkpoint, its figures."""

import numpy as np
import torch
import torch.nn.functional as F

from skelact_models import real, textaligned, zeroshot
from skelact_models.data.windows import SequenceSet
from skelact_models.encoders.hcn import Hcn, HcnConfig
from skelact_models.recipes import load_encoder


def tiny_payload(classes=4, text_dim=12):
    torch.manual_seed(0)
    config = HcnConfig.tiny()
    hcn = Hcn(config, classes)
    projection = torch.nn.Linear(hcn.width, text_dim)
    return {"format": textaligned.FORMAT, "version": 1, "model": config.to_dict(), "state": hcn.state_dict(),
            "classes": [f"c{i}" for i in range(classes)], "mean": torch.zeros(hcn.width),
            "std": torch.ones(hcn.width), "projection": projection.state_dict(),
            "projection_shape": [hcn.width, text_dim], "text_embeddings": torch.randn(classes, text_dim) * 5,
            "temperature": zeroshot.TEMPERATURE}


def test_the_embedding_is_unit_length_in_the_text_space_and_the_head_is_cosine_over_temperature(tmp_path):
    payload = tiny_payload()
    torch.save(payload, tmp_path / "hcn_text.pt")
    encoder, head, loaded = load_encoder(tmp_path / "hcn_text.pt")
    assert loaded["encoder_family"] == "Hcn" and encoder.width == 12
    x = torch.randn(3, 3, 32, 25, 2)
    z = encoder(x)
    assert z.shape == (3, 12)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(3))
    texts = F.normalize(payload["text_embeddings"], dim=1)
    torch.testing.assert_close(head(z), z @ texts.T / zeroshot.TEMPERATURE)
    # A typed prompt's row on the same scale: its logit compares with the trained classes' logits.
    assert torch.allclose(head.weight.norm(dim=1), torch.full((4,), 1 / zeroshot.TEMPERATURE))
    assert not head.bias.any()


def test_seen_subset_keeps_only_seen_classes_relabelled():
    data = SequenceSet([np.zeros((3, 4, 25, 2), np.float32)] * 5, [0, 3, 1, 3, 2], class_names=())
    part = textaligned.seen_subset(data, ["a", "b", "c", "d"], ["b", "d"])
    assert part.labels.tolist() == [1, 0, 1]


def test_zero_shot_figures_on_a_toy_case():
    texts = torch.eye(4)
    z = F.normalize(torch.tensor([[1.0, 0.1, 0, 0], [0, 1, 0, 0], [0, 0.9, 0.5, 0], [0, 0, 0.2, 1]]), dim=1)
    labels = [0, 1, 2, 3]
    figures = textaligned.zero_shot_scores(z, labels, texts, held_out=[2, 3])
    # Among the held-out names both are right; when all compete, the third window goes to seen class 1.
    assert figures["zsl"] == 1.0
    assert figures["gzsl_seen"] == 1.0 and figures["gzsl_unseen"] == 0.5
    assert abs(figures["gzsl_harmonic"] - 2 / 3) < 1e-6
    assert (figures["seen_windows"], figures["unseen_windows"]) == (2, 2)


def test_held_out_names_are_utd_classes_and_the_protocols_second_split():
    names = real.classes("utd-mhad")
    assert all(n in names for n in textaligned.HELD_OUT)
    assert sorted(names.index(n) for n in textaligned.HELD_OUT) == sorted(zeroshot.unseen_splits(len(names))[1])


def test_gamma_lowers_every_seen_row_alike_and_comes_from_seen_margins():
    texts = torch.eye(3)
    head = textaligned.text_head(texts, 0.1, gamma=0.2)
    z = F.normalize(torch.tensor([[1.0, 0.5, 0.0]]), dim=1)
    # The trained classes' own softmax is unchanged by the shared shift.
    torch.testing.assert_close(head(z).softmax(dim=1), textaligned.text_head(texts, 0.1)(z).softmax(dim=1))
    torch.testing.assert_close(head.bias, torch.full((3,), -2.0))
    # Margins best - second of four windows: 0.5, 0.5, 0.1, 0.9; the 5th percentile is near the smallest.
    z = torch.tensor([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.5, 0.6], [0.0, 0.0, 0.9]])
    gamma = textaligned.calibrate_gamma(z, texts)
    assert 0.1 <= gamma < 0.2
