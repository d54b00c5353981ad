"""The OpenSearch index for an IndexLayout: mappings, settings, template, and each document's bulk action.

Pure (no client; tested without a node). Every knn_vector goes through `knn.knn_vector_mapping`, so
`engine: lucene` unless the layout opts into a native engine::

    gcl_concat    knn_vector (concat_dim, innerproduct)  the concatenated field vectors; an absent field's
                                                         block: the present ones' unit mean (impute_missing)
    gcl_present   keyword                                 names of the fields the document has
    gcl_id        keyword (doc values only)               the document id, BM25's tiebreak (id_tiebreak)
    gcl_preset    knn_vector (dim, innerproduct)          only with LayoutOptions.preset_weights
    vec.<field>   knn_vector (dim, innerproduct)          only with LayoutOptions.per_field_vectors
    text.<field>  text (the layout's analyzer, BM25)      the layout's text fields; other texts stored only
    gcl_all       text (copy_to from every text.<field>)  only with LayoutOptions.catch_all (combined mode)
    attr.<name>   keyword | float | long | boolean        declared attributes; others stored only
    _meta.gcl_search                                      IndexLayout.to_meta()

Top-level `dynamic: strict` turns a stray field into a per-document 400 instead of a silent mapping change.
The vectors are left out of the stored `_source`: they live in the HNSW graph and doc values, where the
painless scripts (`opensearch_scripts`) read them, and parsing them back with every hit is what a request
would spend its time on (docs/stores.md). The price: `_reindex` and partial updates cannot carry the vectors
over; re-index by ingesting again (`gcl-search ingest`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gcl_search.errors import ConfigError
from gcl_search.records import Document
from gcl_search.stores.derived import concat_document, preset_vector
from gcl_search.stores.knn import LUCENE, check_knn_engines, knn_index_settings, knn_vector_mapping
from gcl_search.stores.layout import CONCAT, PRESET, IndexLayout

CONCAT_FIELD = "gcl_concat"
PRESET_FIELD = "gcl_preset"
PRESENT_FIELD = "gcl_present"
ID_FIELD = "gcl_id"
CATCH_ALL_FIELD = "gcl_all"
# The `english` analyzer of gcl_search.stores.bm25 (not OpenSearch's built-in `english`, which stems with
# Porter): standard tokenizer, possessive, lowercase, `_english_` stop words, minimal_english.
ENGLISH_ANALYSIS = {
    "filter": {
        "gcl_english_possessive": {"type": "stemmer", "language": "possessive_english"},
        "gcl_english_stop": {"type": "stop", "stopwords": "_english_"},
        "gcl_english_stemmer": {"type": "stemmer", "language": "minimal_english"},
    },
    "analyzer": {
        "gcl_english": {
            "type": "custom",
            "tokenizer": "standard",
            "filter": ["gcl_english_possessive", "lowercase", "gcl_english_stop", "gcl_english_stemmer"],
        }
    },
}
ANALYZER_NAMES = {"standard": "standard", "english": "gcl_english"}
_ATTR_TYPES = {"keyword": "keyword", "float": "float", "integer": "long", "boolean": "boolean"}


def _vector_mapping(layout: IndexLayout, dim: int) -> dict[str, Any]:
    opts = layout.options.opensearch
    return knn_vector_mapping(
        dim,
        "innerproduct",
        engine=opts.engine,
        m=opts.m,
        ef_construction=opts.ef_construction,
        allow_native_engine=opts.engine != LUCENE,
    )


def text_and_attr_properties(layout: IndexLayout) -> dict[str, Any]:
    """The mapping's text fields (and catch-all), attributes and id tiebreak: the same on OpenSearch and
    Elasticsearch."""
    props: dict[str, Any] = {}
    if layout.options.id_tiebreak:
        # `_id` has no doc values; a keyword copy sorts without loading fielddata onto the heap.
        props[ID_FIELD] = {"type": "keyword", "index": False, "doc_values": True}
    text: dict[str, Any] = {"type": "text", "analyzer": ANALYZER_NAMES[layout.options.analyzer]}
    if layout.options.catch_all and layout.text_fields:
        props[CATCH_ALL_FIELD] = dict(text)
        text["copy_to"] = CATCH_ALL_FIELD
    props["text"] = {"dynamic": False, "properties": {name: dict(text) for name in layout.text_fields}}
    props["attr"] = {
        "dynamic": False,
        "properties": {a.name: {"type": _ATTR_TYPES[a.type]} for a in layout.attributes},
    }
    return props


def build_mappings(layout: IndexLayout) -> dict[str, Any]:
    """The `mappings` of an index for `layout` (see the module docstring for the fields)."""
    props: dict[str, Any] = {PRESENT_FIELD: {"type": "keyword"}}
    if layout.options.concat:
        props[CONCAT_FIELD] = _vector_mapping(layout, layout.concat_dim)
    if layout.options.preset_weights is not None:
        props[PRESET_FIELD] = _vector_mapping(layout, layout.preset_dim)
    if layout.options.per_field_vectors:
        props["vec"] = {"properties": {f.name: _vector_mapping(layout, f.dim) for f in layout.dense_fields}}
    props.update(text_and_attr_properties(layout))
    return {
        "dynamic": "strict",
        "_meta": {"gcl_search": layout.to_meta()},
        "_source": {"excludes": [CONCAT_FIELD, PRESET_FIELD, ID_FIELD, "vec.*"]},
        "properties": props,
    }


def build_index_body(layout: IndexLayout, shards: int = 1, replicas: int = 0) -> dict[str, Any]:
    """`PUT /<index>` body: k-NN settings plus `build_mappings(layout)`; checked by `check_knn_engines`.

    Args:
        layout: the index layout.
        shards: primary shards.
        replicas: replicas (0 keeps a single node green; raise it after a bulk load on a cluster).
    """
    body = {"settings": knn_index_settings(shards, replicas), "mappings": build_mappings(layout)}
    if layout.options.analyzer == "english":
        body["settings"]["analysis"] = ENGLISH_ANALYSIS
    check_knn_engines(body, allow_native_engine=layout.options.opensearch.engine != LUCENE)
    return body


def build_index_template(
    layout: IndexLayout,
    index_patterns: Sequence[str],
    shards: int = 1,
    replicas: int = 0,
    priority: int = 100,
) -> dict[str, Any]:
    """`PUT /_index_template/<name>` body: every index matching the patterns gets the layout's body.

    Used for versioned indices behind an alias (`products-v*`); a rendered example is in mappings/.
    """
    return {
        "index_patterns": list(index_patterns),
        "priority": priority,
        "template": build_index_body(layout, shards, replicas),
    }


def to_bulk_action(doc: Document, index: str, layout: IndexLayout) -> dict[str, Any]:
    """The `helpers.streaming_bulk` action for one document: `index` op with `_id = doc_id` (idempotent).

    Vectors stay float32 ndarrays: `connect`'s serializer writes them in their shortest float32 form (any
    other opensearch-py serializer writes them through `.tolist()`, as before).

    Raises:
        DimensionMismatch: a vector has the wrong shape. ConfigError: an unknown vector field or empty id.
    """
    if not isinstance(doc.doc_id, str) or not doc.doc_id:
        raise ConfigError(f"document id {doc.doc_id!r} must be a non-empty string")
    concat, present = concat_document(layout, doc)
    source: dict[str, Any] = {PRESENT_FIELD: list(present)}
    if layout.options.id_tiebreak:
        source[ID_FIELD] = doc.doc_id
    if layout.options.concat:
        source[CONCAT_FIELD] = concat
    vectors = {name: concat[sl] for name, sl in layout.offsets.items() if name in present}
    preset = preset_vector(layout, vectors)
    if preset is not None:
        source[PRESET_FIELD] = preset
    if layout.options.per_field_vectors and vectors:
        source["vec"] = dict(vectors)
    texts = {name: text for name, text in doc.texts.items() if isinstance(text, str) and text}
    source["text"] = texts
    source["attr"] = dict(doc.attributes)
    return {"_op_type": "index", "_index": index, "_id": doc.doc_id, "_source": source}


def vector_field(layout: IndexLayout, target: str) -> str:
    """The index field a `knn(target=...)` searches."""
    if target == CONCAT and layout.options.concat:
        return CONCAT_FIELD
    if target == PRESET and layout.options.preset_weights is not None:
        return PRESET_FIELD
    if target in layout.field_names and layout.options.per_field_vectors:
        return f"vec.{target}"
    raise ConfigError(
        f"knn target {target!r} is not stored in this index (concat={layout.options.concat}, "
        f"per_field_vectors={layout.options.per_field_vectors}, preset="
        f"{layout.options.preset_weights is not None}); re-create the index with that option"
    )


def vector_source(layout: IndexLayout, name: str) -> tuple[str, int]:
    """(index field, offset) holding field `name`'s vector: its slice of the concatenated vector, or its own
    `vec.<name>` field in a per-field-only layout."""
    if layout.options.concat:
        return CONCAT_FIELD, layout.offsets[name].start
    return f"vec.{name}", 0
