"""OpenSearchStore against a real node (marker `opensearch`; `opensearch_url` skips without one)."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pytest

from gcl_search.errors import StoreUnavailable
from gcl_search.records import Document
from gcl_search.search.client import candidate_scores
from gcl_search.stores.base import AttributeField, DenseField, IndexLayout, LayoutOptions, Range, Term
from gcl_search.stores.local import LocalStore

opensearch = pytest.importorskip("opensearchpy")
from gcl_search.stores.derived import concat_document, query_vector  # noqa: E402
from gcl_search.stores.opensearch import OpenSearchStore  # noqa: E402
from gcl_search.stores.opensearch_admin import create_versioned_index, swap_alias  # noqa: E402

pytestmark = pytest.mark.opensearch

LAYOUT = IndexLayout(
    (DenseField("title", 8, "m"), DenseField("desc", 4, "m")),
    ("title", "desc"),
    (AttributeField("price", "float"), AttributeField("brand")),
    LayoutOptions(per_field_vectors=True),
)
WORDS = ["red", "blue", "shoes", "hat", "leather", "wool", "cheap", "sport"]


def _docs(n: int, seed: int = 0) -> list[Document]:
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        t = rng.normal(size=8).astype(np.float32)
        vectors = {"title": t / np.linalg.norm(t)}
        if i % 3:  # every third document has no desc vector
            d = rng.normal(size=4).astype(np.float32)
            vectors["desc"] = d / np.linalg.norm(d)
        title = " ".join(rng.choice(WORDS, size=1 + i % 4))
        docs.append(
            Document(
                f"d{i:03d}",
                vectors,
                {"title": title, "desc": "plain item" if i % 2 else ""},
                {"price": float(10 * (i % 10)), "brand": "Acme" if i % 2 else "Zed"},
            )
        )
    return docs


class FailingBulkClient:
    """Wraps a real client; the first `fail_calls` bulk requests answer 429 for every other document."""

    def __init__(self, client, fail_calls: int):
        self._client, self.fail_calls, self.bulk_calls = client, fail_calls, 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def bulk(self, *args, body=None, **kwargs):
        self.bulk_calls += 1
        if self.bulk_calls > self.fail_calls:
            return self._client.bulk(*args, body=body, **kwargs)
        lines = body if isinstance(body, list) else body.splitlines()
        items, keep = [], []
        for i in range(0, len(lines), 2):
            meta = lines[i] if isinstance(lines[i], str) else lines[i].decode()
            doc_id = self._client.transport.serializer.loads(meta)["index"]["_id"]
            if (i // 2) % 2:
                items.append(
                    {
                        "index": {
                            "_id": doc_id,
                            "status": 429,
                            "error": {"type": "es_rejected_execution_exception", "reason": "busy"},
                        }
                    }
                )
            else:
                keep.extend(lines[i : i + 2])
                items.append(None)
        real = iter(self._client.bulk(*args, body=keep, **kwargs)["items"]) if keep else iter(())
        items = [item if item is not None else next(real) for item in items]
        return {"errors": True, "items": items, "took": 1}


@pytest.fixture
def client(opensearch_url):
    from opensearchpy import OpenSearch

    return OpenSearch(opensearch_url, timeout=60)


@pytest.fixture
def store(client):
    s = OpenSearchStore(client, f"gcl-test-{uuid.uuid4().hex[:8]}", initial_backoff=0.05, max_backoff=0.2)
    s.create(LAYOUT)
    yield s
    s.drop()


def test_create_records_layout_and_upsert_is_idempotent(store):
    assert OpenSearchStore(store.client, store.index).layout() == LAYOUT
    docs = _docs(40)
    with store.bulk_load():
        assert store.upsert(docs).indexed == 40
        report = store.upsert(docs[:10])
    assert report.indexed == 10 and not report.failed
    assert store.count() == 40
    settings = store.client.indices.get_settings(index=store.index)[store.index]["settings"]["index"]
    assert settings.get("refresh_interval") != "-1"


def test_raw_similarity_recovered_and_filters_inside_knn(store, tmp_path):
    docs = _docs(60)
    store.upsert(docs)
    store.refresh()
    rng = np.random.default_rng(1)
    q = {"title": rng.normal(size=8).astype(np.float32), "desc": rng.normal(size=4).astype(np.float32)}
    qv = query_vector(LAYOUT, {f: v / np.linalg.norm(v) for f, v in q.items()}, {"title": 0.6, "desc": 0.4})
    hits = store.knn(qv, k=10)
    exact = {d.doc_id: float(qv @ concat_document(LAYOUT, d)[0]) for d in docs}
    for doc_id, score in hits:
        assert score == pytest.approx(exact[doc_id], abs=1e-5)
    filtered = store.knn(qv, k=5, filters=[Term("brand", "Acme"), Range("price", gte=30)])
    assert len(filtered) == 5  # filters inside knn: still k hits
    allowed = {d.doc_id for d in docs if d.attributes["brand"] == "Acme" and d.attributes["price"] >= 30}
    assert {d for d, _ in filtered} <= allowed
    vecs = store.vectors(["d000", "d001"])
    assert set(vecs["d000"]) == {"title"} and set(vecs["d001"]) == {"title", "desc"}
    np.testing.assert_allclose(vecs["d001"]["desc"], docs[1].vectors["desc"], atol=1e-7)
    # parity: the local store on the same documents gives the same ranking and scores
    local = LocalStore(tmp_path / "local")
    local.create(LAYOUT)
    local.upsert(docs)
    local_hits = local.knn(qv, k=10)
    assert [d for d, _ in local_hits] == [d for d, _ in hits]
    np.testing.assert_allclose([s for _, s in local_hits], [s for _, s in hits], atol=1e-5)
    assert [d for d, _ in local.knn(qv, k=5, filters=[Term("brand", "Acme"), Range("price", gte=30)])] == [
        d for d, _ in filtered
    ]
    for text in ("red shoes", "wool hat leather", "plain"):
        os_lex, loc_lex = store.lexical(text, None, k=20), local.lexical(text, None, k=20)
        assert [d for d, _ in os_lex] == [d for d, _ in loc_lex]
        np.testing.assert_allclose([s for _, s in os_lex], [s for _, s in loc_lex], rtol=2e-2)


def test_429s_are_retried_until_every_document_lands(store):
    failing = FailingBulkClient(store.client, fail_calls=2)
    s = OpenSearchStore(failing, store.index, initial_backoff=0.01, max_backoff=0.05, chunk_size=20)
    report = s.upsert(_docs(20))
    assert report.indexed == 20 and not report.failed
    assert failing.bulk_calls == 3  # 20 docs -> 10 rejected -> 5 rejected -> all accepted
    store.refresh()
    assert store.count() == 20


def test_429s_past_the_retry_budget_are_reported(store):
    failing = FailingBulkClient(store.client, fail_calls=100)
    s = OpenSearchStore(failing, store.index, max_attempts=2, initial_backoff=0.01, max_backoff=0.02)
    report = s.upsert(_docs(8))
    assert report.indexed == 6  # 4 accepted on the first try, 2 of the 4 rejected on the second
    assert sorted(f.status for f in report.failed) == [429, 429]
    assert "gave up after 2 attempts" in report.failed[0].reason


def test_per_document_400_reported_while_good_documents_land(store):
    docs = _docs(5)
    bad = Document("bad", docs[0].vectors, {"title": "x"}, {"price": "not a number", "brand": "Zed"})
    report = store.upsert([*docs, bad])
    assert report.indexed == 5
    assert [(f.doc_id, f.status, f.stage) for f in report.failed] == [("bad", 400, "write")]
    assert "mapper_parsing_exception" in report.failed[0].reason


def test_alias_swap_keeps_search_working(client):
    alias = f"gcl-alias-{uuid.uuid4().hex[:8]}"
    v1 = create_versioned_index(client, alias, LAYOUT)
    try:
        v1.upsert(_docs(30, seed=1))
        v1.refresh()
        swap_alias(client, alias, v1.index)
        qv = query_vector(LAYOUT, {"title": np.eye(8, dtype=np.float32)[0]}, {"title": 1.0})
        through_alias = OpenSearchStore(client, alias)
        errors, counts, stop = [], [], threading.Event()

        def search_loop():
            while not stop.is_set():
                try:
                    counts.append(len(through_alias.knn(qv, k=5)))
                except Exception as err:  # noqa: BLE001 - any error during the swap fails the test below
                    errors.append(err)

        thread = threading.Thread(target=search_loop)
        thread.start()
        v2 = create_versioned_index(client, alias, LAYOUT)
        v2.upsert(_docs(30, seed=2))
        v2.refresh()
        assert v2.index.endswith("-v2")
        left = swap_alias(client, alias, v2.index, delete_old=True)
        stop.set()
        thread.join()
        assert left == [v1.index] and not errors and counts and min(counts) == 5
        assert list(client.indices.get_alias(name=alias)) == [v2.index]
    finally:
        client.indices.delete(index=f"{alias}-v*", ignore_unavailable=True)


def test_bulk_load_restores_settings_when_the_load_fails(store):
    store.client.indices.put_settings(index=store.index, body={"index": {"refresh_interval": "7s"}})
    with pytest.raises(RuntimeError), store.bulk_load():
        settings = store.client.indices.get_settings(index=store.index)[store.index]["settings"]["index"]
        assert settings["refresh_interval"] == "-1"
        raise RuntimeError("encoder crashed")
    settings = store.client.indices.get_settings(index=store.index)[store.index]["settings"]["index"]
    assert settings["refresh_interval"] == "7s" and settings["number_of_replicas"] == "0"


def test_cluster_down_during_write_raises_store_unavailable(store):
    from opensearchpy import OpenSearch

    dead = OpenSearchStore(
        OpenSearch("http://127.0.0.1:9", max_retries=0, timeout=2),
        store.index,
        max_attempts=2,
        initial_backoff=0.01,
        max_backoff=0.02,
    )
    dead._layout = LAYOUT
    with pytest.raises(StoreUnavailable, match="after 2 attempts"):
        dead.upsert(_docs(3))


def test_per_field_only_layout_returns_field_vectors(client):
    lay = IndexLayout(
        LAYOUT.dense_fields,
        LAYOUT.text_fields,
        LAYOUT.attributes,
        LayoutOptions(concat=False, per_field_vectors=True),
    )
    s = OpenSearchStore(client, f"gcl-test-{uuid.uuid4().hex[:8]}")
    s.create(lay)
    try:
        docs = _docs(6)
        s.upsert(docs)
        s.refresh()
        vecs = s.vectors(["d000", "d001"])
        assert set(vecs["d000"]) == {"title"} and set(vecs["d001"]) == {"title", "desc"}
        hits = s.knn(docs[1].vectors["desc"], k=1, target="desc")
        assert hits[0][0] == "d001" and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    finally:
        s.drop()


def test_preset_vector_search_matches_the_local_store_and_the_concatenated_vector(client, tmp_path):
    fields = tuple(DenseField(f, 8, "m") for f in ("title", "desc", "brand"))
    rng = np.random.default_rng(5)
    docs = []
    for i in range(60):
        # every fifth document has only a brand: its preset vector is all zeros (score 0 on the preset)
        names = ("brand",) if i % 5 == 0 else ("title", "desc", "brand") if i % 2 else ("title", "brand")
        vecs = {f: rng.normal(size=8).astype(np.float32) for f in names}
        docs.append(Document(f"p{i:02d}", {f: v / np.linalg.norm(v) for f, v in vecs.items()}))
    stores = {}
    for name, preset in (("plain", None), ("preset", {"title": 0.6, "desc": 0.4})):
        layout = IndexLayout(fields, options=LayoutOptions(preset_weights=preset))
        stores[name] = OpenSearchStore(client, f"gcl-test-{name}-{uuid.uuid4().hex[:8]}", ef_search=100)
        stores[name].create(layout)
        assert not stores[name].upsert(docs).failed
        stores[name].refresh()
        stores["local-" + name] = LocalStore(tmp_path / name)
        stores["local-" + name].create(layout)
        stores["local-" + name].upsert(docs)
    try:
        q = rng.normal(size=8).astype(np.float32)
        q /= np.linalg.norm(q)
        qv = {"title": q, "desc": q, "brand": q}
        names = [f.name for f in fields]
        for weights in (
            {"title": 0.6, "desc": 0.4},
            {"title": 0.3, "desc": 0.2, "brand": 0.0},
            {"title": 0.6, "desc": 0.4, "brand": 0.2},
        ):
            for method in ("fused", "sum"):
                got = {
                    name: s.candidates(qv, weights, 60, dense_score=method)[0] for name, s in stores.items()
                }
                want = {c.doc_id: c.field_scores for c in got["local-plain"]}
                exact = dict(zip(want, candidate_scores(got["local-plain"], weights, names, method)))
                for name, found in got.items():
                    where = (name, weights, method)
                    assert sorted(c.doc_id for c in found) == sorted(want), where
                    for c in found:
                        assert c.field_scores == pytest.approx(want[c.doc_id], abs=1e-5)
                    scores = candidate_scores(found, weights, names, method)
                    assert scores == pytest.approx([exact[c.doc_id] for c in found], abs=1e-5), where
                    # ranked the same by the exact score (brand-only documents score exactly 0, tied)
                    order = sorted(zip(found, scores), key=lambda cs: (-round(cs[1], 5), cs[0].doc_id))
                    assert [c.doc_id for c, _ in order] == sorted(
                        want, key=lambda d: (-round(exact[d], 5), d)
                    ), where
            # the preset vector at its own weights is exact for the fused score: no pool, knn order
            if weights == {"title": 0.6, "desc": 0.4}:
                top = stores["preset"].candidates(qv, weights, 10, dense_score="fused")[0]
                assert len(top) == 10
                plain = stores["local-plain"].candidates(qv, weights, 60, dense_score="fused")[0]
                fused = dict(zip((c.doc_id for c in plain), candidate_scores(plain, weights, names)))
                ranked = sorted(fused, key=lambda d: (-round(fused[d], 5), d))[:10]
                assert [c.doc_id for c in top] == ranked
    finally:
        for name in ("plain", "preset"):
            stores[name].drop()
