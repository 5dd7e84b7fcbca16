"""AC-SAR on toy data: the CTR-GCN graph, the encoder's shapes and its handling of a missing partner, FiLM, each
loss on a toy batch, the stratified labelled subset, fusion, and the ONNX export against onnxruntime."""

import numpy as np
import pytest
import torch

from skelact_models import acsar
from skelact_models.encoders.acsar import AcSarConfig, AcSarEncoder, ntu_adjacency
from skelact_models.encoders.transformer import explicit_attention
from skelact_models.export import export_onnx, run_onnxruntime

CONFIG = AcSarConfig.tiny()


def windows(n, second_body=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 3, CONFIG.frames, 25, 2)
    x[..., 0] = torch.randn(n, 3, CONFIG.frames, 25, generator=g)
    if second_body:
        x[..., 1] = torch.randn(n, 3, CONFIG.frames, 25, generator=g)
    return x


def test_the_graph_has_24_edges_each_way_and_normalised_subsets():
    a = ntu_adjacency()
    assert a.shape == (3, 25, 25)
    assert torch.equal(a[0], torch.eye(25))
    assert int((a[1] > 0).sum()) == 24 and int((a[2] > 0).sum()) == 24
    # each column of a subset (a joint's contributions) sums to one where it has neighbours
    for subset in a[1:]:
        sums = subset.sum(dim=0)
        assert torch.allclose(sums[sums > 0], torch.ones_like(sums[sums > 0]))


def test_the_encoder_embeds_both_branches_and_ignores_an_absent_partner():
    torch.manual_seed(0)
    encoder = AcSarEncoder(CONFIG).eval()
    x = windows(3)
    with torch.no_grad():
        z = encoder(x)
        spatial, temporal = encoder.branches(x)
        assert z.shape == (3, CONFIG.width) and torch.equal(z, torch.cat([spatial, temporal], dim=1))
        # The export computes both bodies and masks the absent one: the same embedding.
        explicit_attention(encoder, True)
        assert encoder.exporting and torch.allclose(encoder(x), z, atol=1e-5)
        explicit_attention(encoder, False)
        # A second body changes it.
        assert not torch.allclose(encoder(windows(3, second_body=True)), z)


def test_film_starts_as_the_identity_and_modulates_every_pair():
    film = acsar.Film(text_dim=6, width=4)
    h, e = torch.randn(5, 4), torch.randn(3, 6)
    out = film(h, e)
    assert out.shape == (5, 3, 4)
    assert torch.equal(out, h[:, None].expand(5, 3, 4))
    torch.nn.init.normal_(film.generator.weight)
    out = film(h, e)
    assert not torch.allclose(out[:, 0], out[:, 1])  # another text, another modulation


def test_info_nce_is_low_for_a_matching_key_and_high_for_a_queue_twin():
    q = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
    queue = torch.nn.functional.normalize(torch.randn(16, 8), dim=1)
    matched = acsar.info_nce(q, q, queue, 0.1)
    mismatched = acsar.info_nce(q, q.roll(1, dims=0), torch.cat([queue, q]), 0.1)
    assert matched < 0.5 < mismatched


def test_each_loss_of_a_toy_batch_is_finite_and_the_alignment_skips_unlabelled_windows():
    torch.manual_seed(0)
    recipe = acsar.AcSarRecipe.tiny()
    model = acsar.AcSarPretrainer(recipe, text_dim=6).train()
    texts = torch.randn(3, 6)
    x = windows(4)
    cross, align = model.losses(x, x + 0.01, torch.tensor([0, 1, 2, -1]), texts)
    assert torch.isfinite(cross) and cross > 0 and torch.isfinite(align) and align > 0
    # The keys of the batch entered both queues.
    assert int(model.queue_pointer) == 4
    cross, align = model.losses(x, x, torch.full((4,), -1), texts)
    assert float(align) == 0.0 and torch.isfinite(cross)


def test_the_key_encoder_follows_the_query_encoder_by_momentum():
    recipe = acsar.AcSarRecipe.tiny()
    model = acsar.AcSarPretrainer(recipe, text_dim=6)
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(1.0)
    before = next(model.key_encoder.parameters()).clone()
    model.momentum_update()
    after = next(model.key_encoder.parameters())
    query = next(model.encoder.parameters())
    assert torch.allclose(after, recipe.momentum * before + (1 - recipe.momentum) * query)


def test_the_labelled_subset_is_stratified_with_at_least_one_per_class():
    labels = np.repeat(np.arange(5), [40, 40, 40, 3, 1])
    chosen = acsar.labelled_subset(labels, 0.1, seed=0)
    counts = np.bincount(labels[chosen], minlength=5)
    assert counts.tolist() == [4, 4, 4, 1, 1]
    assert len(set(chosen.tolist())) == len(chosen)


def test_fusion_is_the_mean_of_the_softmaxes():
    a, b = np.array([[np.log(3.0), 0.0]]), np.array([[0.0, 0.0]])
    assert np.allclose(acsar.fuse([a, b]), [[0.625, 0.375]])
    assert np.allclose(acsar.fuse([a, b], [1.0, 0.0]), [[0.75, 0.25]])


def test_the_pretraining_loss_falls_on_a_toy_set():
    from skelact_models.data.windows import SequenceSet

    rng = np.random.default_rng(0)
    base = rng.normal(size=(3, 3, 40, 25, 1)).astype(np.float32)
    sequences = [np.concatenate([base[c] + 0.05 * rng.normal(size=base[c].shape).astype(np.float32),
                                 np.zeros_like(base[c])], axis=-1) for c in range(3) for _ in range(8)]
    data = SequenceSet(sequences, np.repeat(np.arange(3), 8))
    recipe = acsar.AcSarRecipe.tiny()
    from dataclasses import replace

    recipe = replace(recipe, epochs=6, batch_size=12, lr=3e-3)
    _, history = acsar.pretrain(data, recipe, torch.randn(3, 6))
    assert history["alignment"][-1] < history["alignment"][0]


@pytest.mark.parametrize("stream", ["joint", "bone", "motion"])
def test_the_export_matches_onnxruntime(tmp_path, stream):
    torch.manual_seed(0)
    encoder = AcSarEncoder(CONFIG).eval()
    head = torch.nn.Linear(CONFIG.width, 4)
    x = acsar.STREAMS[stream](windows(1))
    path = export_onnx(encoder, tmp_path / f"{stream}.onnx", ["window"], [x], head=None)
    got = run_onnxruntime(path, {"window": x.numpy()})
    with torch.no_grad():
        ref = encoder(x)
    out = next(iter(got.values()))
    assert np.abs(out - ref.numpy()).max() < 1e-4
    assert head(torch.from_numpy(out)).shape == (1, 4)


def test_a_labelled_fraction_is_fine_tuned_for_as_many_steps_as_the_whole_split():
    recipe = acsar.AcSarRecipe()
    assert acsar.fine_tune_epochs(recipe, 431, 431) == recipe.fine_tune_epochs
    # 431 sequences in batches of 32: 13 steps an epoch; 54 sequences: 1 step.
    assert acsar.fine_tune_epochs(recipe, 54, 431) == 13 * recipe.fine_tune_epochs
