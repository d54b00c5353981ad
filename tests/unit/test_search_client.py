"""SearchClient on the local store with a keyword encoder: every similarity below is worked out by hand.

The hand computations are of the "sum" dense score (`sum_f w_f q . d_f`), which these tests ask for; the fused
score (the default) is worked out by hand in test_dense_score.py.

Query "usb cable" = (usb + cable)/sqrt(2). Title similarities: d1 "usb cable" 1, d6 "cable" 1/sqrt2 = .707,
d2 "hdmi cable" .5, d5 "red usb mouse" 1/sqrt6 = .408, d3 and d4 0. Description similarities: d1 "black usb
cable" 2/sqrt6 = .816, d6 "usb" .707, d2 "red hdmi cable" .408, d3 ".. usb" and d4 ".. usb .." 1/(2 sqrt2) =
.354, d5 has no description.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gcl_search.errors import ConfigError, DimensionMismatch, IndexNotFound, StoreUnavailable
from gcl_search.search.client import LexicalSpec, SearchClient
from gcl_search.search.fusion import normalise_min_max
from gcl_search.stores.base import Range, Term, candidates_from_parts
from gcl_search.stores.local import LocalStore
from tests.fakes import KeywordEncoder, exact_field_score, keyword_vector, make_store
from tests.fakes import make_config as _make_config

S2, S6 = math.sqrt(2), math.sqrt(6)


def make_config(*args, **kwargs):
    return _make_config(*args, dense_score="sum", **kwargs)


TITLE = {"d1": 1.0, "d6": 1 / S2, "d2": 0.5, "d5": 1 / S6, "d3": 0.0, "d4": 0.0}
DESC = {"d1": 2 / S6, "d6": 1 / S2, "d2": 1 / S6, "d3": 1 / (2 * S2), "d4": 1 / (2 * S2)}


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path / "store")


@pytest.fixture
def client(store):
    return SearchClient(store, make_config(), {"kw": KeywordEncoder()})


def _ids(hits):
    return [h.doc_id for h in hits]


def test_default_weights_rank_and_scores(client):
    hits = client.search("usb cable", k=6)
    # 0.7 title + 0.3 description: d1 .945, d6 .707, d2 .472, d5 .286, d3 = d4 = .106 (tie -> doc_id)
    assert _ids(hits) == ["d1", "d6", "d2", "d5", "d3", "d4"]
    for h in hits:
        expected = 0.7 * TITLE[h.doc_id] + 0.3 * DESC.get(h.doc_id, 0.0)
        assert h.dense_score == pytest.approx(expected, abs=1e-6)
        assert h.score == pytest.approx(expected, abs=1e-6)
        assert h.field_scores["title"] == pytest.approx(TITLE[h.doc_id], abs=1e-6)
        assert h.lexical_score is None
    assert "description" not in hits[3].field_scores  # d5 has no description: no score, no contribution
    assert hits[0].attributes == {"price": 5.0, "brand": "acme"}
    assert client.search("usb cable", k=1, attributes=False)[0].attributes == {}


def test_request_weights_change_the_ranking(client):
    # 0.2 title + 0.8 description: d1 .853, d6 .707, d2 .427, d3 = d4 = .283, d5 .082
    assert _ids(client.search("usb cable", weights={"title": 0.2, "description": 0.8}, k=6)) == [
        "d1",
        "d6",
        "d2",
        "d3",
        "d4",
        "d5",
    ]
    # title only: d1, d6, d2, d5, then the zero-score ties
    assert _ids(client.search("usb cable", weights={"description": 0.0, "title": 1.0}, k=4)) == [
        "d1",
        "d6",
        "d2",
        "d5",
    ]


def test_no_bool_of_knn_error(store, client):
    """A document outside one field's top-k still gets that field's TRUE similarity (a bool of per-field knn
    clauses would score it 0 there)."""
    q = keyword_vector("usb cable")
    top2 = {f: {d for d, _ in store.knn(q, 2, target=f)} for f in ("title", "description")}
    assert top2 == {"title": {"d1", "d6"}, "description": {"d1", "d6"}}
    hits = {h.doc_id: h for h in client.search("usb cable", k=4)}
    outside = [(d, f) for d in hits for f in hits[d].field_scores if d not in top2[f]]
    assert ("d2", "description") in outside and ("d2", "title") in outside
    for doc_id, f in outside:
        expected = (TITLE if f == "title" else DESC)[doc_id]
        assert hits[doc_id].field_scores[f] == pytest.approx(expected, abs=1e-6)
    assert hits["d2"].dense_score == pytest.approx(0.7 * 0.5 + 0.3 / S6, abs=1e-6)


class _MissingKnn:
    """A store whose approximate search misses some documents (as HNSW can)."""

    def __init__(self, store, missing):
        self._store, self._missing = store, set(missing)

    def __getattr__(self, name):
        return getattr(self._store, name)

    def knn(self, *args, **kwargs):
        return [(d, s) for d, s in self._store.knn(*args, **kwargs) if d not in self._missing]

    def candidates(self, *args, **kwargs):
        return candidates_from_parts(self, *args, **kwargs)


def test_lexical_only_candidate_gets_exact_dense_score(store):
    client = SearchClient(_MissingKnn(store, {"d6"}), make_config(), {"kw": KeywordEncoder()})
    assert "d6" not in _ids(client.search("usb cable", k=6))
    hits = {h.doc_id: h for h in client.search("usb cable", k=6, lexical=LexicalSpec(weight=0.5))}
    assert hits["d6"].dense_score == pytest.approx(0.7 / S2 + 0.3 / S2, abs=1e-6)
    assert hits["d6"].field_scores == pytest.approx({"title": 1 / S2, "description": 1 / S2}, abs=1e-6)


def test_minmax_hybrid_matches_the_formula(store, client):
    lexical = LexicalSpec(fields=("title", "description"), weight=0.4, fusion="minmax")
    hits = client.search("usb cable", k=2, lexical=lexical)  # depth 6: every document is a candidate
    bm25 = dict(store.lexical("usb cable", ["title", "description"], 10))
    ids = sorted(TITLE)
    dense = np.array([0.7 * TITLE[d] + 0.3 * DESC.get(d, 0.0) for d in ids])
    lex = np.array([bm25.get(d, 0.0) for d in ids])
    expected = dict(zip(ids, 0.6 * normalise_min_max(dense) + 0.4 * normalise_min_max(lex)))
    best = sorted(ids, key=lambda d: (-expected[d], d))[:2]
    assert _ids(hits) == best
    for h in hits:
        assert h.score == pytest.approx(expected[h.doc_id], abs=1e-6)
        assert h.lexical_score == pytest.approx(bm25[h.doc_id], rel=1e-6)


def test_lexical_only_request_ranks_by_bm25(store, client):
    hits = client.search(
        "mouse", weights={"title": 0, "description": 0}, k=3, lexical=LexicalSpec(weight=1.0, fusion="rrf")
    )
    assert _ids(hits) == [d for d, _ in store.lexical("mouse", None, 3)]
    assert {h.doc_id for h in hits} == {"d3", "d5"}


def test_pagination_concatenates_to_the_full_ranking(client):
    full = _ids(client.search("usb cable", k=6))
    pages = [_ids(client.search("usb cable", k=2, offset=o)) for o in (0, 2, 4)]
    assert sum(pages, []) == full
    assert client.search("usb cable", k=2, offset=6) == []


def test_filters_apply_to_both_searches(client):
    hits = client.search(
        "usb cable", k=6, filters=[Range("price", lte=10.0)], lexical=LexicalSpec(weight=0.5)
    )
    assert set(_ids(hits)) == {"d1", "d2", "d6"}
    assert _ids(client.search("usb cable", k=6, filters=[Term("brand", "mice")])) == ["d5", "d3"]


def test_query_is_embedded_once_per_encoder(store):
    encoder = KeywordEncoder()
    SearchClient(store, make_config(), {"kw": encoder}).search("usb cable")
    assert encoder.text_calls == [["usb cable"]]


def test_image_and_multi_field_query(store):
    from PIL import Image

    client = SearchClient(store, make_config(image_query=True), {"kw": KeywordEncoder()})
    red = Image.new("RGB", (4, 4), (220, 10, 10))
    # image only: q = "red" axis; d5 "red usb mouse" title 1/sqrt3, d2 description 1/sqrt3
    hits = client.search(image=red, k=2)
    assert _ids(hits) == ["d5", "d2"]
    # text + image with query weights: q = normalize(0.5 usb-cable + 0.5 red)
    both = client.search("usb cable", image=red, query_weights={"query": 0.5, "query_image": 0.5}, k=6)
    q = keyword_vector("usb cable") + keyword_vector("red")
    q /= np.linalg.norm(q)
    expected = {
        d: 0.7 * float(q @ keyword_vector(t))
        for d, t in {"d1": "usb cable", "d5": "red usb mouse", "d2": "hdmi cable"}.items()
    }
    for h in both:
        if h.doc_id in expected:
            assert h.field_scores["title"] == pytest.approx(expected[h.doc_id] / 0.7, abs=1e-6)


def test_query_weights_decide_the_query_vector(store):
    from PIL import Image

    client = SearchClient(store, make_config(image_query=True), {"kw": KeywordEncoder()})
    red = Image.new("RGB", (4, 4), (220, 10, 10))
    # the configured query weights are 1 and 1; these leave the image out of q, so q = usb-cable
    hits = client.search("usb cable", image=red, query_weights={"query": 1.0, "query_image": 0.0}, k=6)
    text_only = client.search("usb cable", k=6)
    assert [(h.doc_id, h.field_scores) for h in hits] == [(h.doc_id, h.field_scores) for h in text_only]
    with pytest.raises(ConfigError, match="zero-weight"):
        client.search("usb cable", query_weights={"query": 0.0, "query_image": 1.0})
    with pytest.raises(ConfigError, match="unknown (query )?field 'title'"):
        client.search("usb cable", query_weights={"title": 1.0})
    with pytest.raises(ConfigError, match="finite number >= 0"):
        client.search("usb cable", query_weights={"query": -1.0})


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_query_returns_nothing(client, text):
    assert client.search(text) == []


def test_very_long_and_non_ascii_queries(client):
    long = " ".join(["usb cable"] * 5000 + ["Ünïcødé 日本語 café"])
    hits = client.search(long, k=3, lexical=LexicalSpec(weight=0.5))
    assert _ids(hits)[0] == "d1"
    assert client.search("café 日本語 naïve", k=2)[0].dense_score == 0.0  # no vocabulary word: all zero
    assert exact_field_score("usb", "usb") == pytest.approx(1.0)


@pytest.mark.parametrize(
    "weights, message",
    [
        ({"title": -1.0}, "negative"),
        ({"price": 1.0}, "unknown field 'price'"),
        ({"title": 0.0, "description": 0.0}, "every field weight is 0"),
        ({"title": float("nan")}, "finite"),
    ],
)
def test_invalid_weights_are_refused(client, weights, message):
    with pytest.raises(ConfigError, match=message):
        client.search("usb", weights=weights)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 0}, "k = 0"),
        ({"k": 3, "offset": -1}, "offset"),
        ({"lexical": LexicalSpec(fields=("brand",))}, "not a text field"),
    ],
)
def test_invalid_requests_are_refused(client, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        client.search("usb", **kwargs)


def test_invalid_lexical_spec():
    with pytest.raises(ConfigError, match="fusion 'max'"):
        LexicalSpec(fusion="max")
    with pytest.raises(ConfigError, match=r"in \[0, 1\]"):
        LexicalSpec(weight=1.5)


def test_missing_index_and_meta_mismatch(tmp_path, store):
    with pytest.raises(IndexNotFound, match="ingest"):
        SearchClient(LocalStore(tmp_path / "nothing"), make_config(), {"kw": KeywordEncoder()})
    swapped = make_config()
    swapped = type(swapped)(
        encoders=swapped.encoders, fields=tuple(reversed(swapped.fields)), query_fields=swapped.query_fields
    )
    with pytest.raises(ConfigError, match="_meta"):
        SearchClient(store, swapped, {"kw": KeywordEncoder()})
    small = KeywordEncoder()
    small.dim = 4
    with pytest.raises(DimensionMismatch, match="dimension"):
        SearchClient(store, make_config(), {"kw": small})


class _Flaky:
    def __init__(self, store, failures):
        self._store, self.failures, self.calls = store, failures, 0

    def __getattr__(self, name):
        return getattr(self._store, name)

    def candidates(self, *args, **kwargs):
        self.calls += 1
        if self.calls <= self.failures:
            raise StoreUnavailable("timed out")
        return self._store.candidates(*args, **kwargs)


def test_store_errors_are_retried(store):
    flaky = _Flaky(store, failures=2)
    client = SearchClient(flaky, make_config(), {"kw": KeywordEncoder()}, retries=3, backoff=0)
    assert _ids(client.search("usb cable", k=1)) == ["d1"]
    assert flaky.calls == 3
    dead = SearchClient(
        _Flaky(store, failures=99), make_config(), {"kw": KeywordEncoder()}, retries=2, backoff=0
    )
    with pytest.raises(StoreUnavailable, match="timed out"):
        dead.search("usb cable")


def test_candidate_depth_is_the_page_dense_only_and_oversampled_with_bm25(store):
    depths = []

    class Recording:
        def __getattr__(self, name):
            return getattr(store, name)

        def candidates(self, q, w, depth, *args):
            depths.append(depth)
            return store.candidates(q, w, depth, *args)

    client = SearchClient(Recording(), make_config(), {"kw": KeywordEncoder()}, oversample=3.0)
    paged = client.search("usb cable", k=2, offset=2)
    # the knn score is the exact dense score: offset + k candidates give the same page as more would
    assert depths == [4] and _ids(paged) == _ids(client.search("usb cable", k=6))[2:4]
    client.search("usb cable", k=2, offset=2, lexical=LexicalSpec())
    assert depths[-1] == 12
