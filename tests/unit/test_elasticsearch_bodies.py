"""Elasticsearch request bodies and hit readers, without a node."""

from __future__ import annotations

import numpy as np
import pytest

from gcl_search.errors import ConfigError
from gcl_search.stores import elasticsearch_bodies as bodies
from gcl_search.stores.base import (
    CONCAT,
    PRESET,
    AttributeField,
    DenseField,
    IndexLayout,
    LayoutOptions,
    Range,
)
from gcl_search.stores.elasticsearch_connection import connect
from gcl_search.stores.knn import OpenSearchOptions


def _layout(**options) -> IndexLayout:
    return IndexLayout(
        (DenseField("title", 3, "m"), DenseField("description", 3, "m")),
        ("title",),
        (AttributeField("price", "float"),),
        LayoutOptions(**options),
    )


def test_mapping_uses_max_inner_product_hnsw_and_records_choices():
    mappings = bodies.build_mappings(_layout(preset_weights={"title": 1.0}), "int8_hnsw")
    concat = mappings["properties"]["gcl_concat"]
    assert concat == {
        "type": "dense_vector",
        "dims": 6,
        "index": True,
        "similarity": "max_inner_product",
        "index_options": {"type": "int8_hnsw", "m": 16, "ef_construction": 200},
    }
    assert mappings["properties"]["gcl_preset"]["dims"] == 3
    assert mappings["_meta"]["gcl_search_es"] == {"index_type": "int8_hnsw", "analysis": "standard"}
    assert "gcl_concat" in mappings["_source"]["excludes"]
    with pytest.raises(ConfigError, match="index type"):
        bodies.build_mappings(_layout(), "flat")


def test_english_analysis_and_its_fallback():
    layout = _layout(analyzer="english")
    full = bodies.build_index_body(layout)
    assert "gcl_english_stemmer" in full["settings"]["analysis"]["filter"]
    fallback = bodies.build_index_body(layout, fallback_analysis=True)
    assert fallback["settings"]["analysis"] == bodies.FALLBACK_ENGLISH_ANALYSIS
    assert fallback["mappings"]["properties"]["text"]["properties"]["title"]["analyzer"] == "gcl_english"
    assert fallback["mappings"]["_meta"]["gcl_search_es"]["analysis"] == "fallback_standard_english_stop"


def test_knn_query_beam_and_filters():
    layout = _layout(
        opensearch=OpenSearchOptions(ef_search=50, preset_ef_search=20), preset_weights={"title": 1.0}
    )
    body = bodies.build_knn_query(layout, np.ones(6, dtype=np.float32), 10, [Range("price", lte=5.0)])
    assert body["size"] == 10 and body["knn"]["num_candidates"] == 50 and body["knn"]["k"] == 10
    assert body["knn"]["filter"] == [{"range": {"attr.price": {"lte": 5.0}}}]
    assert bodies.build_knn_query(layout, np.ones(3), 30, target=PRESET)["knn"]["num_candidates"] == 30
    wide = bodies.build_knn_query(layout, np.ones(6), 10, ef_search=10**6)
    assert wide["knn"]["num_candidates"] == 10_000
    with pytest.raises(ConfigError, match="10000"):
        bodies.build_knn_query(layout, np.ones(6), 10_001, target=CONCAT)


def test_vectors_blob_round_trip_present_fields_only():
    layout = _layout()
    title = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    blob = bodies.vectors_blob(layout, {"title": title})
    hit = {"fields": {"gcl_present": ["title"], "gcl_vectors": [blob]}}
    got = bodies.hit_vectors(layout, hit)
    assert list(got) == ["title"] and got["title"].dtype == np.float32
    assert (got["title"] == title).all()  # bit for bit
    assert bodies.docvalue_fields(layout) == ["gcl_present", "gcl_vectors"]
    assert bodies.hit_vectors(layout, {"fields": {}}) == {}


def test_candidate_searches_pool_and_lexical():
    from gcl_search.stores.base import LexicalQuery

    layout = _layout(rescore_depth=40)
    q = {"title": np.ones(3, dtype=np.float32), "description": np.ones(3, dtype=np.float32)}
    searches = bodies.build_candidate_searches(
        layout,
        q,
        {"title": 0.5, "description": 0.5},
        10,
        lexical=LexicalQuery("usb", None, 15),
        dense_score="fused",
    )
    assert searches[0]["size"] == 40 and searches[0]["docvalue_fields"] == ["gcl_present", "gcl_vectors"]
    assert searches[1]["size"] == 15 and "script_fields" not in searches[1]


def test_connect_reads_the_environment_and_hides_secrets(monkeypatch):
    monkeypatch.setenv("ELASTICSEARCH_URL", "elasticsearch+https://user:pw@es.example:9243")
    client, where, secrets = connect()
    assert where == "https://***@es.example:9243" and secrets == ["pw"]
    monkeypatch.setenv("ELASTICSEARCH_API_KEY", "k")
    with pytest.raises(ConfigError, match="both basic auth and an API key"):
        connect()
