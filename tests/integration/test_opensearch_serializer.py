"""What VectorJSONSerializer sends lands bit-identical in a real node (marker `opensearch`)."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

pytest.importorskip("opensearchpy")
pytest.importorskip("orjson")
from gcl_search.records import Document  # noqa: E402
from gcl_search.stores.base import DenseField, IndexLayout, LayoutOptions  # noqa: E402
from gcl_search.stores.opensearch import OpenSearchStore  # noqa: E402
from gcl_search.stores.serializer import VectorJSONSerializer  # noqa: E402

pytestmark = pytest.mark.opensearch

LAYOUT = IndexLayout(
    (DenseField("title", 16, "m"), DenseField("desc", 8, "m")),
    ("title",),
    options=LayoutOptions(per_field_vectors=True),
)


def _docs(n: int) -> list[Document]:
    """Vectors whose float32 values need all 9 significant digits, over many exponents."""
    rng = np.random.default_rng(3)
    docs = []
    for i in range(n):
        vectors = {
            name: (rng.normal(size=dim) * 10.0 ** rng.integers(-12, 12, size=dim)).astype(np.float32)
            for name, dim in (("title", 16), ("desc", 8))
            if name == "title" or i % 2
        }
        docs.append(Document(f"d{i:03d}", vectors, {"title": f"item {i}"}, {}))
    return docs


@pytest.fixture
def store(opensearch_url):
    s = OpenSearchStore(opensearch_url, f"gcl-test-ser-{uuid.uuid4().hex[:8]}")
    s.create(LAYOUT)
    yield s
    s.drop()


def test_vectors_read_back_bit_identical(store):
    assert isinstance(store.client.transport.serializer, VectorJSONSerializer)
    docs = _docs(50)
    assert store.upsert(docs).indexed == 50
    store.refresh()
    got = store.vectors([d.doc_id for d in docs])
    for doc in docs:
        assert set(got[doc.doc_id]) == set(doc.vectors)
        for name, vec in doc.vectors.items():
            # the concatenated vector's slice (VECTORS_SCRIPT reads gcl_concat)
            np.testing.assert_array_equal(got[doc.doc_id][name].view(np.uint32), vec.view(np.uint32))


def test_field_similarities_are_those_of_the_exact_float32_vectors(store):
    docs = _docs(20)
    store.upsert(docs)
    store.refresh()
    rng = np.random.default_rng(4)
    q = {"title": rng.normal(size=16).astype(np.float32), "desc": rng.normal(size=8).astype(np.float32)}
    dense, _ = store.candidates(q, {"title": 0.5, "desc": 0.5}, depth=20)
    assert len(dense) == 20
    by_id = {d.doc_id: d for d in docs}
    for cand in dense:
        assert set(cand.field_scores) == set(by_id[cand.doc_id].vectors)
        for name, sim in cand.field_scores.items():
            # the painless loop's order: float32 stored value times the float32 query value, summed in double
            exact = 0.0
            for d, v in zip(by_id[cand.doc_id].vectors[name].tolist(), q[name].tolist()):
                exact += d * v
            assert sim == exact
