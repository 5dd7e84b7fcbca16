"""TDSM on toy data: the schedule, the denoiser's conditioning, the triplet diffusion loss, the scoring rule, and the
ONNX export against onnxruntime."""

import torch

from skelact_models import tdsm
from skelact_models.export import run_onnxruntime

CONFIG = tdsm.TdsmConfig.tiny()


def test_the_schedule_has_t_steps_and_loses_signal_monotonically():
    cumulative = tdsm.alphas_cumprod(50)
    assert cumulative.shape == (50,)
    assert (cumulative[1:] < cumulative[:-1]).all() and 0 < cumulative[-1] < cumulative[0] < 1


def test_the_untrained_denoiser_predicts_zero_and_its_condition_reaches_every_block():
    torch.manual_seed(0)
    model = tdsm.Denoiser(CONFIG)
    x = torch.randn(3, CONFIG.feature)
    args = (x, torch.tensor([1, 25, 49]), torch.randn(3, CONFIG.text_width), torch.randn(3, CONFIG.tokens, CONFIG.text_width))
    assert torch.equal(model(*args), torch.zeros(3, CONFIG.feature))
    # adaLN: once the modulation is trained, another sentence changes the output.
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    other = (args[0], args[1], torch.randn(3, CONFIG.text_width), args[3])
    assert model(*args).shape == (3, CONFIG.feature)
    assert not torch.allclose(model(*args), model(*other))


def test_the_triplet_term_counts_only_other_classes_short_of_the_margin():
    torch.manual_seed(0)
    model = tdsm.Denoiser(CONFIG)
    x0 = torch.randn(4, CONFIG.feature)
    prompt = (torch.randn(4, CONFIG.text_width), torch.randn(4, CONFIG.tokens, CONFIG.text_width))
    t, noise = torch.full((4,), 10), torch.randn(4, CONFIG.feature)
    cumulative = tdsm.alphas_cumprod(CONFIG.steps_t)
    # Untrained, both predictions are zero: the errors are equal, so each other-class pair costs the margin.
    total, diffusion, triplet = tdsm.triplet_diffusion_loss(model, x0, prompt, prompt, torch.tensor([1.0, 1, 0, 0]),
                                                            t, noise, cumulative, CONFIG)
    assert torch.isclose(diffusion, (noise ** 2).mean())
    assert torch.isclose(triplet, torch.tensor(CONFIG.margin * 2 / 4))
    assert torch.isclose(total, diffusion + triplet)


def toy_case():
    """Three classes whose features sit around different centres, each with its own random prompt."""
    torch.manual_seed(1)
    centres = torch.randn(3, CONFIG.feature) * 2
    labels = torch.arange(3).repeat_interleave(40)
    x0 = centres[labels] + 0.3 * torch.randn(len(labels), CONFIG.feature)
    sentences = torch.randn(3, CONFIG.text_width)
    tokens = torch.randn(3, CONFIG.tokens, CONFIG.text_width)
    return x0, labels, sentences, tokens


def test_a_trained_toy_denoiser_ranks_the_matching_prompt_first():
    x0, labels, sentences, tokens = toy_case()
    model, history = tdsm.train(x0, labels, sentences, tokens, [0, 1, 2], CONFIG)
    assert history[-1][0] < history[0][0]
    scores = tdsm.score_candidates(model, x0, sentences, tokens, tdsm.fixed_noises(CONFIG), CONFIG)
    assert scores.shape == (120, 3)
    assert (scores.argmin(dim=1) == labels).float().mean() > 0.9


def test_scores_of_a_batch_equal_scores_one_candidate_at_a_time():
    x0, _, sentences, tokens = toy_case()
    torch.manual_seed(0)
    model = tdsm.Denoiser(CONFIG)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    noises = tdsm.fixed_noises(CONFIG)
    batched = tdsm.score_candidates(model, x0[:5], sentences, tokens, noises, CONFIG)
    for c in range(3):
        single = tdsm.score_candidates(model, x0[:5], sentences[c:c + 1], tokens[c:c + 1], noises, CONFIG)
        torch.testing.assert_close(batched[:, c:c + 1], single, rtol=1e-5, atol=1e-6)


def test_the_export_matches_onnxruntime(tmp_path):
    torch.manual_seed(0)
    model = tdsm.Denoiser(CONFIG).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    path = tdsm.export_denoiser(model, tmp_path / "tdsm.onnx")
    inputs = {"x_t": torch.randn(5, CONFIG.feature), "t": torch.tensor([25] * 5),
              "sentence": torch.randn(5, CONFIG.text_width), "tokens": torch.randn(5, CONFIG.tokens, CONFIG.text_width)}
    got = run_onnxruntime(path, {k: v.numpy() for k, v in inputs.items()})["eps"]
    with torch.no_grad():
        expected = model(*inputs.values()).numpy()
    assert abs(got - expected).max() < 1e-4


def test_the_device_scorer_is_score_candidates_for_one_window_and_exports_with_any_candidate_count(tmp_path):
    """`WindowScorer` (what the bundle carries) gives each candidate the error `score_candidates` gives it, with the
    standardisation, noises and step inside; its ONNX export agrees with onnxruntime for 1 to 7 candidates (the
    device plans it for however many labels are typed)."""
    x0, _, sentences, tokens = toy_case()
    torch.manual_seed(0)
    model = tdsm.Denoiser(CONFIG).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    mean, std = torch.randn(CONFIG.feature), torch.rand(CONFIG.feature) + 0.5
    noises = tdsm.fixed_noises(CONFIG)
    scorer = tdsm.WindowScorer(model, mean, std, noises).eval()
    expected = tdsm.score_candidates(model, (x0[:4] - mean) / std, sentences, tokens, noises, CONFIG)
    with torch.no_grad():
        got = torch.stack([scorer(w.expand(3, -1), sentences, tokens) for w in x0[:4]])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    path = tdsm.export_scorer(scorer, tmp_path / "scorer.onnx")
    for n in (1, 3, 7):
        feeds = {"x0": torch.randn(n, CONFIG.feature), "sentence": torch.randn(n, CONFIG.text_width),
                 "tokens": torch.randn(n, CONFIG.tokens, CONFIG.text_width)}
        onnx_errors = run_onnxruntime(path, {k: v.numpy() for k, v in feeds.items()})["error"]
        with torch.no_grad():
            torch_errors = scorer(*feeds.values()).numpy()
        assert onnx_errors.shape == (n,) and abs(onnx_errors - torch_errors).max() < 1e-4
