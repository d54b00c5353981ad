from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gcl_search.errors import ConfigError, DimensionMismatch
from gcl_search.records import Document
from gcl_search.stores import opensearch_bodies as bodies
from gcl_search.stores import opensearch_mapping as mapping
from gcl_search.stores import opensearch_scripts as scripts
from gcl_search.stores.base import (
    PRESET,
    AttributeField,
    DenseField,
    IndexLayout,
    LayoutOptions,
    LexicalQuery,
    Range,
    Term,
)
from gcl_search.stores.knn import OpenSearchOptions

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
LAYOUT = IndexLayout(
    (DenseField("title", 3, "m"), DenseField("desc", 3, "m")),
    ("title",),
    (AttributeField("price", "float"), AttributeField("n", "integer"), AttributeField("brand")),
)


def icecat_layout() -> IndexLayout:
    """The layout of mappings/icecat-minilm.template.json (see mappings/README.md)."""
    return IndexLayout(
        (DenseField("title", 384, "minilm"), DenseField("description", 384, "minilm")),
        ("title", "name", "brand", "description"),
        (AttributeField("price", "float"), AttributeField("brand"), AttributeField("colour")),
        LayoutOptions(analyzer="english", catch_all=True),
    )


def test_index_body_is_lucene_innerproduct_with_layout_meta():
    body = mapping.build_index_body(LAYOUT)
    assert body["settings"]["index"]["knn"] is True
    mappings = body["mappings"]
    concat = mappings["properties"]["gcl_concat"]
    assert concat["dimension"] == 6 and concat["space_type"] == "innerproduct"
    assert concat["method"]["engine"] == "lucene"
    assert IndexLayout.from_meta(mappings["_meta"]["gcl_search"]) == LAYOUT
    assert mappings["dynamic"] == "strict"
    assert mappings["properties"]["attr"]["properties"] == {
        "price": {"type": "float"},
        "n": {"type": "long"},
        "brand": {"type": "keyword"},
    }
    assert mappings["properties"]["text"]["properties"] == {"title": {"type": "text", "analyzer": "standard"}}
    assert "vec" not in mappings["properties"] and "gcl_fused" not in mappings["properties"]


def test_optional_vectors_and_native_engine_opt_in():
    lay = IndexLayout(
        LAYOUT.dense_fields, options=LayoutOptions(per_field_vectors=True, opensearch=OpenSearchOptions(m=32))
    )
    props = mapping.build_mappings(lay)["properties"]
    assert props["vec"]["properties"]["desc"]["dimension"] == 3
    assert props["gcl_concat"]["method"]["parameters"]["m"] == 32
    faiss = IndexLayout(
        LAYOUT.dense_fields, options=LayoutOptions(opensearch=OpenSearchOptions(engine="faiss"))
    )
    props = mapping.build_index_body(faiss)["mappings"]["properties"]
    assert props["gcl_concat"]["method"]["engine"] == "faiss"


def test_bulk_action_has_explicit_id_concat_and_present_fields():
    v = np.array([0.6, 0.8, 0.0], dtype=np.float32)
    doc = Document("p-1", {"desc": v}, {"title": "Red", "desc": ""}, {"price": 9.5})
    action = mapping.to_bulk_action(doc, "idx", LAYOUT)
    assert action["_id"] == "p-1" and action["_index"] == "idx" and action["_op_type"] == "index"
    src = action["_source"]
    assert src["gcl_concat"].dtype == np.float32  # left to the serializer (see test_serializer.py)
    # the absent title's block is the unit mean of the present fields (here: desc itself): candidate recall
    np.testing.assert_array_equal(src["gcl_concat"], np.array([0.6, 0.8, 0, 0.6, 0.8, 0], dtype=np.float32))
    assert src["gcl_present"] == ["desc"]
    legacy = IndexLayout(LAYOUT.dense_fields, options=LayoutOptions(impute_missing=False))
    np.testing.assert_array_equal(
        mapping.to_bulk_action(doc, "idx", legacy)["_source"]["gcl_concat"],
        np.array([0, 0, 0, 0.6, 0.8, 0], dtype=np.float32),
    )
    assert src["text"] == {"title": "Red"} and src["attr"] == {"price": 9.5}


def test_id_tiebreak_maps_writes_and_sorts_by_the_document_id():
    """BM25 ties are ordered by id on every shard copy, so a promoted replica returns the same list."""
    doc = Document("p-1", {"desc": np.array([0.6, 0.8, 0.0], dtype=np.float32)}, {"title": "Red"})
    assert mapping.build_mappings(LAYOUT)["properties"]["gcl_id"] == {
        "type": "keyword",
        "index": False,
        "doc_values": True,
    }
    assert mapping.to_bulk_action(doc, "idx", LAYOUT)["_source"]["gcl_id"] == "p-1"
    body = bodies.build_candidate_lexical_query(LAYOUT, LexicalQuery("red", None, 5))
    assert body["sort"] == [{"_score": "desc"}, {"gcl_id": "asc"}]
    # an index written before the option: no field to write (the mapping is strict) and none to sort on
    legacy = IndexLayout.from_meta(
        {
            **LAYOUT.to_meta(),
            "options": {k: v for k, v in LAYOUT.to_meta()["options"].items() if k != "id_tiebreak"},
        }
    )
    assert legacy.options.id_tiebreak is False
    assert "gcl_id" not in mapping.build_mappings(legacy)["properties"]
    assert "gcl_id" not in mapping.to_bulk_action(doc, "idx", legacy)["_source"]
    assert "sort" not in bodies.build_candidate_lexical_query(legacy, LexicalQuery("red", None, 5))


def test_bulk_action_refuses_bad_documents():
    with pytest.raises(DimensionMismatch, match="'p-2'"):
        mapping.to_bulk_action(Document("p-2", {"title": np.ones(2)}), "idx", LAYOUT)
    with pytest.raises(ConfigError, match="non-empty"):
        mapping.to_bulk_action(Document("", {}), "idx", LAYOUT)


def test_knn_query_single_clause_with_filters_inside():
    q = np.arange(6, dtype=np.float32)
    body = bodies.build_knn_query(LAYOUT, q, 30, [Term("brand", ("A", "B")), Range("price", gte=1, lt=5)])
    clause = body["query"]["knn"]["gcl_concat"]
    assert body["size"] == 30 and clause["k"] == 30 and clause["vector"] == list(range(6))
    assert clause["method_parameters"] == {"ef_search": OpenSearchOptions().ef_search}
    assert clause["filter"] == {
        "bool": {
            "filter": [{"terms": {"attr.brand": ["A", "B"]}}, {"range": {"attr.price": {"gte": 1, "lt": 5}}}]
        }
    }
    assert bodies.build_knn_query(LAYOUT, q, 500, ef_search=50)["query"]["knn"]["gcl_concat"][
        "method_parameters"
    ] == {"ef_search": 500}
    with pytest.raises(ConfigError, match="not stored"):
        bodies.build_knn_query(LAYOUT, q[:3], 5, target=PRESET)


def test_lexical_query_sums_one_match_per_field():
    body = bodies.build_lexical_query("red shoes", ["title", "desc"], 7, [Term("brand", "A")])
    assert body["query"]["bool"]["should"] == [
        {"match": {"text.title": "red shoes"}},
        {"match": {"text.desc": "red shoes"}},
    ]
    assert body["query"]["bool"]["filter"] == [{"terms": {"attr.brand": ["A"]}}]
    assert body["size"] == 7


def test_mappings_folder_template_is_in_sync():
    """mappings/icecat-minilm.template.json is the rendered template (regenerate: mappings/README.md)."""
    rendered = mapping.build_index_template(icecat_layout(), ["icecat-*"])
    on_disk = json.loads((MAPPINGS / "icecat-minilm.template.json").read_text())
    assert on_disk == rendered


def test_redact_url_hides_credentials():
    from gcl_search.stores.connection import redact_url, scrub

    assert redact_url("https://admin:pw@search.example.com:9200/x") == "https://***@search.example.com:9200/x"
    assert redact_url("http://127.0.0.1:9200") == "http://127.0.0.1:9200"
    assert scrub("auth pw failed for pw", ["pw", ""]) == "auth *** failed for ***"


def test_connect_reads_env_and_verifies_tls_by_default(monkeypatch):
    pytest.importorskip("opensearchpy")
    from gcl_search.stores.connection import connect

    monkeypatch.setenv("OPENSEARCH_API_KEY", "key-123")
    client, where, secrets = connect("https://search.example.com")
    conn = client.transport.connection_pool.connections[0]
    assert where == "https://search.example.com" and secrets == ["key-123"]
    assert conn.use_ssl and conn.port == 443 and conn.headers["authorization"] == "ApiKey key-123"
    assert conn.pool.cert_reqs == "CERT_REQUIRED"
    with pytest.raises(ConfigError, match=r"both basic auth and an API key.*\*\*\*@search"):
        connect("https://u:secret@search.example.com")


def test_unreachable_cluster_error_names_redacted_url_only():
    pytest.importorskip("opensearchpy")
    from gcl_search.errors import StoreUnavailable
    from gcl_search.stores.opensearch import OpenSearchStore

    with pytest.raises(StoreUnavailable) as info:
        OpenSearchStore("http://admin:s3cret-pw@127.0.0.1:9/", "x", timeout=2, max_retries=0)
    assert "s3cret-pw" not in str(info.value) and "***@127.0.0.1:9" in str(info.value)


def test_candidate_searches_return_field_similarities_and_attributes_in_one_msearch():

    q = np.array([1, 0, 0], dtype=np.float32)
    qv = {"title": q, "desc": q.copy()}
    searches = bodies.build_candidate_searches(
        LAYOUT,
        qv,
        {"title": 0.7, "desc": 0.3},
        30,
        [Term("brand", "A")],
        ef_search=400,
        lexical=LexicalQuery("red", ("title",), 40),
    )
    knn, lex = searches
    clause = knn["query"]["knn"]["gcl_concat"]
    # LAYOUT imputes absent blocks, so even a "sum" request rescores a pool of rescore_depth (200)
    assert clause["vector"] == pytest.approx([0.7, 0, 0, 0.3, 0, 0]) and clause["k"] == 200
    assert clause["method_parameters"] == {"ef_search": 400} and "filter" in clause
    assert lex["size"] == 40 and lex["query"]["bool"]["filter"] == [{"terms": {"attr.brand": ["A"]}}]
    for body in searches:
        assert body["_source"] == {"includes": ["attr"]}
        params = body["script_fields"][scripts.SIMS]["script"]["params"]
        # one encoder: the query vector is sent once, each field points at it and at its slice of gcl_concat
        assert params == {
            "names": ["title", "desc"],
            "fields": ["gcl_concat", "gcl_concat"],
            "offsets": [0, 3],
            "qi": [0, 0],
            "q": [[1.0, 0.0, 0.0]],
            "dims": [3, 3],
            "dot": [False, False],
        }
    # no weight > 0: only the lexical search; a zero query vector (no image, say) gets no field score
    only_lex = bodies.build_candidate_searches(
        LAYOUT,
        {"title": q, "desc": np.zeros(3, np.float32)},
        {"title": 0.0, "desc": 0.0},
        30,
        attributes=False,
        lexical=LexicalQuery("red", None, 30),
    )
    assert len(only_lex) == 1 and only_lex[0]["_source"] is False
    assert "knn" not in json.dumps(only_lex[0]["query"])
    assert only_lex[0]["script_fields"][scripts.SIMS]["script"]["params"]["names"] == ["title"]


def test_candidate_search_uses_the_preset_vector_for_its_weights_with_its_own_beam():
    layout = IndexLayout(
        LAYOUT.dense_fields, ("title",), options=LayoutOptions(preset_weights={"title": 0.7, "desc": 0.3})
    )
    assert mapping.build_mappings(layout)["properties"]["gcl_preset"]["dimension"] == 3
    doc = Document("d", {"title": np.array([1, 0, 0], np.float32), "desc": np.array([0, 1, 0], np.float32)})
    # the seed's fused unit vector normalize(0.7 title + 0.3 desc)
    fused = np.array([0.7, 0.3, 0]) / np.hypot(0.7, 0.3)
    assert mapping.to_bulk_action(doc, "i", layout)["_source"]["gcl_preset"] == pytest.approx(fused)
    q = np.array([0, 1, 0], dtype=np.float32)
    qv = {"title": q, "desc": q}
    (knn,) = bodies.build_candidate_searches(layout, qv, {"title": 1.4, "desc": 0.6}, 10, dense_score="fused")
    clause = knn["query"]["knn"]["gcl_preset"]
    # exact for the fused score: no rescoring pool, the page itself; the query is q (the score is scale-free)
    assert clause["vector"] == pytest.approx([0, 1, 0]) and clause["method_parameters"] == {"ef_search": 200}
    assert clause["k"] == 10 and knn["script_fields"][scripts.SIMS]["script"]["params"]["dot"] == [True, True]
    # other weights: the concatenated vector, a pool of rescore_depth (or the request's own pool)
    (knn,) = bodies.build_candidate_searches(layout, qv, {"title": 0.5, "desc": 0.5}, 10, dense_score="fused")
    assert knn["query"]["knn"]["gcl_concat"]["k"] == 200 and knn["size"] == 10
    # the node ranks the pool by the fused score (a rescore window) and fetches only the page
    rescore = knn["rescore"]
    assert rescore["window_size"] == 200 and rescore["query"]["query_weight"] == 0.0
    params = rescore["query"]["rescore_query"]["script_score"]["script"]["params"]
    assert params["w"] == [0.5, 0.5] and params["fused"] is True and params["qi"] == [0, 0]
    (knn,) = bodies.build_candidate_searches(
        layout, qv, {"title": 0.5, "desc": 0.5}, 10, dense_score="fused", pool=50
    )
    assert knn["query"]["knn"]["gcl_concat"]["k"] == 50
    # a "sum" request on the fused preset's weights: the preset's candidates, a pool rescored by the sum
    (knn,) = bodies.build_candidate_searches(layout, qv, {"title": 1.4, "desc": 0.6}, 10)
    assert knn["query"]["knn"]["gcl_preset"]["k"] == 200 and knn["size"] == 10
    (knn,) = bodies.build_candidate_searches(
        layout, qv, {"title": 1.4, "desc": 0.6}, 10, ef_search=50, dense_score="fused"
    )
    assert knn["query"]["knn"]["gcl_preset"]["method_parameters"] == {"ef_search": 50}
    (knn,) = bodies.build_candidate_searches(layout, qv, {"title": 0.5, "desc": 0.5}, 10)
    assert knn["query"]["knn"]["gcl_concat"]["method_parameters"] == {"ef_search": 1600}


def test_field_similarity_script_reads_per_field_vectors_without_concat():
    layout = IndexLayout(LAYOUT.dense_fields, options=LayoutOptions(concat=False, per_field_vectors=True))
    params = scripts.field_sims_script(layout, {"title": np.ones(3), "desc": np.arange(3)})[scripts.SIMS][
        "script"
    ]["params"]
    assert params["fields"] == ["vec.title", "vec.desc"] and params["offsets"] == [0, 0]
    assert params["qi"] == [0, 1] and params["q"] == [[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]]
    # a field with weight but no query vector (no query image, say) is read for the fused score's norm only
    params = scripts.field_sims_script(layout, {"title": np.ones(3), "desc": np.zeros(3)}, ("title", "desc"))[
        scripts.SIMS
    ]["script"]["params"]
    assert params["names"] == ["title", "desc"] and params["qi"] == [0, -1] and params["dot"] == [True, True]


def test_parse_field_sims_reads_similarities_and_dot_products():
    hit = {
        "fields": {
            scripts.SIMS: [
                {"s": {"title": 0.5}, "d": {"title": {"title": 1.0, "desc": 0.25}, "desc": {"desc": 1.0}}}
            ]
        }
    }
    assert scripts.parse_field_sims(hit) == (
        {"title": 0.5},
        {("title", "title"): 1.0, ("title", "desc"): 0.25, ("desc", "desc"): 1.0},
    )
    only_sims = {"fields": {scripts.SIMS: [{"s": {"title": 0.5}}]}}
    assert scripts.parse_field_sims(only_sims) == ({"title": 0.5}, None)


def test_vectors_stay_out_of_source_and_are_read_from_doc_values():
    assert mapping.build_mappings(LAYOUT)["_source"] == {
        "excludes": ["gcl_concat", "gcl_preset", "gcl_id", "vec.*"]
    }
    body = bodies.build_vectors_query(LAYOUT, ["a", "b"])
    assert body["query"] == {"ids": {"values": ["a", "b"]}} and body["size"] == 2 and body["_source"] is False
    params = body["script_fields"][scripts.VECTORS]["script"]["params"]
    assert params == {
        "names": ["title", "desc"],
        "fields": ["gcl_concat", "gcl_concat"],
        "offsets": [0, 3],
        "dims": [3, 3],
    }


class _MsearchClient:
    """Answers every `_msearch` with the given per-search responses (what a cluster does inside HTTP 200)."""

    def __init__(self, responses):
        self.responses, self.calls = responses, 0

    def msearch(self, index, body):
        self.calls += 1
        return {"responses": self.responses}


@pytest.mark.parametrize(
    "status, error, message",
    [
        (404, "IndexNotFound", "not found.*gcl-search ingest"),
        (429, "StoreUnavailable", "429 .*broken"),
        (503, "StoreUnavailable", "503 .*broken"),
        (400, "GclSearchError", "HTTP 400: x_exception: broken"),
    ],
)
def test_candidates_turn_per_search_errors_into_clear_errors(status, error, message):
    from gcl_search import errors
    from gcl_search.stores.opensearch import OpenSearchStore

    failed = {"status": status, "error": {"root_cause": [{"type": "x_exception", "reason": "broken"}]}}
    ok = {
        "hits": {
            "hits": [
                {
                    "_id": "a",
                    "_score": 3.5,
                    "_source": {"attr": {"p": 1}},
                    "fields": {scripts.SIMS: [{"s": {"title": 0.25}}]},
                }
            ]
        }
    }
    store = OpenSearchStore(_MsearchClient([ok, failed]), "idx")
    store._layout = LAYOUT
    q = {"title": np.ones(3, np.float32), "desc": np.ones(3, np.float32)}
    with pytest.raises(getattr(errors, error), match=message):
        store.candidates(q, {"title": 1.0}, 5, lexical=LexicalQuery("red", None, 5))
    store.client.responses = [ok, ok]
    dense, lex = store.candidates(q, {"title": 1.0}, 5, lexical=LexicalQuery("red", None, 5))
    assert dense[0].field_scores == {"title": 0.25} and dense[0].attributes == {"p": 1}
    assert lex[0].bm25 == 3.5 and dense[0].bm25 == 3.5  # the dense candidate BM25 also found
