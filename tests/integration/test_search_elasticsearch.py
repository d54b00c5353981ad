"""Elasticsearch vs the local store vs OpenSearch, on real nodes, with the slice of the Icecat sample that
tests/integration/test_search_opensearch.py uses (the first 300 products, the tiny offline model).

Dense scores are computed from the same float32 vectors by the same function on every store, so pages and
scores agree to 1e-5. BM25 with the `standard` analyzer is Lucene's formula on all three (the same one-byte
length norms), so lexical scores agree too; the `english` analyzer differs on a node without the
analysis-common module (docs/elasticsearch.md), measured in test_lexical_elasticsearch.py.
"""

from __future__ import annotations

import uuid

import pytest

from gcl_search.encoders.registry import load_encoders
from gcl_search.errors import ConfigError, IndexNotFound
from gcl_search.search.client import LexicalSpec, SearchClient
from gcl_search.stores.base import AttributeField, LayoutOptions, LexicalQuery, layout_from_config
from gcl_search.stores.derived import query_vector
from gcl_search.stores.local import LocalStore
from tests.integration.test_search_opensearch import (
    QUERIES,
    REQUESTS,
    _config,
    _documents,
    _ranked,
    assert_same_page,
)

pytestmark = [pytest.mark.elasticsearch, pytest.mark.opensearch]


@pytest.fixture(scope="module")
def stores(tmp_path_factory, elasticsearch_url, opensearch_url):
    from gcl_search.stores.elasticsearch import ElasticsearchStore
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
    name = f"test-search-{uuid.uuid4().hex[:8]}"
    local = LocalStore(tmp_path_factory.mktemp("local") / "icecat")
    opensearch = OpenSearchStore(opensearch_url, name)
    elastic = ElasticsearchStore(elasticsearch_url, name)
    for store in (local, opensearch, elastic):
        store.create(layout)
        report = store.upsert(docs)
        assert not report.failed
        store.refresh()
    yield config, encoders, {"local": local, "opensearch": opensearch, "elasticsearch": elastic}, docs
    opensearch.drop()
    elastic.drop()


def _clients(stores, **kwargs):
    config, encoders, by_name, _ = stores
    return {name: SearchClient(store, config, encoders, **kwargs) for name, store in by_name.items()}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_dense_parity_three_stores(stores, name):
    clients = _clients(stores)
    for query in QUERIES:
        request = {"k": 10, **REQUESTS[name]}
        pages = {store: client.search(query, **request) for store, client in clients.items()}
        for other in ("opensearch", "elasticsearch"):
            assert_same_page(pages["local"], pages[other], (name, query, other))
        by_id = {h.doc_id: h for h in pages["local"]}
        for hit in pages["elasticsearch"]:
            if hit.doc_id in by_id:
                assert hit.field_scores == pytest.approx(by_id[hit.doc_id].field_scores, abs=1e-5)
                assert hit.attributes == by_id[hit.doc_id].attributes


@pytest.mark.parametrize("dense_score", ["fused", "sum"])
@pytest.mark.parametrize(
    "weights", [(0.7, 0.3), (0.5, 0.5), (0.2, 0.8), (1.0, 0.0), (0.0, 1.0), (7.0, 3.0), (0.05, 0.95)]
)
def test_dense_score_parity_at_any_weights(stores, weights, dense_score):
    """The pool (the whole slice, as in the OpenSearch test) is rescored client-side from doc-value vectors:
    the same pages and scores as the local store's brute force."""
    config, encoders, by_name, _ = stores
    local = SearchClient(by_name["local"], config, encoders)
    elastic = SearchClient(by_name["elasticsearch"], config, encoders, rescore_depth=300)
    w = dict(zip(("title", "description"), weights))
    for query in QUERIES:
        a, b = (c.search(query, weights=w, k=10, dense_score=dense_score) for c in (local, elastic))
        assert_same_page(a, b, (weights, dense_score, query))


@pytest.mark.parametrize("fusion", ["minmax", "zscore", "rrf"])
def test_hybrid_parity_three_stores(stores, fusion):
    """BM25 (standard analyzer) and fusion: Elasticsearch agrees with the local store and OpenSearch on the
    page, the dense scores and the BM25 scores."""
    clients = _clients(stores)
    lexical = LexicalSpec(weight=0.5, fusion=fusion)
    for query in QUERIES:
        pages = {
            name: {h.doc_id: h for h in c.search(query, k=10, lexical=lexical)} for name, c in clients.items()
        }
        for other in ("local", "opensearch"):
            a, b = pages[other], pages["elasticsearch"]
            assert len(set(a) & set(b)) >= 9, (fusion, query, other)
            for doc_id in set(a) & set(b):
                assert a[doc_id].dense_score == pytest.approx(b[doc_id].dense_score, abs=1e-5)
                if a[doc_id].lexical_score is not None and b[doc_id].lexical_score is not None:
                    assert a[doc_id].lexical_score == pytest.approx(b[doc_id].lexical_score, rel=1e-5)


def test_candidates_parity(stores):
    """`candidates`: one _msearch; field similarities from doc-value vectors equal the local store's."""
    config, encoders, by_name, docs = stores
    local, elastic = by_name["local"], by_name["elasticsearch"]
    q = SearchClient(local, config, encoders).embedder.embed("wireless mouse")
    q = {**q, "description": q["description"] * 0.5 + 0.5 * docs[3].vectors["title"]}  # two distinct vectors
    for weights in ({"title": 0.7, "description": 0.3}, {"title": 0.0, "description": 1.0}):
        for dense_score in ("sum", "fused"):
            lexical = LexicalQuery("wireless mouse", None, 20)
            a_dense, a_lex = local.candidates(q, weights, 20, lexical=lexical, dense_score=dense_score)
            b_dense, b_lex = elastic.candidates(
                q, weights, 20, lexical=lexical, dense_score=dense_score, pool=300
            )
            assert _ranked(a_dense, weights)[:15] == _ranked(b_dense, weights)[:15]
            assert [c.doc_id for c in a_lex][:15] == [c.doc_id for c in b_lex][:15]
            mine = {c.doc_id: c for c in (*a_lex, *a_dense)}
            for c in (*b_dense, *b_lex):
                if c.doc_id not in mine:
                    continue
                assert c.field_scores.keys() == mine[c.doc_id].field_scores.keys()
                assert c.field_scores == pytest.approx(mine[c.doc_id].field_scores, abs=1e-6)
                assert c.attributes == mine[c.doc_id].attributes
                if dense_score == "fused":
                    assert c.dots == pytest.approx(mine[c.doc_id].dots, abs=1e-6)
                if c.bm25 is not None and mine[c.doc_id].bm25 is not None:
                    assert c.bm25 == pytest.approx(mine[c.doc_id].bm25, rel=1e-5)


def test_one_request_per_search(stores, monkeypatch):
    clients = _clients(stores)
    client = clients["elasticsearch"]
    calls = []
    transport = client.store.client.transport
    perform = transport.perform_request

    def counting(method, target, *args, **kwargs):
        calls.append(f"{method} {target}")
        return perform(method, target, *args, **kwargs)

    monkeypatch.setattr(transport, "perform_request", counting)
    hits = client.search("usb cable", k=10, lexical=LexicalSpec(weight=0.3))
    assert len(hits) == 10 and all(h.field_scores and h.attributes for h in hits)
    assert len(calls) == 1 and "/_msearch" in calls[0], calls


def test_knn_raw_similarities_and_vectors(stores):
    """`knn` inverts max_inner_product's `_score` to the raw inner product (both signs); `vectors` returns
    the stored float32 vectors bit for bit."""
    _, _, by_name, docs = stores
    local, elastic = by_name["local"], by_name["elasticsearch"]
    layout = elastic.layout()
    for sign in (1.0, -1.0):
        q = query_vector(
            layout, {f: sign * v for f, v in docs[0].vectors.items()}, {"title": 0.7, "description": 0.3}
        )
        got = elastic.knn(q, 20)
        exact = dict(local.knn(q, 300))
        assert any(s < 0 for _, s in got) == (sign < 0)
        for doc_id, score in got:
            assert score == pytest.approx(exact[doc_id], abs=1e-5)
    ids = [d.doc_id for d in docs[:50]]
    mine, theirs = local.vectors(ids), elastic.vectors(ids)
    assert mine.keys() == theirs.keys()
    for doc_id in ids:
        assert mine[doc_id].keys() == theirs[doc_id].keys()
        for name, vec in mine[doc_id].items():
            assert (theirs[doc_id][name] == vec).all()
    assert elastic.attributes(ids[:3]) == local.attributes(ids[:3])
    assert elastic.texts(ids[:3]) == local.texts(ids[:3])


def test_missing_index_and_meta_mismatch(stores, elasticsearch_url):
    from gcl_search.stores.elasticsearch import ElasticsearchStore

    config, encoders, by_name, _ = stores
    with pytest.raises(IndexNotFound, match="gcl-search ingest"):
        SearchClient(ElasticsearchStore(elasticsearch_url, "no-such-index-gcl"), config, encoders)
    swapped = type(config)(
        encoders=config.encoders, fields=tuple(reversed(config.fields)), query_fields=config.query_fields
    )
    with pytest.raises(ConfigError, match="_meta|dense fields"):
        SearchClient(by_name["elasticsearch"], swapped, encoders)
