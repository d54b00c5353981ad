"""GCL loss: hand-computed values, reduction to CLIP/InfoNCE, gradients, masking, extra negatives."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss

from gcl_search.errors import ConfigError
from gcl_search.losses import GCLLoss, ScoreToWeight, fit_score_range, fuse_fields


def softplus(x: float) -> float:
    return math.log(1.0 + math.exp(x))


# q1=(1,0) q2=(0,1); d1=(1,0) d2=(0.6,0.8); scale 2 -> z11=2, z12=1.2, z21=0, z22=1.6
Q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
D = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
SCORES = torch.tensor([3.0, 1.0])
LINEAR = ScoreToWeight("linear", w_min=0.1, score_min=1.0, score_max=3.0)  # w = (1.0, 0.1)


def fixed_loss(**kwargs) -> GCLLoss:
    kwargs.setdefault("weighting", LINEAR)
    return GCLLoss(temperature=0.5, learnable_temperature=False, **kwargs)


def test_hand_computed_value_on_two_rows():
    # per-row CE: row1 softplus(1.2-2), row2 softplus(0-1.6)
    # per-column CE: col1 softplus(0-2), col2 softplus(1.2-1.6)
    w1, w2 = 1.0, 0.1
    rows = w1 * softplus(-0.8) + w2 * softplus(-1.6)
    cols = w1 * softplus(-2.0) + w2 * softplus(-0.4)
    expected = 0.5 * (rows + cols) / (w1 + w2)
    got = fixed_loss().compute_loss(Q, D, SCORES)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_normalisers_scale_the_same_weighted_sum():
    total = fixed_loss(normaliser="none").compute_loss(Q, D, SCORES).item()
    assert fixed_loss(normaliser="batch").compute_loss(Q, D, SCORES).item() == pytest.approx(total / 2)
    assert fixed_loss(normaliser="weight_sum").compute_loss(Q, D, SCORES).item() == pytest.approx(total / 1.1)


def test_asymmetric_is_query_to_doc_only():
    expected = (1.0 * softplus(-0.8) + 0.1 * softplus(-1.6)) / 1.1
    assert fixed_loss(symmetric=False).compute_loss(Q, D, SCORES).item() == pytest.approx(expected, rel=1e-6)


def test_masking_known_positive_removes_it_from_both_directions():
    known = torch.tensor([[False, True], [False, False]])  # doc 2 is also relevant to query 1
    # row 1 keeps only its diagonal (CE 0); column 2 (doc 2) loses query 1, so its CE is 0 too
    expected = 0.5 * (1.0 * softplus(-2.0) + 0.1 * softplus(-1.6)) / 1.1
    masked = fixed_loss().compute_loss(Q, D, SCORES, known_positive=known)
    unmasked = fixed_loss(mask_known_positives=False).compute_loss(Q, D, SCORES, known_positive=known)
    assert masked.item() == pytest.approx(expected, rel=1e-6)
    assert unmasked.item() == pytest.approx(fixed_loss().compute_loss(Q, D, SCORES).item())
    assert masked.item() < unmasked.item()


def test_diagonal_is_never_masked():
    known = torch.ones(2, 2, dtype=torch.bool)
    loss = fixed_loss().compute_loss(Q, D, SCORES, known_positive=known)
    assert loss.item() == pytest.approx(0.0, abs=1e-7)


def test_extra_negatives_shared_and_own():
    neg = torch.tensor([[0.0, 1.0]])  # z1n = 0, z2n = 2; owned by row 2
    owner = torch.tensor([1])
    r1_shared = math.log(math.exp(2) + math.exp(1.2) + math.exp(0)) - 2
    r2 = math.log(math.exp(0) + math.exp(1.6) + math.exp(2)) - 1.6
    cols = 1.0 * softplus(-2.0), 0.1 * softplus(-0.4)
    shared = fixed_loss().compute_loss(Q, D, SCORES, negative_emb=neg, negative_owner=owner)
    assert shared.item() == pytest.approx(0.5 * (1.0 * r1_shared + 0.1 * r2 + sum(cols)) / 1.1, rel=1e-6)
    own = fixed_loss(negative_scope="own").compute_loss(Q, D, SCORES, negative_emb=neg, negative_owner=owner)
    assert own.item() == pytest.approx(0.5 * (1.0 * softplus(-0.8) + 0.1 * r2 + sum(cols)) / 1.1, rel=1e-6)


@pytest.mark.parametrize("normaliser", ["weight_sum", "batch"])
def test_binary_without_masking_equals_open_clip_loss(normaliser):
    torch.manual_seed(0)
    q, d = F.normalize(torch.randn(8, 16), dim=-1), F.normalize(torch.randn(8, 16), dim=-1)
    scores = torch.rand(8) * 3
    loss_fn = GCLLoss(
        weighting=ScoreToWeight("binary"), temperature=0.07, normaliser=normaliser, mask_known_positives=False
    )
    expected = ClipLoss()(q, d, logit_scale=torch.tensor(1 / 0.07))
    assert loss_fn.compute_loss(q, d, scores).item() == pytest.approx(expected.item(), rel=1e-5)


def test_gradients_are_finite_including_temperature():
    torch.manual_seed(1)
    q = torch.randn(6, 8, requires_grad=True)
    fields = {"title": torch.randn(6, 8, requires_grad=True), "image": torch.randn(6, 8, requires_grad=True)}
    loss_fn = GCLLoss(
        weighting=ScoreToWeight("power", score_min=0, score_max=3),
        doc_field_weights={"title": 0.1, "image": 0.9},
    )
    known = torch.zeros(6, 6, dtype=torch.bool)
    known[0, 3] = known[3, 0] = True
    loss = loss_fn.compute_loss(q, fields, torch.tensor([3.0, 2, 1, 3, 0.5, 2]), known_positive=known)
    loss.backward()
    for grad in (q.grad, fields["title"].grad, fields["image"].grad, loss_fn.log_logit_scale.grad):
        assert grad is not None and torch.isfinite(grad).all()
    assert loss_fn.log_logit_scale.grad.abs() > 0


def test_fuse_fields_renormalises_over_present_fields():
    title = torch.tensor([[3.0, 0.0], [0.0, 2.0]])
    image = torch.tensor([[0.0, 4.0], [0.0, 0.0]])  # row 2 has no image
    fused = fuse_fields({"title": title, "image": image}, {"title": 0.1, "image": 0.9})
    expected_row1 = F.normalize(torch.tensor([0.1, 0.9]), dim=0)
    assert torch.allclose(fused[0], expected_row1)
    assert torch.allclose(fused[1], torch.tensor([0.0, 1.0]))
    with pytest.raises(ConfigError, match="no weight"):
        fuse_fields({"brand": title}, {"title": 1.0})


def test_learnable_temperature_is_a_parameter_and_fixed_is_not():
    learn = GCLLoss(temperature=0.05)
    assert [p for p in learn.parameters()] == [learn.log_logit_scale]
    assert learn.logit_scale.item() == pytest.approx(20.0)
    assert list(GCLLoss(learnable_temperature=False).parameters()) == []


def test_bf16_autocast_on_cpu_matches_fp32():
    torch.manual_seed(2)
    q, d = torch.randn(8, 32), torch.randn(8, 32)
    scores = torch.rand(8) * 3
    loss_fn = GCLLoss(weighting=ScoreToWeight("linear", score_min=0, score_max=3))
    full = loss_fn.compute_loss(q, d, scores)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = loss_fn.compute_loss(q, d, scores)
    assert half.dtype == torch.float32
    assert half.item() == pytest.approx(full.item(), rel=2e-2)


@pytest.mark.parametrize(
    ("name", "extra", "expected"),
    [
        ("binary", {}, [1.0, 1.0, 1.0]),
        ("linear", {}, [0.1, 0.55, 1.0]),  # 0.1 + 0.9 * x for x = 0, .5, 1
        ("power", {"power": 2.0}, [0.1, 0.325, 1.0]),  # 0.1 + 0.9 * x^2
        ("exponential", {"rate": 2.0}, [math.exp(-2), math.exp(-1), 1.0]),
        ("reciprocal", {"step": 1.0}, [1 / 3, 1 / 2, 1.0]),  # 1 / (1 + (3 - s))
    ],
)
def test_score_to_weight_functions(name, extra, expected):
    g = ScoreToWeight(name, w_min=0.1, score_min=1.0, score_max=3.0, **extra)
    got = g(torch.tensor([1.0, 2.0, 3.0]))
    assert got.tolist() == pytest.approx(expected, rel=1e-6)


def test_reciprocal_equals_one_over_position_for_linear_rank_scores():
    positions = torch.arange(1, 101).float()
    g = ScoreToWeight("reciprocal", w_min=0.001, score_min=1.0, score_max=100.0)
    assert torch.allclose(g(101 - positions), 1 / positions)


def test_bad_weighting_settings_raise_config_errors():
    with pytest.raises(ConfigError, match="unknown weighting"):
        ScoreToWeight("cubic")
    with pytest.raises(ConfigError, match="w_min"):
        ScoreToWeight("linear", w_min=0.0)
    with pytest.raises(ConfigError, match="score_max"):
        ScoreToWeight("linear", score_min=2, score_max=2)
    with pytest.raises(ConfigError, match="normaliser"):
        GCLLoss(normaliser="sum")
    assert fit_score_range([0.5, 3.0, float("nan"), 1.0]) == (0.5, 3.0)
    with pytest.raises(ConfigError, match="binary"):
        fit_score_range([2.0, 2.0])


def test_docs_sample_and_docstring_example_run():
    import doctest
    from pathlib import Path

    import gcl_search.losses.gcl as gcl_module

    assert doctest.testmod(gcl_module).failed == 0
    text = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    sample = text.split("```python\n")[1].split("```")[0]
    namespace: dict = {}
    exec(sample, namespace)  # the loss sample in docs/training.md
    assert torch.isfinite(namespace["loss"]) and namespace["loss"].item() > 0
