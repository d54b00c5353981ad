"""The dense multi-field scores (`multi_field_scores`), worked out by hand, and how search uses them.

Vectors are 2-d so that every number below is checkable on paper:
    title t = (1, 0), description d = (0.6, 0.8), brand b = (0, 1), query q = (0.6, 0.8)
    q.t = 0.6, q.d = 1.0, q.b = 0.8; t.d = 0.6, t.b = 0, d.b = 0.8
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gcl_search.config import parse_config
from gcl_search.errors import ConfigError
from gcl_search.fields.vectors import field_gram, multi_field_scores
from gcl_search.records import Document
from gcl_search.search.client import SearchClient, candidate_scores
from gcl_search.stores.base import Candidate, DenseField, IndexLayout, LayoutOptions, candidates_from_parts
from gcl_search.stores.derived import concat_document
from gcl_search.stores.local import LocalStore

NAMES = ("title", "description", "brand")
T, D, B = np.array([1.0, 0.0]), np.array([0.6, 0.8]), np.array([0.0, 1.0])
Q = np.array([0.6, 0.8])


def _score(doc: dict, weights, method="fused") -> float:
    sims = np.array([[float(Q @ doc[n]) if n in doc else 0.0 for n in NAMES]])
    present = np.array([[n in doc for n in NAMES]])
    gram = field_gram(doc, NAMES)[None]
    return float(multi_field_scores(sims, gram, present, np.array(weights), method)[0])


def test_full_product_by_hand():
    doc = {"title": T, "description": D, "brand": B}
    # fused at .7/.3/0: (.7 * .6 + .3 * 1) / ||.7 t + .3 d|| = .72 / ||(.88, .24)|| = .72 / sqrt(.832)
    assert _score(doc, (0.7, 0.3, 0.0)) == pytest.approx(0.72 / math.sqrt(0.832))
    # ... which is q . normalize(.7 t + .3 d), the seed's fused embedding
    fused = 0.7 * T + 0.3 * D
    assert _score(doc, (0.7, 0.3, 0.0)) == pytest.approx(float(Q @ fused / np.linalg.norm(fused)))
    assert _score(doc, (0.7, 0.3, 0.0), "sum") == pytest.approx(0.72)


def test_product_missing_a_field_by_hand():
    doc = {"title": T, "brand": B}  # no description
    # fused: the weights renormalise over title and brand; brand weight 0 leaves the title alone: q.t = .6
    assert _score(doc, (0.7, 0.3, 0.0)) == pytest.approx(0.6)
    # sum: the description's 30% is simply lost
    assert _score(doc, (0.7, 0.3, 0.0), "sum") == pytest.approx(0.42)
    # brand .5: (.7 * .6 + .5 * .8) / ||.7 t + .5 b|| = .82 / sqrt(.74)
    assert _score(doc, (0.7, 0.3, 0.5)) == pytest.approx(0.82 / math.sqrt(0.74))


@pytest.mark.parametrize("factor", [1e-3, 0.5, 1.0, 3.0, 1e4])
def test_fused_score_is_invariant_to_scaling_the_weights(factor):
    rng = np.random.default_rng(0)
    for _ in range(5):
        vecs = {n: rng.normal(size=4) for n in NAMES if rng.random() < 0.8}
        vecs = vecs or {"title": rng.normal(size=4)}
        doc = {n: v / np.linalg.norm(v) for n, v in vecs.items()}
        w = rng.random(3)
        q = rng.normal(size=4)
        sims = np.array([[float(q @ doc[n]) if n in doc else 0.0 for n in NAMES]])
        present = np.array([[n in doc for n in NAMES]])
        gram = field_gram(doc, NAMES)[None]
        base = multi_field_scores(sims, gram, present, w)
        assert multi_field_scores(sims, gram, present, factor * w) == pytest.approx(base, rel=1e-9)
        a = w * present[0] / (w * present[0]).sum()
        fused = sum(a[j] * doc[n] for j, n in enumerate(NAMES) if n in doc)
        assert base[0] == pytest.approx(float(q @ fused) / np.linalg.norm(fused))


def test_no_weighted_field_scores_zero_and_unknown_method_is_refused():
    assert _score({"brand": B}, (0.7, 0.3, 0.0)) == 0.0
    with pytest.raises(ConfigError, match="dense score 'max'"):
        multi_field_scores(np.zeros((1, 3)), None, np.ones((1, 3), bool), np.ones(3), "max")


def test_candidate_scores_read_presence_from_the_dot_products():
    full = Candidate(
        "a",
        {"title": 0.6, "description": 1.0, "brand": 0.8},
        {},
        dots={("title", "title"): 1.0, ("title", "description"): 0.6, ("description", "description"): 1.0},
    )
    partial = Candidate("b", {"title": 0.6, "brand": 0.8}, {}, dots={("title", "title"): 1.0})
    w = {"title": 0.7, "description": 0.3, "brand": 0.0}
    got = candidate_scores([full, partial], w, NAMES, "fused")
    assert got == pytest.approx([0.72 / math.sqrt(0.832), 0.6])
    assert candidate_scores([full, partial], w, NAMES, "sum") == pytest.approx([0.72, 0.42])


# -- through the stores and the search client ----------------------------------------------------------------


def _layout(**options) -> IndexLayout:
    return IndexLayout(tuple(DenseField(n, 4, "m") for n in NAMES), options=LayoutOptions(**options))


def _docs(n=80, seed=3) -> list[Document]:
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        names = [f for f in NAMES if rng.random() < (0.9 if f == "title" else 0.6)] or ["brand"]
        vecs = {f: rng.normal(size=4).astype(np.float32) for f in names}
        docs.append(Document(f"p{i:03d}", {f: v / np.linalg.norm(v) for f, v in vecs.items()}))
    return docs


def _config(dense_score="fused", rescore_depth=None):
    search = {"dense_score": dense_score}
    if rescore_depth is not None:
        search["rescore_depth"] = rescore_depth
    return parse_config(
        {
            "encoders": {"m": {"backend": "sentence-transformers", "model": "x"}},
            "fields": [
                {"name": "title", "encoder": "m", "weight": 0.7},
                {"name": "description", "encoder": "m", "weight": 0.3},
                {"name": "brand", "encoder": "m", "weight": 0.0},
            ],
            "query_fields": [{"name": "query", "encoder": "m"}],
            "search": search,
        }
    )


class _Dim:
    dim = 4


def _brute_force(docs, q, weights, method):
    out = {}
    for doc in docs:
        sims = np.array([[float(q @ doc.vectors[n]) if n in doc.vectors else 0.0 for n in NAMES]])
        present = np.array([[n in doc.vectors for n in NAMES]])
        gram = field_gram(doc.vectors, NAMES)[None]
        out[doc.doc_id] = float(
            multi_field_scores(sims, gram, present, np.array([weights.get(n, 0.0) for n in NAMES]), method)[0]
        )
    return out


class _ApproximateStore:
    """The local store answering `candidates` the way OpenSearch does: one knn (the imputed concatenated
    vector), a pool of `rescore_depth` when that is not the dense score, no exact ranking."""

    def __init__(self, store):
        self._store = store

    def __getattr__(self, name):
        return getattr(self._store, name)

    def candidates(self, *args, **kwargs):
        return candidates_from_parts(self._store, *args, **kwargs)


@pytest.mark.parametrize(
    "weights",
    [
        {"title": 0.7, "description": 0.3, "brand": 0.0},
        {"title": 0.2, "description": 0.2, "brand": 0.6},
        {"title": 5.0, "description": 5.0, "brand": 5.0},
    ],
)
@pytest.mark.parametrize("method", ["fused", "sum"])
def test_search_ranks_by_the_exact_dense_score_on_both_paths(tmp_path, weights, method):
    docs = _docs()
    store = LocalStore(tmp_path / "s")
    store.create(_layout())
    store.upsert(docs)
    q = np.random.default_rng(9).normal(size=4).astype(np.float32)
    qv = {n: q / np.linalg.norm(q) for n in NAMES}
    exact = _brute_force(docs, qv["title"], weights, method)
    want = sorted(exact, key=lambda d: (-exact[d], d))[:10]
    exact_client = SearchClient(store, _config(method), {"m": _Dim()})
    pooled = SearchClient(_ApproximateStore(store), _config(rescore_depth=80), {"m": _Dim()})
    for client in (exact_client, pooled):
        hits = client.search_vectors(qv, weights, k=10, dense_score=method)
        assert [h.doc_id for h in hits] == want
        assert [h.dense_score for h in hits] == pytest.approx([exact[d] for d in want], abs=1e-6)
        for h in hits:  # raw per-field similarities stay on every hit
            doc = next(d for d in docs if d.doc_id == h.doc_id)
            assert set(h.field_scores) == set(doc.vectors)
    # a pool of the page only (10): the approximate path may differ, and the pool is what fixes that
    small = SearchClient(_ApproximateStore(store), _config(rescore_depth=1), {"m": _Dim()})
    assert len(small.search_vectors(qv, weights, k=10, dense_score=method)) == 10


def test_imputed_blocks_are_the_unit_mean_and_never_reported(tmp_path):
    layout = _layout()
    doc = Document(
        "x", {"title": np.array([1, 0, 0, 0], np.float32), "brand": np.array([0, 1, 0, 0], np.float32)}
    )
    concat, present = concat_document(layout, doc)
    assert present == ("title", "brand")
    np.testing.assert_allclose(concat[4:8], np.array([1, 1, 0, 0]) / math.sqrt(2), rtol=1e-6)
    store = LocalStore(tmp_path / "s")
    store.create(layout)
    store.upsert([doc])
    assert set(store.vectors(["x"])["x"]) == {"title", "brand"}
    assert not concat_document(_layout(impute_missing=False), doc)[0][4:8].any()


def test_layouts_written_before_keep_their_meaning():
    meta = _layout().to_meta()
    for key in ("impute_missing", "preset_fused", "rescore_depth"):
        del meta["options"][key]
    old = IndexLayout.from_meta(meta)
    assert not old.options.impute_missing and not old.options.preset_fused
    assert old.options.rescore_depth == 200
    assert IndexLayout.from_meta(_layout().to_meta()) == _layout()


def test_config_and_client_refuse_unknown_dense_scores(tmp_path):
    with pytest.raises(ConfigError, match="dense_score"):
        _config("max")
    store = LocalStore(tmp_path / "s")
    store.create(_layout())
    store.upsert(_docs(5))
    client = SearchClient(store, _config(), {"m": _Dim()})
    with pytest.raises(ConfigError, match="dense score 'max'"):
        client.search_vectors({n: np.ones(4) / 2 for n in NAMES}, {"title": 1.0}, dense_score="max")
