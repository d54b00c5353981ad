"""SearchClient on a real OpenSearch node vs the local store, on a slice of the Icecat sample.

The slice (the first 300 products) is encoded with the tiny offline sentence-transformers model, written into
both stores, and searched with the same requests. Dense scores are exact in both, so rankings and scores must
agree; BM25 is the same formula on both (Lucene's one-byte length norms included: gcl_search.stores.bm25), so
hybrid requests agree on dense and BM25 scores; which candidates tie at a search's cut-off may differ.
"""

from __future__ import annotations

import itertools
import uuid

import numpy as np
import pytest

from gcl_search.config import parse_config
from gcl_search.datasets.icecat import iter_catalogue
from gcl_search.encoders.registry import load_encoders
from gcl_search.errors import ConfigError, IndexNotFound
from gcl_search.fields import encode_records
from gcl_search.records import Document
from gcl_search.search.client import LexicalSpec, SearchClient
from gcl_search.stores.base import AttributeField, IndexLayout, LayoutOptions, Range, layout_from_config
from gcl_search.stores.derived import query_vector
from gcl_search.stores.local import LocalStore

pytestmark = pytest.mark.opensearch

QUERIES = ["usb cable", "hp laptop", "wireless mouse", "printer ink", "external hard drive 1tb", "monitor 27"]
REQUESTS = {
    "default": {},
    "title_only": {"weights": {"title": 1.0, "description": 0.0}},
    "description_heavy": {"weights": {"title": 0.1, "description": 0.9}},
    "filtered": {"filters": [Range("price", lte=100.0)]},
    "second_page": {"k": 5, "offset": 5},
    "no_attributes": {"attributes": False},
}


def _config(model_dir):
    return parse_config(
        {
            "encoders": {
                "tiny": {"backend": "sentence-transformers", "model": str(model_dir), "device": "cpu"}
            },
            "fields": [
                {"name": "title", "encoder": "tiny", "weight": 0.7},
                {"name": "description", "encoder": "tiny", "weight": 0.3},
            ],
            "query_fields": [{"name": "query", "encoder": "tiny"}],
        }
    )


def _documents(config, encoders, n=300):
    records = list(itertools.islice(iter_catalogue(), n))
    encoded = encode_records(records, config.fields, encoders, id_key="doc_id")
    by_id = {r["doc_id"]: r for r in records}
    return [
        Document(
            doc_id,
            encoded.field_vectors(i),
            {f: by_id[doc_id][f] for f in ("title", "description") if by_id[doc_id][f]},
            {"price": by_id[doc_id]["price"], "brand": by_id[doc_id]["brand"]},
        )
        for i, doc_id in enumerate(encoded.ids)
    ]


@pytest.fixture(scope="module")
def stores(tmp_path_factory, opensearch_url):
    from gcl_search.stores.opensearch import OpenSearchStore
    from tests.helpers_models import tiny_st_model_dir

    config = _config(tiny_st_model_dir(tmp_path_factory.mktemp("model")))
    encoders = load_encoders(config)
    layout = layout_from_config(
        config,
        {"tiny": encoders["tiny"].dim},
        attributes=(AttributeField("price", "float"), AttributeField("brand")),
        options=LayoutOptions(per_field_vectors=True, oversample=3.0),
    )
    docs = _documents(config, encoders)
    local = LocalStore(tmp_path_factory.mktemp("local") / "icecat")
    remote = OpenSearchStore(opensearch_url, f"test-search-{uuid.uuid4().hex[:8]}")
    for store in (local, remote):
        store.create(layout)
        report = store.upsert(docs)
        assert not report.failed
        store.refresh()
    yield config, encoders, local, remote, docs
    remote.drop()


def _clients(stores):
    config, encoders, local, remote, _ = stores
    return SearchClient(local, config, encoders), SearchClient(remote, config, encoders)


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_dense_parity(stores, name):
    local, remote = _clients(stores)
    for query in QUERIES:
        request = {"k": 10, **REQUESTS[name]}
        a = local.search(query, **request)
        b = remote.search(query, **request)
        assert_same_page(a, b, (name, query))
        by_id = {h.doc_id: h for h in a}
        for y in b:
            if y.doc_id in by_id:
                assert by_id[y.doc_id].field_scores == pytest.approx(y.field_scores, abs=1e-5)
                assert by_id[y.doc_id].attributes == y.attributes


@pytest.mark.parametrize("dense_score", ["fused", "sum"])
@pytest.mark.parametrize(
    "weights", [(0.7, 0.3), (0.5, 0.5), (0.2, 0.8), (1.0, 0.0), (0.0, 1.0), (7.0, 3.0), (0.05, 0.95)]
)
def test_dense_score_parity_at_any_weights(stores, weights, dense_score):
    """The node (knn on the imputed concatenated vector, the pool ranked by the node's rescore script, the
    page rescored by the client) and the local store (exact brute force of the same score) give the same
    pages. The pool is the whole slice: the tiny test model's similarities are squeezed into 0.8-1, where the
    fused score's norm decides more than in MiniLM, so candidate recall is measured on real vectors instead
    (benchmarks/bench_search.py); here the node's script must rank exactly as the local store does."""
    config, encoders, local, remote, _ = stores
    clients = [
        SearchClient(local, config, encoders),
        SearchClient(remote, config, encoders, rescore_depth=300),
    ]
    w = dict(zip(("title", "description"), weights))
    for query in QUERIES:
        a, b = (c.search(query, weights=w, k=10, dense_score=dense_score) for c in clients)
        assert_same_page(a, b, (weights, dense_score, query))


def assert_same_page(a, b, where):
    """Same scores position by position and the same documents, except which of several documents tied at
    the page's last score fill its last places (the catalogue holds identical products; the local store takes
    the lowest doc_ids, the node those its search reached first). Within the page, ties go by doc_id."""
    assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-5), where
    last = a[-1].score if a else None

    def untied(hits):
        return [h.doc_id for h in hits if abs(h.score - last) > 1e-5]

    assert untied(a) == untied(b), where
    for hits in (a, b):
        assert all(
            x.score > y.score or (x.score == y.score and x.doc_id < y.doc_id) for x, y in zip(hits, hits[1:])
        ), where


@pytest.mark.parametrize("fusion", ["minmax", "zscore", "rrf"])
def test_hybrid_parity(stores, fusion):
    local, remote = _clients(stores)
    lexical = LexicalSpec(weight=0.5, fusion=fusion)
    for query in QUERIES:
        a = {h.doc_id: h for h in local.search(query, k=10, lexical=lexical)}
        b = {h.doc_id: h for h in remote.search(query, k=10, lexical=lexical)}
        assert len(set(a) & set(b)) >= 8, (fusion, query)
        for doc_id in set(a) & set(b):
            assert a[doc_id].dense_score == pytest.approx(b[doc_id].dense_score, abs=1e-5)
            if a[doc_id].lexical_score is not None and b[doc_id].lexical_score is not None:
                assert a[doc_id].lexical_score == pytest.approx(b[doc_id].lexical_score, rel=1e-5)


def _count_requests(monkeypatch, store) -> list[str]:
    calls: list[str] = []
    transport = store.client.transport
    perform = transport.perform_request

    def counting(method, url, *args, **kwargs):
        calls.append(f"{method} {url}")
        return perform(method, url, *args, **kwargs)

    monkeypatch.setattr(transport, "perform_request", counting)
    return calls


@pytest.mark.parametrize("lexical", [None, LexicalSpec(weight=0.3)])
def test_one_request_per_search(stores, monkeypatch, lexical):
    """Dense (and hybrid) search with field similarities and attributes is ONE HTTP request to OpenSearch."""
    _, remote = _clients(stores)
    calls = _count_requests(monkeypatch, remote.store)
    hits = remote.search("usb cable", k=10, lexical=lexical)
    assert len(hits) == 10 and all(h.field_scores and h.attributes for h in hits)
    assert len(calls) == 1 and calls[0].endswith("/_search" if lexical is None else "/_msearch"), calls


def _ranked(candidates, weights):
    key = {c.doc_id: -sum(weights[f] * s for f, s in c.field_scores.items()) for c in candidates}
    return sorted(key, key=lambda d: (key[d], d))


def test_candidates_parity_field_scores_attributes_bm25(stores):
    """`candidates` on OpenSearch (one _msearch, similarities from painless over doc values) equals the local
    store's (numpy over the stored vectors): same documents, field similarities to float rounding."""
    from gcl_search.stores.base import LexicalQuery

    config, encoders, local, remote, docs = stores
    q = SearchClient(local, config, encoders).embedder.embed("wireless mouse")
    q = {**q, "description": q["description"] * 0.5 + 0.5 * docs[3].vectors["title"]}  # two distinct vectors
    for weights in ({"title": 0.7, "description": 0.3}, {"title": 0.0, "description": 1.0}):
        lexical = LexicalQuery("wireless mouse", None, 20)
        a_dense, a_lex = local.candidates(q, weights, 20, lexical=lexical)
        b_dense, b_lex = remote.candidates(q, weights, 20, lexical=lexical)
        assert _ranked(a_dense, weights)[:15] == _ranked(b_dense, weights)[:15]  # the 20th may be a tie
        both = {c.doc_id for c in a_lex} & {c.doc_id for c in b_lex}
        assert a_lex and len(both) >= 0.8 * max(len(a_lex), len(b_lex))  # BM25 differs slightly (module doc)
        mine = {c.doc_id: c for c in (*a_lex, *a_dense)}
        for c in (*b_dense, *b_lex):
            if c.doc_id not in mine:
                continue
            assert c.field_scores.keys() == mine[c.doc_id].field_scores.keys()  # absent fields left out
            assert c.field_scores == pytest.approx(mine[c.doc_id].field_scores, abs=1e-6)
            assert c.attributes == mine[c.doc_id].attributes
            assert (c.bm25 is None) == (mine[c.doc_id].bm25 is None)


def test_raw_similarities_recovered_from_opensearch_scores(stores):
    """`knn` inverts `_score` (1 + dot for dot > 0, 1 / (1 - dot) otherwise) back to the raw inner product."""
    _, _, local, remote, docs = stores
    layout = remote.layout()
    doc = docs[0]
    for sign in (1.0, -1.0):  # -1: every inner product near the top is negative (the 1 / (1 - dot) branch)
        weights = {"title": 0.7, "description": 0.3}
        q = query_vector(layout, {f: sign * v for f, v in doc.vectors.items()}, weights)
        got = remote.knn(q, 20)
        exact = dict(local.knn(q, 300))
        assert any(s < 0 for _, s in got) == (sign < 0)
        for doc_id, score in got:
            assert score == pytest.approx(exact[doc_id], abs=1e-5)


def test_bool_of_knn_error_does_not_happen(stores):
    """A bool of per-field knn clauses scores a document only on the clauses whose top-k it is in; the client
    gives every candidate its true similarity on every field."""
    config, encoders, _, remote, docs = stores
    client = SearchClient(remote, config, encoders)
    q = client.embedder.embed("usb cable")
    body = {
        "size": 10,
        "query": {
            "bool": {
                "should": [
                    {"knn": {f"vec.{f}": {"vector": q[f].tolist(), "k": 5, "boost": w, "_name": f}}}
                    for f, w in (("title", 0.7), ("description", 0.3))
                ]
            }
        },
    }
    hits = remote.client.search(index=remote.index, body=body, params={"include_named_queries_score": "true"})
    partial = [h for h in hits["hits"]["hits"] if len(h.get("matched_queries", {})) == 1]
    assert partial, "every bool hit matched both clauses; the demonstration needs a one-clause hit"
    ours = {h.doc_id: h for h in client.search("usb cable", k=50)}
    vectors = {d.doc_id: d.vectors for d in docs}
    for h in partial:
        missing = ({"title", "description"} - set(h["matched_queries"])).pop()
        if missing not in vectors[h["_id"]] or h["_id"] not in ours:
            continue
        true = float(np.dot(q[missing], vectors[h["_id"]][missing]))
        assert ours[h["_id"]].field_scores[missing] == pytest.approx(true, abs=1e-5)
        assert true != 0.0  # the bool query counted 0 for it


def test_missing_index_and_meta_mismatch(stores, opensearch_url):
    from gcl_search.stores.opensearch import OpenSearchStore

    config, encoders, _, remote, _ = stores
    with pytest.raises(IndexNotFound, match="gcl-search ingest"):
        SearchClient(OpenSearchStore(opensearch_url, "no-such-index-gcl"), config, encoders)
    swapped = type(config)(
        encoders=config.encoders, fields=tuple(reversed(config.fields)), query_fields=config.query_fields
    )
    with pytest.raises(ConfigError, match="_meta"):
        SearchClient(remote, swapped, encoders)


def test_layout_round_trip(stores):
    _, _, local, remote, _ = stores
    assert isinstance(remote.layout(), IndexLayout)
    assert remote.layout().dense_fields == local.layout().dense_fields


def test_candidate_pool_parity_and_tuning_on_the_node(stores):
    """Weight tuning's one store-facing call, `SearchClient.candidate_pool`, on the node: with a depth that
    reaches every product the pools are the same documents, stored vectors and BM25 scores as the local
    store's, and tuning on them chooses the same weights."""
    from gcl_search.search.live import SearchQuery
    from gcl_search.search.tune import tune_weights

    local, remote = _clients(stores)
    depth = len(stores[4])
    spec = LexicalSpec()
    modes = local.lexical_modes(spec)
    assert remote.lexical_modes(spec) == modes
    for query in QUERIES:
        a = local.candidate_pool(query, depth=depth, lexical=spec, modes=modes)
        b = remote.candidate_pool(query, depth=depth, lexical=spec, modes=modes)
        assert set(a.doc_ids) == set(b.doc_ids)
        for doc_id in a.doc_ids:
            assert a.vectors[doc_id].keys() == b.vectors[doc_id].keys()
            for field, vector in a.vectors[doc_id].items():
                np.testing.assert_allclose(vector, b.vectors[doc_id][field], atol=1e-6)
        for mode in modes:
            assert a.lexical[mode].keys() == b.lexical[mode].keys()
            assert a.lexical[mode] == pytest.approx(b.lexical[mode], rel=1e-4)
    # judgments: each query's local top-3 at description-heavy weights, so tuning has something to move
    queries = [SearchQuery(q, q) for q in QUERIES]
    judgments = {
        q: {h.doc_id: 2 for h in local.search(q, weights={"title": 0.2, "description": 0.8}, k=3)}
        for q in QUERIES
    }
    options = {"heldout": 0.0, "k": 10, "pool_depth": depth, "grid_step": 0.25, "folds": 3}
    ours, theirs = (tune_weights(c, queries, judgments, "ndcg@10", **options) for c in (local, remote))
    assert ours.weights == pytest.approx(theirs.weights) and ours.shrinkage == theirs.shrinkage
    assert ours.cv_scores == pytest.approx(theirs.cv_scores, abs=1e-9)
