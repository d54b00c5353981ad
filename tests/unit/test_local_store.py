from __future__ import annotations

import json

import numpy as np
import pytest

from gcl_search.errors import ConfigError, IndexNotFound
from gcl_search.records import Document
from gcl_search.stores.base import (
    PRESET,
    AttributeField,
    DenseField,
    IndexLayout,
    LayoutOptions,
    Range,
    Term,
    VectorStore,
)
from gcl_search.stores.bm25 import analyze
from gcl_search.stores.derived import query_vector
from gcl_search.stores.local import LocalStore

LAYOUT = IndexLayout(
    (DenseField("title", 2, "m"), DenseField("desc", 2, "m")),
    ("title", "desc"),
    (AttributeField("price", "float"), AttributeField("brand"), AttributeField("stock", "boolean")),
    # zero blocks for absent fields: the knn tests below check the plain concat contract
    LayoutOptions(preset_weights={"title": 0.8, "desc": 0.2}, impute_missing=False),
)


def _v(x: float, y: float) -> np.ndarray:
    v = np.array([x, y], dtype=np.float32)
    return v / np.linalg.norm(v)


DOCS = [
    Document(
        "a",
        {"title": _v(1, 0), "desc": _v(0, 1)},
        {"title": "red shoes", "desc": "leather"},
        {"price": 50.0, "brand": "Acme", "stock": True},
    ),
    Document(
        "b",
        {"title": _v(0, 1), "desc": _v(1, 0)},
        {"title": "blue shoes shoes"},
        {"price": 150.0, "brand": "Zed", "stock": False},
    ),
    Document(
        "c",
        {"title": _v(1, 1)},
        {"title": "red hat", "desc": "wool hat"},
        {"price": 20.0, "brand": ["Acme", "Hat Co"]},
    ),
]


@pytest.fixture
def store(tmp_path) -> LocalStore:
    s = LocalStore(tmp_path / "store")
    s.create(LAYOUT)
    report = s.upsert(DOCS)
    assert report.indexed == 3 and not report.failed
    return s


def test_implements_protocol(store):
    assert isinstance(store, VectorStore)
    assert store.layout() == LAYOUT
    meta = json.loads((store.path / "meta.json").read_text())
    assert meta["gcl_search"]["dense_fields"][0]["name"] == "title"


def test_knn_raw_inner_product_is_weighted_field_sum(store):
    q = {"title": _v(1, 0), "desc": _v(1, 0)}
    w = {"title": 0.7, "desc": 0.3}
    hits = store.knn(query_vector(LAYOUT, q, w), k=3)
    # a: 0.7*1 + 0.3*0 = 0.7; b: 0.7*0 + 0.3*1 = 0.3; c: 0.7*(1/sqrt2) + desc absent = 0.4950
    assert [d for d, _ in hits] == ["a", "c", "b"]
    np.testing.assert_allclose([s for _, s in hits], [0.7, 0.7 / np.sqrt(2), 0.3], rtol=1e-6)


def test_knn_weight_zero_field_and_ties_break_by_id(store):
    hits = store.knn(query_vector(LAYOUT, {"desc": _v(1, 0)}, {"desc": 1.0, "title": 0.0}), k=3)
    # a: desc (0,1) -> 0; b: 1; c: no desc -> 0. a and c tie at 0: doc_id order.
    assert hits == [("b", pytest.approx(1.0)), ("a", pytest.approx(0.0)), ("c", pytest.approx(0.0))]


def test_vectors_leave_absent_fields_out(store):
    vecs = store.vectors(["c", "a", "missing"])
    assert set(vecs) == {"a", "c"}
    assert set(vecs["c"]) == {"title"}
    np.testing.assert_allclose(vecs["a"]["desc"], _v(0, 1))


def test_filters_apply_before_ranking(store):
    q = query_vector(LAYOUT, {"title": _v(1, 0)}, {"title": 1.0})
    assert [d for d, _ in store.knn(q, k=1, filters=[Range("price", gte=100)])] == ["b"]
    assert [d for d, _ in store.knn(q, k=3, filters=[Term("brand", "Acme")])] == ["a", "c"]  # c: a list
    assert [d for d, _ in store.knn(q, k=3, filters=[Term("stock", True)])] == ["a"]
    assert store.knn(q, k=3, filters=[Term("brand", "Acme"), Range("price", lt=30)])[0][0] == "c"
    with pytest.raises(ConfigError, match="not a filterable attribute"):
        store.knn(q, k=3, filters=[Term("colour", "red")])
    with pytest.raises(ConfigError, match="range filter on 'brand'"):
        store.knn(q, k=3, filters=[Range("brand", gte=1)])


def test_per_field_and_preset_targets(store):
    assert [d for d, _ in store.knn(_v(1, 0), k=3, target="desc")] == ["b", "a"]  # c has no desc
    fused = store.knn(_v(1, 0), k=3, target=PRESET)
    # a: normalize(0.8*(1,0) + 0.2*(0,1)) . (1,0) = 0.8/|(0.8,0.2)|; c: title alone (1,1)/sqrt2; b: 0.2/...
    norm = np.hypot(0.8, 0.2)
    assert [d for d, _ in fused] == ["a", "c", "b"]
    np.testing.assert_allclose([s for _, s in fused], [0.8 / norm, 1 / np.sqrt(2), 0.2 / norm], rtol=1e-6)


def test_upsert_is_idempotent_and_replaces(store):
    store.upsert(DOCS)
    changed = Document("a", {"title": _v(0, 1)}, {"title": "green"}, {"price": 1.0})
    store.upsert([changed])
    assert store.count() == 3
    assert set(store.vectors(["a"])["a"]) == {"title"}
    assert store.attributes(["a"]) == {"a": {"price": 1.0}}
    reopened = LocalStore(store.path)
    assert reopened.count() == 3 and reopened.texts(["a"]) == {"a": {"title": "green"}}


def test_bad_documents_are_reported_and_the_rest_written(tmp_path):
    s = LocalStore(tmp_path / "s")
    s.create(LAYOUT)
    bad = [
        Document("w", {"title": np.ones(3, dtype=np.float32)}),
        Document("p", {"title": _v(1, 0)}, attributes={"price": "cheap"}),
        Document("", {"title": _v(1, 0)}),
    ]
    report = s.upsert([*bad, DOCS[0]])
    assert report.indexed == 1 and s.count() == 1
    assert [(f.doc_id, f.stage) for f in report.failed] == [("w", "write"), ("p", "write"), (None, "write")]
    assert "shape (3,)" in report.failed[0].reason and "'price'" in report.failed[1].reason


def test_bulk_load_compacts_segments_also_on_failure(tmp_path):
    s = LocalStore(tmp_path / "s")
    s.create(LAYOUT)
    with pytest.raises(RuntimeError), s.bulk_load():
        for doc in DOCS:
            s.upsert([doc])
        assert len(list(s.path.glob("seg-*.npz"))) == 3
        raise RuntimeError("interrupted")
    assert len(list(s.path.glob("seg-*.npz"))) == 1
    assert LocalStore(s.path).count() == 3


def test_lexical_bm25_lucene_formula(store):
    hits = dict(store.lexical("shoes", ["title"], k=10))
    # title field: N=3, df(shoes)=2, avgdl=(2+3+2)/3; idf=ln(1+(3-2+.5)/(2+.5))
    idf, avgdl = np.log(1 + 1.5 / 2.5), 7 / 3

    def tfc(tf, dl):
        return 2.2 * tf / (tf + 1.2 * (0.25 + 0.75 * dl / avgdl))  # OpenSearch keeps the (k1 + 1) factor

    assert set(hits) == {"a", "b"}
    assert hits["a"] == pytest.approx(idf * tfc(1, 2), rel=1e-5)
    assert hits["b"] == pytest.approx(idf * tfc(2, 3), rel=1e-5)


def test_lexical_sums_fields_counts_only_docs_with_the_field_and_filters(store):
    hits = store.lexical("hat", None, k=10)
    assert [d for d, _ in hits] == ["c"]
    # desc exists in a and c only: N=2, df=1 -> idf=ln(1+1.5/1.5); dl=2=avgdl(1,2 -> 1.5)? avgdl=(1+2)/2
    desc = np.log(2) * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 2 / 1.5))
    title = np.log(1 + 2.5 / 1.5) * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 2 / (7 / 3)))
    assert hits[0][1] == pytest.approx(desc + title, rel=1e-5)
    assert store.lexical("red", ["title"], k=10, filters=[Range("price", lt=30)]) == [
        ("c", pytest.approx(dict(store.lexical("red", ["title"], k=10))["c"]))
    ]
    with pytest.raises(ConfigError, match="not a text field"):
        store.lexical("x", ["brand"], k=3)


def test_analyzer_keeps_numbers_and_words_whole():
    assert analyze("USB-C 3.5mm Don't 1,000 a,b") == ["usb", "c", "3.5mm", "don't", "1,000", "a", "b"]


def test_missing_store_and_existing_store(tmp_path):
    with pytest.raises(IndexNotFound, match="create it"):
        LocalStore(tmp_path / "nope").count()
    s = LocalStore(tmp_path / "s")
    s.create(LAYOUT)
    with pytest.raises(ConfigError, match="exists already"):
        s.create(LAYOUT)
    s.create(LAYOUT, exist_ok=True)
    other = IndexLayout(
        (DenseField("title", 3, "m"), DenseField("desc", 2, "m")), LAYOUT.text_fields, LAYOUT.attributes
    )
    with pytest.raises(Exception, match="dimension 2 in the index but 3"):
        s.create(other, exist_ok=True)
    s.drop()
    assert not s.exists()


def test_candidates_carry_exact_field_similarities_attributes_and_bm25(store):
    from gcl_search.stores.base import LexicalQuery

    q = {"title": _v(1, 0), "desc": _v(1, 0)}
    dense, lex = store.candidates(q, {"title": 0.7, "desc": 0.3}, 2, lexical=LexicalQuery("hat", None, 5))
    assert [c.doc_id for c in dense] == ["a", "c"] and [c.doc_id for c in lex] == ["c"]
    a, c = dense
    assert a.field_scores == pytest.approx({"title": 1.0, "desc": 0.0}) and a.bm25 is None
    assert c.field_scores == pytest.approx({"title": 1 / np.sqrt(2)})  # no desc: no score, no contribution
    assert c.bm25 == pytest.approx(lex[0].bm25) and c.bm25 > 0
    assert a.attributes == {"price": 50.0, "brand": "Acme", "stock": True}
    # weight 0 everywhere: no dense search; a weight-0 field is still scored; attributes can be skipped
    dense, lex = store.candidates(
        q, {"title": 0.0, "desc": 0.0}, 2, attributes=False, lexical=LexicalQuery("shoes", ("title",), 5)
    )
    assert dense == [] and [x.doc_id for x in lex] == ["b", "a"]
    assert lex[0].field_scores == pytest.approx({"title": 0.0, "desc": 1.0}) and lex[0].attributes == {}


def test_preset_vector_finds_what_the_concatenated_vector_finds(tmp_path):
    from dataclasses import replace

    rng = np.random.default_rng(3)
    docs = [
        Document(f"d{i:02d}", {f: _v(*rng.normal(size=2)) for f in ("title", "desc") if rng.random() < 0.8})
        for i in range(40)
    ]
    stores = {}
    for name, preset in (("plain", None), ("preset", {"title": 0.8, "desc": 0.2})):
        stores[name] = LocalStore(tmp_path / name)
        stores[name].create(replace(LAYOUT, options=LayoutOptions(preset_weights=preset)))
        stores[name].upsert(docs)
    q = _v(0.3, -1)
    for weights in ({"title": 0.8, "desc": 0.2}, {"title": 0.4, "desc": 0.1}, {"title": 0.5, "desc": 0.5}):
        got = {name: s.candidates({"title": q, "desc": q}, weights, 10) for name, s in stores.items()}
        assert [c.doc_id for c in got["preset"][0]] == [c.doc_id for c in got["plain"][0]]
        assert [c.field_scores for c in got["preset"][0]] == [c.field_scores for c in got["plain"][0]]
    # the preset target scores q . normalize(sum_f a_f d_f); every document has one (zeros without the fields)
    hits = dict(stores["preset"].knn(q, 40, target="_preset"))
    assert len(hits) == 40
    for doc in docs:
        total = sum(
            (a * doc.vectors[f] for f, a in (("title", 0.8), ("desc", 0.2)) if f in doc.vectors), np.zeros(2)
        )
        norm = np.linalg.norm(total)
        assert hits[doc.doc_id] == pytest.approx(float(q @ total) / norm if norm else 0.0, abs=1e-6)
