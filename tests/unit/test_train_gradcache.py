"""GradCache: the chunked step gives the same loss and parameter gradients as the whole-batch loss."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gcl_search.losses import GCLLoss, ScoreToWeight
from gcl_search.training.gradcache import chunked, grad_cache_step


def make_setup(dropout: float):
    torch.manual_seed(0)
    query_tower = nn.Sequential(nn.Linear(12, 16), nn.Dropout(dropout), nn.Tanh(), nn.Linear(16, 8))
    doc_tower = nn.Sequential(nn.Linear(12, 16), nn.Dropout(dropout), nn.Tanh(), nn.Linear(16, 8))
    loss_fn = GCLLoss(
        weighting=ScoreToWeight("linear", score_min=0, score_max=3),
        doc_field_weights={"title": 0.3, "body": 0.7},
    )
    queries, titles, bodies, negatives = (torch.randn(10, 12) for _ in range(4))
    scores = torch.rand(10) * 3
    known = torch.rand(10, 10) > 0.8
    return query_tower, doc_tower, loss_fn, queries, (titles, bodies), negatives, scores, known


def encode_docs(tower, pair):
    return {"title": tower(pair[0]), "body": tower(pair[1])}


def grads(*modules):
    return [p.grad.clone() for m in modules for p in m.parameters()]


def zero(*modules):
    for m in modules:
        m.zero_grad()


def stack_pairs(rows):
    return torch.stack([r[0] for r in rows]), torch.stack([r[1] for r in rows])


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_grad_cache_matches_uncached_loss_and_gradients(dropout):
    qt, dt, loss_fn, queries, docs, negatives, scores, known = make_setup(dropout)
    chunk = 3
    # Reference: one backward through a graph over the whole batch. With dropout the reference runs the same
    # chunks in the same order, so both draw the same dropout masks; without dropout it is one forward.
    ref_chunk = chunk if dropout else 0
    torch.manual_seed(7)
    q = torch.cat([qt(c) for c in chunked(queries, ref_chunk)])
    d_parts = [encode_docs(dt, stack_pairs(c)) for c in chunked(list(zip(*docs)), ref_chunk)]
    d = {k: torch.cat([p[k] for p in d_parts]) for k in ("title", "body")}
    n = torch.cat([dt(c) for c in chunked(negatives, ref_chunk)])
    expected = loss_fn.compute_loss(q, d, scores, known_positive=known, negative_emb=n)
    expected.backward()
    expected_grads = grads(qt, dt, loss_fn)
    zero(qt, dt, loss_fn)

    torch.manual_seed(7)
    got = grad_cache_step(
        [
            (qt, chunked(queries, chunk)),
            (lambda c: encode_docs(dt, stack_pairs(c)), chunked(list(zip(*docs)), chunk)),
            (dt, chunked(negatives, chunk)),
        ],
        lambda e: loss_fn.compute_loss(e[0], e[1], scores, known_positive=known, negative_emb=e[2]),
    )
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    for a, b in zip(grads(qt, dt, loss_fn), expected_grads):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)


def test_grad_cache_scale_multiplies_gradients_like_a_grad_scaler():
    qt, dt, loss_fn, queries, docs, negatives, scores, known = make_setup(0.0)
    towers = [(qt, chunked(queries, 4)), (dt, chunked(docs[0], 4))]
    grad_cache_step(towers, lambda e: loss_fn.compute_loss(e[0], e[1], scores))
    plain = grads(qt, dt)
    zero(qt, dt, loss_fn)
    grad_cache_step(towers, lambda e: loss_fn.compute_loss(e[0], e[1], scores), scale=lambda x: x * 8.0)
    for a, b in zip(grads(qt, dt), plain):
        assert torch.allclose(a, 8.0 * b, atol=1e-6)


def test_chunked_cuts_consecutive_pieces():
    assert chunked(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunked(list(range(7)), 0) == [list(range(7))]
