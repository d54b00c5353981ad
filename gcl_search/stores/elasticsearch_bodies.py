"""Pure builders of Elasticsearch 8.x request bodies for an IndexLayout, and readers of its hits (no client).

The index holds what an OpenSearch index holds (`opensearch_bodies`: the same `_source` shape, field names,
filters and BM25 queries), with Elasticsearch's vector type::

    gcl_concat / gcl_preset / vec.<field>               dense_vector, similarity max_inner_product,
                                                        index_options hnsw (float; or int8_hnsw)
    gcl_present, text.<field>, gcl_all, attr.<name>     as on OpenSearch

    gcl_vectors                                         binary (doc values): the field vectors as float32
                                                        bytes, in layout order (zeros where absent)

`max_inner_product` because the concatenated vector and query are not unit length (`dot_product` requires
unit vectors); its `_score` maps an inner product exactly as OpenSearch's `innerproduct` does, so
`knn.similarity_from_score(score, "innerproduct")` inverts it. There is no painless here (the test node has
none, and managed clusters may forbid scripts): every hit returns its field vectors from the doc values of
`gcl_vectors` (`docvalue_fields`: one base64 string of float32 bytes per hit; the dense_vector's own doc
values come back as JSON decimals, 2.4 times the bytes and ~10 times slower to produce and parse for a pool of
200) with `gcl_present`, and the client computes each field's similarity, the fused score's dot products and
the dense score itself (`gcl_search.fields.vectors.multi_field_scores`) exactly.

Analysis: the layout's "english" analyzer is `opensearch_bodies.ENGLISH_ANALYSIS` (possessive, lowercase,
stop words, minimal_english) where the node has the analysis-common module (every full distribution);
on a node without it (the integ-test-zip test node) `FALLBACK_ENGLISH_ANALYSIS`, the standard analyzer with
English stop words (no stemming, no possessive): docs/elasticsearch.md measures what that changes.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gcl_search.errors import ConfigError
from gcl_search.stores.candidates import LexicalQuery
from gcl_search.stores.derived import knn_exact, knn_plan
from gcl_search.stores.filters import Filter
from gcl_search.stores.layout import CONCAT, PRESET, IndexLayout
from gcl_search.stores.opensearch_bodies import build_candidate_lexical_query, build_filter
from gcl_search.stores.opensearch_mapping import (
    CONCAT_FIELD,
    ENGLISH_ANALYSIS,
    ID_FIELD,
    PRESENT_FIELD,
    PRESET_FIELD,
    text_and_attr_properties,
    vector_field,
)

INDEX_TYPES = ("hnsw", "int8_hnsw")
MAX_NUM_CANDIDATES = 10_000  # Elasticsearch's limit on a knn search's num_candidates
MAX_DIMS = 4096  # dense_vector's limit in 8.x
VECTORS_FIELD = "gcl_vectors"
ES_META = "gcl_search_es"  # _meta key: how this engine built the index (vector index type, analysis)
FALLBACK_ENGLISH_ANALYSIS = {"analyzer": {"gcl_english": {"type": "standard", "stopwords": "_english_"}}}


def _vector_mapping(layout: IndexLayout, dim: int, index_type: str) -> dict[str, Any]:
    if dim > MAX_DIMS:
        raise ConfigError(
            f"a {dim}-dimensional vector exceeds Elasticsearch's dense_vector limit of "
            f"{MAX_DIMS}; use fewer or smaller dense fields, or OpenSearch"
        )
    return {
        "type": "dense_vector",
        "dims": dim,
        "index": True,
        "similarity": "max_inner_product",
        "index_options": {
            "type": index_type,
            "m": layout.options.opensearch.m,
            "ef_construction": layout.options.opensearch.ef_construction,
        },
    }


def build_mappings(
    layout: IndexLayout, index_type: str = "hnsw", analysis: str = "gcl_english"
) -> dict[str, Any]:
    """The `mappings` of an index for `layout`; `_meta` records the layout and this engine's choices."""
    if index_type not in INDEX_TYPES:
        raise ConfigError(f"vector index type {index_type!r} is not one of {', '.join(INDEX_TYPES)}")
    opts = layout.options
    props: dict[str, Any] = {
        PRESENT_FIELD: {"type": "keyword"},
        VECTORS_FIELD: {"type": "binary", "doc_values": True},
    }
    if opts.concat:
        props[CONCAT_FIELD] = _vector_mapping(layout, layout.concat_dim, index_type)
    if opts.preset_weights is not None:
        props[PRESET_FIELD] = _vector_mapping(layout, layout.preset_dim, index_type)
    if opts.per_field_vectors:
        props["vec"] = {
            "properties": {f.name: _vector_mapping(layout, f.dim, index_type) for f in layout.dense_fields}
        }
    props.update(text_and_attr_properties(layout))
    meta = {"index_type": index_type, "analysis": analysis if opts.analyzer == "english" else "standard"}
    return {
        "dynamic": "strict",
        "_meta": {"gcl_search": layout.to_meta(), ES_META: meta},
        "_source": {"excludes": [CONCAT_FIELD, PRESET_FIELD, VECTORS_FIELD, ID_FIELD, "vec.*"]},
        "properties": props,
    }


def build_index_body(
    layout: IndexLayout,
    shards: int = 1,
    replicas: int = 0,
    index_type: str = "hnsw",
    fallback_analysis: bool = False,
) -> dict[str, Any]:
    """`PUT /<index>` body (settings + mappings). `fallback_analysis`: the english analyzer without
    analysis-common (see the module docstring)."""
    settings: dict[str, Any] = {"number_of_shards": shards, "number_of_replicas": replicas}
    analysis = "fallback_standard_english_stop" if fallback_analysis else "gcl_english"
    if layout.options.analyzer == "english":
        settings["analysis"] = FALLBACK_ENGLISH_ANALYSIS if fallback_analysis else ENGLISH_ANALYSIS
    return {"settings": settings, "mappings": build_mappings(layout, index_type, analysis)}


def vectors_blob(layout: IndexLayout, vectors: Mapping[str, np.ndarray]) -> str:
    """`gcl_vectors` of a document: base64 of its field vectors' float32 bytes in layout order, zeros for
    the fields it lacks (`gcl_present` says which)."""
    out = np.zeros(layout.concat_dim, dtype="<f4")
    for name, sl in layout.offsets.items():
        if name in vectors:
            out[sl] = np.asarray(vectors[name], dtype=np.float32)
    return base64.b64encode(out.tobytes()).decode("ascii")


def docvalue_fields(layout: IndexLayout) -> list[str]:
    """What every candidate hit returns from doc values: its field vectors and `gcl_present`."""
    return [PRESENT_FIELD, VECTORS_FIELD]


def hit_vectors(layout: IndexLayout, hit: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """{field: float32 vector} of the fields a hit's document has, from its `docvalue_fields`."""
    values = hit.get("fields", {})
    present = set(values.get(PRESENT_FIELD, ()))
    if not present or VECTORS_FIELD not in values:
        return {}
    stored = np.frombuffer(base64.b64decode(values[VECTORS_FIELD][0]), dtype="<f4")
    return {name: stored[sl].astype(np.float32) for name, sl in layout.offsets.items() if name in present}


def build_knn_query(
    layout: IndexLayout,
    vector: np.ndarray,
    k: int,
    filters: Sequence[Filter] = (),
    target: str = CONCAT,
    ef_search: int | None = None,
) -> dict[str, Any]:
    """`_search` body: one top-level `knn` (HNSW with `num_candidates` = the layout's ef_search, at least k,
    at most 10000), filters inside it so that k hits are kept when k documents match."""
    hnsw = layout.options.opensearch
    default_ef = hnsw.preset_ef_search if target == PRESET else hnsw.ef_search
    if k > MAX_NUM_CANDIDATES:
        raise ConfigError(f"k = {k} exceeds Elasticsearch's knn limit of {MAX_NUM_CANDIDATES}")
    knn: dict[str, Any] = {
        "field": vector_field(layout, target),
        "query_vector": np.asarray(vector, dtype=np.float32).tolist(),
        "k": k,
        "num_candidates": min(max(ef_search or default_ef, k), MAX_NUM_CANDIDATES),
    }
    if filters:
        knn["filter"] = build_filter(filters)
    return {"size": k, "_source": False, "knn": knn}


def build_candidate_searches(
    layout: IndexLayout,
    query_vectors: Mapping[str, np.ndarray],
    weights: Mapping[str, float],
    depth: int,
    filters: Sequence[Filter] = (),
    ef_search: int | None = None,
    lexical: LexicalQuery | None = None,
    attributes: bool = True,
    dense_score: str = "sum",
    pool: int | None = None,
) -> list[dict[str, Any]]:
    """The `_search` bodies of one `VectorStore.candidates` call (one `_msearch`): the knn `derived.knn_plan`
    picks, for `depth` hits or, when its score is not the dense score (`derived.knn_exact`), for the pool of
    `max(depth, pool or rescore_depth)` that the client rescores; then the BM25 search when asked. Every hit
    carries its stored vectors (`docvalue_fields`) and, when asked, its attributes."""
    extras: dict[str, Any] = {
        "_source": {"includes": ["attr"]} if attributes else False,
        "docvalue_fields": docvalue_fields(layout),
    }
    bodies = []
    if any(w > 0 for w in weights.values()):
        target, q = knn_plan(layout, query_vectors, weights, dense_score)
        size = (
            depth
            if knn_exact(layout, target, dense_score)
            else max(depth, pool or layout.options.rescore_depth)
        )
        bodies.append({**build_knn_query(layout, q, size, filters, target, ef_search), **extras})
    if lexical is not None:
        bodies.append({**build_candidate_lexical_query(layout, lexical, filters), **extras})
    return bodies


def build_vectors_query(layout: IndexLayout, doc_ids: Sequence[str]) -> dict[str, Any]:
    """`_search` body returning the stored vectors of `doc_ids` (for `VectorStore.vectors`)."""
    return {
        "size": len(doc_ids),
        "_source": False,
        "query": {"ids": {"values": list(doc_ids)}},
        "docvalue_fields": docvalue_fields(layout),
    }
