"""Encoders, MAMP masking, training steps, ONNX export parity."""

import numpy as np
import pytest
import torch

from skelact_models.data.windows import SequenceSet
from skelact_models.encoders.hcn import Hcn, HcnConfig
from skelact_models.encoders.transformer import SkeletonTransformer, TransformerConfig, explicit_attention
from skelact_models.export import export_hcn, export_transformer, operator_types, run_onnxruntime
from skelact_models.preprocess import motion_stream
from skelact_models.train.evaluate import few_shot, fine_tune, knn_predict, linear_probe
from skelact_models.train.mamp import MampPretrainer, motion_aware_mask, motion_target
from skelact_models.train.stars import NnclrHead, StarsConfig, encode_tuned, parameter_groups

torch.set_num_threads(2)
TINY = TransformerConfig(frames=16, width=16, depth=2, heads=2, mlp_hidden=32, decoder_width=16, decoder_depth=2,
                         decoder_heads=2)


def windows(n=4, frames=16, seed=0, partner=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, frames, 25, 2, generator=g).cumsum(dim=2) * 0.05
    if not partner:
        x[..., 1] = 0
    return x


def test_paper_and_small_configurations():
    paper = TransformerConfig.paper()
    assert (paper.frames, paper.depth, paper.width, paper.heads, paper.mlp_hidden) == (120, 8, 256, 8, 1024)
    assert paper.decoder_depth == 5 and paper.segment == 4
    small = TransformerConfig.small()
    assert small.frames == 64 and small.depth <= 4 and small.width <= 128
    encoder = SkeletonTransformer(small)
    assert encoder(windows(2, 64)).shape == (2, small.width)


def test_tokens_are_segments_of_l_frames():
    x = torch.zeros(1, 3, 16, 25, 2)
    x[0, :, 4:8, 3, 0] = 1.0  # one joint moves in the second segment only
    target = motion_target(x, TINY)
    assert target.shape == (2, 4 * 25, 12)
    moving = (target[0].abs().sum(dim=1) > 0).nonzero().squeeze(1).tolist()
    # stride-l motion of frames 4..7 shows in the segments before (0) and of (1) the change
    assert set(moving) == {0 * 25 + 3, 1 * 25 + 3}


def test_motion_aware_masking_statistics():
    g = torch.Generator().manual_seed(0)
    target = torch.zeros(64, 100, 12)
    target[:, :10] = 1.0  # ten tokens move a lot
    ids_keep, ids_restore, mask = motion_aware_mask(target, 0.9, 0.75, g)
    assert mask.shape == (64, 100)
    assert torch.all(mask.sum(dim=1) == 90)
    assert ids_keep.shape == (64, 10)
    assert torch.all(mask.gather(1, ids_keep) == 0)
    # moving tokens are masked far more often than still ones
    assert mask[:, :10].mean() > 0.99 and mask[:, 10:].mean() < 0.9
    # with uniform motion the masking is uniform
    _, _, flat = motion_aware_mask(torch.zeros(512, 100, 12), 0.9, 0.75, g)
    per_token = flat.mean(dim=0)
    assert abs(per_token.mean() - 0.9) < 1e-6 and per_token.min() > 0.8


def _steps(loss_fn, params, steps=30, lr=3e-3):
    optimizer = torch.optim.Adam(params, lr=lr)
    losses = []
    for _ in range(steps):
        loss = loss_fn()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def test_mamp_loss_decreases():
    torch.manual_seed(0)
    model = MampPretrainer(TINY)
    x = windows(8, partner=True)
    g = torch.Generator().manual_seed(1)
    losses = _steps(lambda: model(x, 0.9, 0.75, g), model.parameters())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def test_stars_tuning_loss_decreases_and_freezes_the_first_half():
    torch.manual_seed(0)
    encoder = SkeletonTransformer(TINY)
    frozen_before = [p.clone() for p in encoder.blocks[0].parameters()]
    config = StarsConfig(queue_size=16, projector_hidden=32, predictor_hidden=32, out_dim=16)
    head = NnclrHead(encoder.width, config, torch.Generator().manual_seed(0))
    groups, first_tuned = parameter_groups(encoder, head, config)
    assert first_tuned == 1
    scales = sorted({g["scale"] for g in groups})
    assert scales == [1.0]  # depth 2: the only tuned block is the last one
    optimizer = torch.optim.AdamW(groups, lr=3e-3, betas=(0.9, 0.95))
    x1, x2 = windows(8, seed=1), windows(8, seed=1) + 0.01 * windows(8, seed=2)
    losses = []
    for _ in range(25):
        loss = head.loss(encode_tuned(encoder, x1, first_tuned), encode_tuned(encoder, x2, first_tuned))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    for before, after in zip(frozen_before, encoder.blocks[0].parameters()):
        assert torch.equal(before, after)


def test_layer_decay_scales():
    config = TransformerConfig(frames=16, width=16, depth=4, heads=2, mlp_hidden=32)
    encoder = SkeletonTransformer(config)
    head = NnclrHead(16, StarsConfig(queue_size=8, projector_hidden=16, predictor_hidden=16, out_dim=8))
    groups, first = parameter_groups(encoder, head, StarsConfig(layer_decay=0.2))
    assert first == 2
    assert sorted({round(g["scale"], 6) for g in groups}) == [0.2, 1.0]
    assert not any(p.requires_grad for p in encoder.blocks[1].parameters())
    assert not encoder.joint_embed.weight.requires_grad


def test_empty_partner_is_skipped_and_pooled_out_consistently():
    torch.manual_seed(0)
    encoder = SkeletonTransformer(TINY).eval()
    x = torch.cat([windows(2), windows(2, seed=3, partner=True)])
    with torch.no_grad():
        fast = encoder(x)
        explicit_attention(encoder, True)
        full = encoder(x)
        explicit_attention(encoder, False)
        single = encoder(x[:1, :, :, :, :1].expand(1, 3, 16, 25, 1).contiguous().repeat(1, 1, 1, 1, 2) *
                         torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(single, fast[:1], atol=1e-5, rtol=1e-5)
    # the empty body does not dilute the embedding: same as the body's own features
    with torch.no_grad():
        own = encoder.norm(encoder.run_blocks(encoder.embed_bodies(x[:1, :, :, :, 0].permute(0, 2, 3, 1)))).mean(1)
    torch.testing.assert_close(fast[:1], own, atol=1e-5, rtol=1e-5)


def test_hcn_forward_and_supervised_loss_decreases():
    torch.manual_seed(0)
    config = HcnConfig.tiny()
    model = Hcn(config, classes=3)
    x = windows(6, frames=config.frames, partner=True)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    x = x + y[:, None, None, None, None] * 0.5
    assert model(x, motion_stream(x)).shape == (6, config.embedding)
    losses = _steps(lambda: torch.nn.functional.cross_entropy(model.classify(x, motion_stream(x)), y),
                    model.parameters(), steps=20, lr=1e-3)
    assert np.mean(losses[-3:]) < np.mean(losses[:3])


def test_fine_tune_runs_on_sequences():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(3, 30, 25, 2)).astype(np.float32) for _ in range(8)]
    for s in seqs:
        s[..., 1] = 0
    data = SequenceSet(seqs, [0, 1] * 4)
    encoder = SkeletonTransformer(TINY)
    head = torch.nn.Linear(16, 2)
    history = fine_tune(encoder, head, data, 16, epochs=2, batch_size=4, log_every=0)
    assert len(history) == 2 and all(np.isfinite(history))


def test_knn_few_shot_and_linear_probe_on_separable_features():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 5
    labels = np.repeat(np.arange(3), 20)
    feats = torch.tensor(centres[labels] + rng.normal(size=(60, 8)), dtype=torch.float32)
    assert (knn_predict(feats[::2], labels[::2], feats[1::2]).numpy() == labels[1::2]).mean() > 0.9
    mean, std = few_shot(feats[::2], labels[::2], feats[1::2], labels[1::2], shots=3, episodes=4)
    assert mean > 0.85
    head = linear_probe(feats, labels, 3, epochs=100)
    assert isinstance(head, torch.nn.Linear)
    assert (head(feats).argmax(1).numpy() == labels).mean() > 0.95


SUPPORTED_BY_TRACT = {"Abs", "Add", "Cast", "Clip", "Concat", "Constant", "Conv", "Div", "Erf", "Flatten", "Gather",
                      "Gemm", "Greater", "LayerNormalization", "MatMul", "Max", "MaxPool", "Mul", "ReduceMax",
                      "ReduceMean", "ReduceSum", "Relu", "Reshape", "Shape", "Slice", "Softmax", "Split", "Sub",
                      "Transpose", "Unsqueeze", "Squeeze", "Where", "Sqrt", "Pow", "Identity"}


def test_transformer_exports_and_onnxruntime_matches(tmp_path):
    torch.manual_seed(0)
    encoder = SkeletonTransformer(TINY).eval()
    head = torch.nn.Linear(16, 5).eval()
    path = export_transformer(encoder, tmp_path / "t.onnx", "joint", head, metadata={"skelact.classes": "[]"})
    assert set(operator_types(path)) <= SUPPORTED_BY_TRACT
    import onnx
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version >= 17
    assert [i.name for i in proto.graph.input] == ["joint"]
    assert [o.name for o in proto.graph.output] == ["embedding", "logits"]
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 16, 25, 2]
    for x in (windows(1), windows(1, seed=4, partner=True)):
        got = run_onnxruntime(path, {"joint": x.numpy()})
        with torch.no_grad():
            emb = encoder(x)
            logits = head(emb)
        np.testing.assert_allclose(got["embedding"], emb.numpy(), atol=1e-4)
        np.testing.assert_allclose(got["logits"], logits.numpy(), atol=1e-4)
    # embeddings only, for another stream
    path2 = export_transformer(encoder, tmp_path / "bone.onnx", "bone")
    assert [o.name for o in onnx.load(str(path2)).graph.output] == ["embedding"]


def test_hcn_exports_and_onnxruntime_matches(tmp_path):
    torch.manual_seed(0)
    config = HcnConfig.tiny()
    model = Hcn(config, classes=4).eval()
    path = export_hcn(model, tmp_path / "hcn.onnx")
    assert set(operator_types(path)) <= SUPPORTED_BY_TRACT
    x = windows(1, frames=config.frames, partner=True)
    got = run_onnxruntime(path, {"joint": x.numpy(), "motion": motion_stream(x).numpy()})
    with torch.no_grad():
        emb = model(x, motion_stream(x))
        logits = model.fc8(emb)
    np.testing.assert_allclose(got["embedding"], emb.numpy(), atol=1e-4)
    np.testing.assert_allclose(got["logits"], logits.numpy(), atol=1e-4)


def _masked_full_attention(block, x, allowed):
    """Reference for factorised attention: full attention over every token with the pairs outside `allowed`
    masked to -inf, written out independently of `Block.attend`."""
    attn = block.attn
    batch, tokens, width = x.shape
    qkv = attn.qkv(x).reshape(batch, tokens, 3, attn.heads, width // attn.heads).permute(2, 0, 3, 1, 4)
    scores = (qkv[0] * attn.scale) @ qkv[1].transpose(-2, -1)
    scores = scores.masked_fill(~allowed, float("-inf"))
    out = torch.softmax(scores, dim=-1) @ qkv[2]
    return attn.proj(out.transpose(1, 2).reshape(batch, tokens, width))


def test_factorised_attention_is_full_attention_restricted_to_a_joint_or_a_segment():
    config = TransformerConfig(**{**TINY.to_dict(), "attention": "factorised"})
    torch.manual_seed(3)
    encoder = SkeletonTransformer(config).eval()
    assert [b.axis for b in encoder.blocks] == ["joints", "segments"]
    segment_of = torch.arange(config.tokens) // config.joints  # tokens are segment-major
    joint_of = torch.arange(config.tokens) % config.joints
    tokens = encoder.embed(windows(2))
    with torch.no_grad():
        for block, key in zip(encoder.blocks, (segment_of, joint_of)):
            allowed = key[:, None] == key[None, :]
            want = _masked_full_attention(block, tokens, allowed)
            torch.testing.assert_close(block.attend(tokens), want, atol=1e-5, rtol=1e-5)
            explicit_attention(block)
            torch.testing.assert_close(block.attend(tokens), want, atol=1e-5, rtol=1e-5)
            explicit_attention(block, False)


def test_factorised_transformer_exports_and_costs_less(tmp_path):
    from skelact_models.encoders.transformer import flops_per_window

    config = TransformerConfig(**{**TINY.to_dict(), "attention": "factorised"})
    torch.manual_seed(0)
    encoder = SkeletonTransformer(config).eval()
    path = export_transformer(encoder, tmp_path / "f.onnx", "joint")
    assert set(operator_types(path)) <= SUPPORTED_BY_TRACT
    for x in (windows(1), windows(1, seed=5, partner=True)):
        with torch.no_grad():
            want = encoder(x).numpy()
        np.testing.assert_allclose(run_onnxruntime(path, {"joint": x.numpy()})["embedding"], want, atol=1e-4)
    assert flops_per_window(config) < flops_per_window(TINY)


def test_mamp_refuses_factorised_attention():
    from skelact_models.train.mamp import MampConfig, pretrain

    config = TransformerConfig(**{**TINY.to_dict(), "attention": "factorised"})
    data = SequenceSet([np.zeros((3, 16, 25, 2), np.float32)], np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="only full attention"):
        pretrain(data, config, MampConfig(epochs=1))


@pytest.mark.parametrize("bad", [dict(frames=18), dict(width=10, heads=4), dict(attention="axial")])
def test_invalid_configs_are_refused(bad):
    with pytest.raises(ValueError):
        TransformerConfig(**{**TINY.to_dict(), **bad})
