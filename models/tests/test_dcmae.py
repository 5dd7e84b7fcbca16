"""DCMAE reconstruction: masking statistics, shapes, a training step, export parity, the missing mask."""

import numpy as np
import pytest
import torch

from skelact_models.encoders.dcmae import Dcmae, DcmaeConfig, RecExport, dcmae_mask
from skelact_models.export import export_reconstruction, run_onnxruntime
from skelact_models.preprocess import PreprocessConfig, missing_mask

torch.set_num_threads(2)
TINY = DcmaeConfig(frames=8, width=16, heads=2, mlp_hidden=32, encoder_depth=2, decoder_depth=2)


def test_masking_follows_the_paper_frames_then_joints():
    mask = dcmae_mask(64, 32, 25, 0.5, 0.4, torch.Generator().manual_seed(0))
    whole = mask.all(dim=2)
    assert (whole.sum(dim=1) == 16).all()  # M_t = 0.5 of the frames masked whole
    assert (mask[~whole].sum(dim=1) == 10).all()  # M_j = 0.4 of the joints in every other frame
    # every frame and joint gets masked somewhere: the choice is random, not fixed
    assert whole.any(dim=0).all() and mask[~whole].any(dim=0).all()


def _randomised_output(model):
    """An untrained model returns its prior exactly (zero-initialised output); tests that need it to act give the
    output layer weights."""
    torch.nn.init.normal_(model.out.weight, std=0.5)
    torch.nn.init.normal_(model.out.bias, std=0.1)
    return model


def test_shapes_and_visible_joints_pass_through_unchanged():
    torch.manual_seed(0)
    model = Dcmae(TINY).eval()
    x = torch.randn(3, 8, 25, 3)
    masked = dcmae_mask(3, 8, 25, 0.5, 0.4)
    with torch.no_grad():
        assert torch.equal(model.complete(x, masked, torch.randn_like(x)), x)  # untrained: the interpolation
        _randomised_output(model)
        encoded = model.encode(x, masked)
        pred = model.reconstruct_x0(x, torch.tensor([0, 500, 999]), encoded, masked, x)
        completed = model.complete(x, masked, torch.randn_like(x))
    assert encoded.shape == (3, 8, 25, 16) and pred.shape == x.shape
    assert torch.equal(completed[~masked], x[~masked])
    assert not torch.equal(completed[masked], x[masked])


def test_the_decoder_reads_the_filled_values_only_where_masked():
    torch.manual_seed(0)
    model = _randomised_output(Dcmae(TINY)).eval()
    x = torch.randn(2, 8, 25, 3)
    masked = dcmae_mask(2, 8, 25, 0.5, 0.4)
    encoded = model.encode(x, masked)
    t = torch.tensor([10, 10])
    with torch.no_grad():
        base = model.reconstruct_x0(torch.zeros_like(x), t, encoded, masked, x)
        moved_visible = torch.where(masked[..., None], x, x + 5.0)
        torch.testing.assert_close(model.reconstruct_x0(torch.zeros_like(x), t, encoded, masked, moved_visible), base)
        moved_masked = torch.where(masked[..., None], x + 5.0, x)
        assert not torch.allclose(model.reconstruct_x0(torch.zeros_like(x), t, encoded, masked, moved_masked), base)


def test_the_encoder_never_reads_masked_joints():
    torch.manual_seed(0)
    model = Dcmae(TINY).eval()
    x = torch.randn(2, 8, 25, 3)
    masked = dcmae_mask(2, 8, 25, 0.5, 0.4)
    changed = torch.where(masked[..., None], torch.randn_like(x) * 10, x)
    with torch.no_grad():
        torch.testing.assert_close(model.encode(x, masked), model.encode(changed, masked))


def test_training_steps_lower_the_loss():
    torch.manual_seed(0)
    model = Dcmae(TINY)
    clean = torch.randn(8, 1, 25, 3).cumsum(dim=2).expand(8, 8, 25, 3) * 0.1  # a still pose per body
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def loss_of(seed):
        g = torch.Generator().manual_seed(seed)
        masked = dcmae_mask(8, 8, 25, 0.5, 0.4, g)
        filled = torch.where(masked[..., None], clean[:, :, :1].mean(dim=2, keepdim=True), clean)  # a poor fill
        return model.loss(clean, filled, masked, g)

    with torch.no_grad():
        before = np.mean([float(loss_of(s)) for s in range(4)])
    for step in range(30):
        loss = loss_of(100 + step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = np.mean([float(loss_of(s)) for s in range(4)])
    assert after < 0.7 * before


def test_export_matches_onnxruntime(tmp_path):
    torch.manual_seed(0)
    model = _randomised_output(Dcmae(TINY)).eval()
    path = export_reconstruction(model, tmp_path / "rec.onnx")
    import onnx

    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["joint", "missing"]
    assert [o.name for o in proto.graph.output] == ["completed"]
    rng = np.random.default_rng(1)
    joint = (rng.standard_normal((1, 3, 8, 25, 2)) * 0.3).astype(np.float32)
    joint[..., 1] = 0
    missing = (rng.random((1, 1, 8, 25, 2)) < 0.2).astype(np.float32)
    missing[..., 1] = 0
    got = run_onnxruntime(path, {"joint": joint, "missing": missing})["completed"]
    with torch.no_grad():
        want = RecExport(model)(torch.from_numpy(joint), torch.from_numpy(missing)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
    keep = np.broadcast_to(missing == 0, joint.shape)
    assert np.array_equal(got[keep], joint[keep])  # the absent partner stays zeros, visible joints untouched
    assert np.abs(got[~keep] - joint[~keep]).max() > 1e-3


def _window(frames=20):
    rng = np.random.default_rng(3)
    present = np.zeros((2, frames), bool)
    present[0] = True
    joints = np.zeros((2, frames, 25, 3), np.float32)
    joints[0] = rng.standard_normal((frames, 25, 3)).astype(np.float32) * 0.2
    valid = np.zeros((2, frames, 25), bool)
    valid[0] = True
    return present, joints, valid


def test_missing_mask_marks_what_a_lost_sample_feeds():
    present, joints, valid = _window()
    config = PreprocessConfig(frames_out=20, crop_ratio=1.0)
    mask, fraction = missing_mask(present, joints, valid, config)
    assert mask.shape == (1, 20, 25, 2) and fraction == 0.0
    valid[0, 7, 5] = False  # one sample lost; identity resize keeps it in one model frame
    mask, fraction = missing_mask(present, joints, valid, config)
    assert mask[0, 7, 5, 0] == 1 and mask.sum() == 1
    assert fraction == pytest.approx(1 / (20 * 25))
    # downsampled 20 -> 10: every output frame mixes two source frames, the lost one feeds exactly one
    mask, _ = missing_mask(present, joints, valid, PreprocessConfig(frames_out=10, crop_ratio=1.0))
    assert mask.sum() == 1 and mask[0, 3, 5, 0] == 1
    # a joint the layout never provides is filled from its parent and not counted
    valid[0, :, 22] = False
    provided = np.ones(25, bool)
    provided[22] = False
    assert missing_mask(present, joints, valid, config, provided)[0].sum() == 1
    assert missing_mask(present, joints, valid, config)[0].sum() == 21
