"""ElasticsearchStore on a real node: alias swap, int8_hnsw, per-document failures, retries of 429 / 5xx
(injected), and credentials kept out of messages."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from gcl_search.errors import StoreUnavailable
from gcl_search.records import Document
from gcl_search.stores.base import AttributeField, DenseField, IndexLayout, LayoutOptions, Range, Term
from gcl_search.stores.local import LocalStore

pytestmark = pytest.mark.elasticsearch
DIM = 16


def _layout(**options) -> IndexLayout:
    return IndexLayout(
        (DenseField("title", DIM, "m"), DenseField("description", DIM, "m")),
        ("title",),
        (AttributeField("price", "float"), AttributeField("brand")),
        LayoutOptions(**options),
    )


def _docs(n=400, seed=0) -> list[Document]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        vecs = {
            f: rng.normal(size=DIM).astype(np.float32)
            for f in ("title", "description")
            if f == "title" or i % 3
        }
        vecs = {f: v / np.linalg.norm(v) for f, v in vecs.items()}
        out.append(
            Document(
                f"d{i:04d}",
                vecs,
                {"title": f"product {i} {'usb' if i % 5 == 0 else 'hdmi'}"},
                {"price": float(i % 50), "brand": "HP" if i % 2 else "Dell"},
            )
        )
    return out


@pytest.fixture
def es(elasticsearch_url):
    from gcl_search.stores.elasticsearch import ElasticsearchStore

    made = []

    def make(index=None, **kwargs):
        store = ElasticsearchStore(elasticsearch_url, index or f"test-es-{uuid.uuid4().hex[:8]}", **kwargs)
        made.append(store)
        return store

    yield make
    for store in made:  # the node refuses wildcard deletes (action.destructive_requires_name)
        names = store.client.indices.get(index=f"{store.index}*", allow_no_indices=True)
        if names:
            store.client.indices.delete(index=",".join(names))


def test_alias_swap_and_versioned_index(es):
    from gcl_search.stores.engines import create_versioned_index, swap_alias

    base = es()
    alias = base.index
    v1 = create_versioned_index(base, alias, _layout())
    v1.upsert(_docs(20))
    assert swap_alias(v1, alias, v1.index) == []
    v2 = create_versioned_index(base, alias, _layout())
    assert v2.index == f"{alias}-v2"
    v2.upsert(_docs(30))
    v2.refresh()
    assert swap_alias(v2, alias, v2.index, delete_old=True) == [v1.index]
    assert base.with_index(alias).count() == 30 and not v1.exists()
    assert [s.name for s in base.with_index(alias).summaries()] == [v2.index]


@pytest.mark.parametrize("index_type", ["hnsw", "int8_hnsw"])
def test_filters_and_exact_candidates(es, tmp_path, index_type):
    """Filters inside the knn keep k hits; candidates' similarities are exact also under int8_hnsw (from
    the raw vectors in doc values); int8's knn recall is measured against exact search."""
    docs, layout = _docs(), _layout()
    remote, local = es(index_type=index_type), LocalStore(tmp_path / "s")
    for store in (remote, local):
        store.create(layout)
        assert not store.upsert(docs).failed
        store.refresh()
    assert remote.engine_meta()["gcl_search_es"]["index_type"] == index_type
    rng = np.random.default_rng(1)
    recall = []
    for _ in range(20):
        q = {f: rng.normal(size=DIM).astype(np.float32) for f in ("title", "description")}
        w = {"title": 0.6, "description": 0.4}
        filters = [Range("price", lte=20.0), Term("brand", "HP")]
        a, _ = local.candidates(q, w, 10, filters, dense_score="fused")
        b, _ = remote.candidates(q, w, 10, filters, dense_score="fused")
        assert len(b) == 10 and all(c.attributes["brand"] == "HP" and c.attributes["price"] <= 20 for c in b)
        mine = {c.doc_id: c for c in a}
        recall.append(len(mine.keys() & {c.doc_id for c in b}) / 10)
        for c in b:
            if c.doc_id in mine:
                assert c.field_scores == pytest.approx(mine[c.doc_id].field_scores, abs=1e-6)
    assert np.mean(recall) >= (0.99 if index_type == "hnsw" else 0.9), recall


def test_failed_documents_and_bulk_retries(es, monkeypatch):
    from gcl_search.stores import elasticsearch_writes

    store = es(initial_backoff=0.01)
    store.create(_layout())
    docs = _docs(10)
    bad_dim = Document("bad-dim", {"title": np.ones(3, dtype=np.float32)}, {}, {})
    bad_attr = Document("bad-attr", docs[0].vectors, {}, {"price": "not a number"})
    real = elasticsearch_writes.helpers.streaming_bulk
    attempts = []

    def flaky(client, actions, **kwargs):  # the first attempt: every item answered 429
        attempts.append(len(actions))
        if len(attempts) == 1:
            for a in actions:
                yield False, {"index": {"_id": a["_id"], "status": 429, "error": {"type": "es_rejected"}}}
            return
        yield from real(client, actions, **kwargs)

    monkeypatch.setattr(elasticsearch_writes.helpers, "streaming_bulk", flaky)
    report = store.upsert([*docs, bad_dim, bad_attr])
    assert report.indexed == 10 and len(attempts) == 2
    failed = {f.doc_id: f for f in report.failed}
    assert set(failed) == {"bad-dim", "bad-attr"} and failed["bad-attr"].status == 400


def test_read_retries_then_gives_up(es, monkeypatch):
    from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
    from elasticsearch import ApiError

    store = es()
    store.create(_layout())
    store.upsert(_docs(10))
    store.refresh()
    meta = ApiResponseMeta(503, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "127.0.0.1", 9))
    real, calls = store.client.msearch, []

    def failing_once(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ApiError("unavailable", meta, {"error": {"type": "unavailable", "reason": "busy"}})
        return real(**kwargs)

    monkeypatch.setattr(store.client, "msearch", failing_once)
    q = {"title": np.ones(DIM, dtype=np.float32) / 4}
    dense, _ = store.candidates(q, {"title": 1.0}, 5)
    assert len(dense) == 5 and len(calls) == 2
    monkeypatch.setattr(
        store.client,
        "msearch",
        lambda **kw: (_ for _ in ()).throw(
            ApiError("unavailable", meta, {"error": {"type": "unavailable", "reason": "busy"}})
        ),
    )
    with pytest.raises(StoreUnavailable, match="503"):
        store.candidates(q, {"title": 1.0}, 5)


def test_credentials_never_in_messages(monkeypatch):
    from gcl_search.stores.elasticsearch import ElasticsearchStore

    monkeypatch.setenv("ELASTICSEARCH_PASSWORD", "s3cret-pw")
    monkeypatch.setenv("ELASTICSEARCH_USERNAME", "elastic")
    with pytest.raises(StoreUnavailable) as err:
        ElasticsearchStore("http://127.0.0.1:9", "x", timeout=1, max_retries=0)
    assert "s3cret-pw" not in str(err.value) and "127.0.0.1:9" in str(err.value)
    with pytest.raises(StoreUnavailable) as err:
        ElasticsearchStore("http://elastic:in-url-pw@127.0.0.1:9", "x", timeout=1, max_retries=0)
    assert "in-url-pw" not in str(err.value) and "***@127.0.0.1:9" in str(err.value)
