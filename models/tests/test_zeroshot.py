"""The zero-shot protocol's splits and the embedding-similarity baseline on a toy case."""

import torch
import torch.nn.functional as F

from skelact_models import zeroshot


def test_splits_are_seeded_and_hold_out_distinct_classes():
    splits = zeroshot.unseen_splits(27)
    assert splits == zeroshot.unseen_splits(27)
    assert len(splits) == zeroshot.SPLITS and len({tuple(s) for s in splits}) == zeroshot.SPLITS
    assert all(len(set(s)) == 5 and all(0 <= c < 27 for c in s) for s in splits)


def test_the_projection_maps_a_class_onto_its_own_text():
    torch.manual_seed(0)
    classes, dim = 6, 16
    centres = torch.randn(classes, dim) * 3
    y = torch.arange(classes).repeat_interleave(20)
    x = centres[y] + torch.randn(len(y), dim)
    texts = torch.randn(classes, 24)
    seen = [0, 1, 2, 3, 4, 5]
    projection = zeroshot.train_projection(x, y, texts, seen)
    with torch.no_grad():
        choice = (F.normalize(projection(x), dim=1) @ F.normalize(texts, dim=1).T).argmax(dim=1)
    assert (choice == y).float().mean() > 0.95
