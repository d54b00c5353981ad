"""Pure builders of OpenSearch request bodies for an IndexLayout (no client; tested without a node).

Index mapping (every knn_vector goes through `gcl_search.stores.knn.knn_vector_mapping`, so `engine: lucene`
unless the layout opts into a native engine)::

    gcl_concat    knn_vector (concat_dim, innerproduct)  the concatenated field vectors; an absent field's
                                                         block: the present ones' unit mean (impute_missing)
    gcl_present   keyword                                 names of the fields the document has
    gcl_preset    knn_vector (dim, innerproduct)          only with LayoutOptions.preset_weights
    vec.<field>   knn_vector (dim, innerproduct)          only with LayoutOptions.per_field_vectors
    text.<field>  text (the layout's analyzer, BM25)      the layout's text fields; other texts stored only
    gcl_all       text (copy_to from every text.<field>)  only with LayoutOptions.catch_all (combined mode)
    attr.<name>   keyword | float | long | boolean        declared attributes; others stored only
    _meta.gcl_search                                      IndexLayout.to_meta()

Top-level `dynamic: strict` turns a stray field into a per-document 400 instead of a silent mapping change.
The vectors are left out of the stored `_source` (they live in the HNSW graph and doc values, where the
painless scripts below read them): with them, every hit's `_source` is ~25 KB of JSON per vector field to
parse just to return its attributes (measured: +40 ms for 30 hits). The price: OpenSearch's `_reindex` and
partial updates cannot carry the vectors over; re-index by ingesting again (`gcl-search ingest`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gcl_search.records import Document
from gcl_search.stores.base import CONCAT, PRESET, Filter, IndexLayout, LexicalQuery, Term, dot_fields
from gcl_search.stores.derived import concat_document, knn_exact, knn_plan, preset_vector
from gcl_search.stores.knn import LUCENE, check_knn_engines, knn_index_settings, knn_vector_mapping
from gcl_search.stores.opensearch_rescore import dense_rescore

CONCAT_FIELD = "gcl_concat"
PRESET_FIELD = "gcl_preset"
PRESENT_FIELD = "gcl_present"
CATCH_ALL_FIELD = "gcl_all"
# The `english` analyzer of gcl_search.stores.bm25 (not OpenSearch's built-in `english`, which stems with
# Porter): standard tokenizer, possessive, lowercase, `_english_` stop words, minimal_english.
ENGLISH_ANALYSIS = {
    "filter": {"gcl_english_possessive": {"type": "stemmer", "language": "possessive_english"},
               "gcl_english_stop": {"type": "stop", "stopwords": "_english_"},
               "gcl_english_stemmer": {"type": "stemmer", "language": "minimal_english"}},
    "analyzer": {"gcl_english": {"type": "custom", "tokenizer": "standard",
                                 "filter": ["gcl_english_possessive", "lowercase", "gcl_english_stop",
                                            "gcl_english_stemmer"]}}}
ANALYZER_NAMES = {"standard": "standard", "english": "gcl_english"}
SIMS = "gcl_sims"
VECTORS = "gcl_vectors"
# Per hit, one value per field the document has (in gcl_present), read from the stored vectors' doc values, so
# no second request is needed. `%s` is the per-field body: it reads `v` (the stored float[]), `o` (the
# field's offset in it) and `j` (its position in params) and puts the field's value into `out`.
_FIELD_LOOP = """
Map out = new HashMap();
def present = doc['gcl_present'];
for (int j = 0; j < params.names.size(); ++j) {
  String name = params.names.get(j);
  if (!present.contains(name)) { continue; }
  float[] v = doc[params.fields.get(j)].value;
  int o = params.offsets.get(j);
  %s
}
return out;
""".strip()
# {"s": {field: q_f . d_f}, "d": {f: {g: d_f . d_g}}} per hit: q_f are float32 values sent as doubles;
# products and sums in double, like the local store's float64 dot. "s" for the fields with a query vector
# (qi >= 0), "d" (the fused score's norm) for the pairs of fields flagged in params.dot, f before g in layout
# order; each stored vector is read once per hit. The dot products are computed here rather than stored at
# ingest: no mapping change, and benchmarks/results/search.txt measures their cost (fused vs sum, same pool).
FIELD_SIMS_SCRIPT = """
Map sims = new HashMap();
Map cache = new HashMap();
List dv = new ArrayList(); List doff = new ArrayList();
List dname = new ArrayList(); List ddim = new ArrayList();
def present = doc['gcl_present'];
for (int j = 0; j < params.names.size(); ++j) {
  String name = params.names.get(j);
  if (!present.contains(name)) { continue; }
  String field = params.fields.get(j);
  float[] v = cache.get(field);
  if (v == null) { v = doc[field].value; cache.put(field, v); }
  int o = params.offsets.get(j);
  int qi = params.qi.get(j);
  if (qi >= 0) {
    List q = params.q.get(qi);
    double acc = 0;
    for (int i = 0; i < q.size(); ++i) { acc += v[o + i] * (double) q.get(i); }
    sims.put(name, acc);
  }
  if (params.dot.get(j)) { dv.add(v); doff.add(o); dname.add(name); ddim.add(params.dims.get(j)); }
}
Map out = new HashMap();
out.put('s', sims);
if (dv.size() > 0) {
  Map dots = new HashMap();
  for (int a = 0; a < dv.size(); ++a) {
    Map row = new HashMap();
    float[] va = dv.get(a); int oa = doff.get(a); int n = ddim.get(a);
    for (int b = a; b < dv.size(); ++b) {
      int nb = ddim.get(b);
      if (nb != n) { continue; }
      float[] vb = dv.get(b); int ob = doff.get(b);
      double acc = 0;
      for (int i = 0; i < n; ++i) { acc += (double) va[oa + i] * vb[ob + i]; }
      row.put(dname.get(b), acc);
    }
    dots.put(dname.get(a), row);
  }
  out.put('d', dots);
}
return out;
""".strip()
# {field: [floats]}: each field's vector.
VECTORS_SCRIPT = _FIELD_LOOP % """float[] part = new float[params.dims.get(j)];
  for (int i = 0; i < part.length; ++i) { part[i] = v[o + i]; }
  out.put(name, part);"""
_ATTR_TYPES = {"keyword": "keyword", "float": "float", "integer": "long", "boolean": "boolean"}


def _vector_mapping(layout: IndexLayout, dim: int) -> dict[str, Any]:
    opts = layout.options.opensearch
    return knn_vector_mapping(dim, "innerproduct", engine=opts.engine, m=opts.m,
                              ef_construction=opts.ef_construction,
                              allow_native_engine=opts.engine != LUCENE)


def build_mappings(layout: IndexLayout) -> dict[str, Any]:
    """The `mappings` of an index for `layout` (see the module docstring for the fields)."""
    props: dict[str, Any] = {PRESENT_FIELD: {"type": "keyword"}}
    if layout.options.concat:
        props[CONCAT_FIELD] = _vector_mapping(layout, layout.concat_dim)
    if layout.options.preset_weights is not None:
        props[PRESET_FIELD] = _vector_mapping(layout, layout.preset_dim)
    if layout.options.per_field_vectors:
        props["vec"] = {"properties": {f.name: _vector_mapping(layout, f.dim) for f in layout.dense_fields}}
    text: dict[str, Any] = {"type": "text", "analyzer": ANALYZER_NAMES[layout.options.analyzer]}
    if layout.options.catch_all and layout.text_fields:
        props[CATCH_ALL_FIELD] = dict(text)
        text["copy_to"] = CATCH_ALL_FIELD
    props["text"] = {"dynamic": False, "properties": {name: dict(text) for name in layout.text_fields}}
    props["attr"] = {"dynamic": False,
                     "properties": {a.name: {"type": _ATTR_TYPES[a.type]} for a in layout.attributes}}
    return {"dynamic": "strict", "_meta": {"gcl_search": layout.to_meta()},
            "_source": {"excludes": [CONCAT_FIELD, PRESET_FIELD, "vec.*"]}, "properties": props}


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


def build_index_template(layout: IndexLayout, index_patterns: Sequence[str], shards: int = 1,
                         replicas: int = 0, priority: int = 100) -> dict[str, Any]:
    """`PUT /_index_template/<name>` body: every index matching the patterns gets the layout's body.

    Used for versioned indices behind an alias (`products-v*`); a rendered example is in mappings/.
    """
    return {"index_patterns": list(index_patterns), "priority": priority,
            "template": build_index_body(layout, shards, replicas)}


def to_bulk_action(doc: Document, index: str, layout: IndexLayout) -> dict[str, Any]:
    """The `helpers.streaming_bulk` action for one document: `index` op with `_id = doc_id` (idempotent).

    Vectors stay float32 ndarrays: `connect`'s serializer writes them in their shortest float32 form (any
    other opensearch-py serializer writes them through `.tolist()`, as before).

    Raises:
        DimensionMismatch: a vector has the wrong shape. ConfigError: an unknown vector field or empty id.
    """
    from gcl_search.errors import ConfigError

    if not isinstance(doc.doc_id, str) or not doc.doc_id:
        raise ConfigError(f"document id {doc.doc_id!r} must be a non-empty string")
    concat, present = concat_document(layout, doc)
    source: dict[str, Any] = {PRESENT_FIELD: list(present)}
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
    from gcl_search.errors import ConfigError

    if target == CONCAT and layout.options.concat:
        return CONCAT_FIELD
    if target == PRESET and layout.options.preset_weights is not None:
        return PRESET_FIELD
    if target in layout.field_names and layout.options.per_field_vectors:
        return f"vec.{target}"
    raise ConfigError(f"knn target {target!r} is not stored in this index (concat={layout.options.concat}, "
                      f"per_field_vectors={layout.options.per_field_vectors}, preset="
                      f"{layout.options.preset_weights is not None}); re-create the index with that option")


def build_filter(filters: Sequence[Filter]) -> list[dict[str, Any]]:
    """Term -> `terms`, Range -> `range`, on `attr.<name>` (AND of all)."""
    out: list[dict[str, Any]] = []
    for flt in filters:
        if isinstance(flt, Term):
            out.append({"terms": {f"attr.{flt.field}": list(flt.accepted)}})
        else:
            bounds = {op: v for op, v in (("gte", flt.gte), ("gt", flt.gt), ("lte", flt.lte), ("lt", flt.lt))
                      if v is not None}
            out.append({"range": {f"attr.{flt.field}": bounds}})
    return out


def build_knn_query(layout: IndexLayout, vector: np.ndarray, k: int, filters: Sequence[Filter] = (),
                    target: str = CONCAT, ef_search: int | None = None) -> dict[str, Any]:
    """`_search` body: ONE approximate `knn` clause, filters inside it (efficient filtering, k hits kept).

    The `_score` is `knn.similarity_from_score`-invertible to the raw inner product (single clause, boost 1).
    The beam is `ef_search`, by default the layout's (`preset_ef_search` for the preset vector), at least k.
    """
    opts = layout.options.opensearch
    default_ef = opts.preset_ef_search if target == PRESET else opts.ef_search
    ef = max(ef_search or default_ef, k)
    clause: dict[str, Any] = {"vector": np.asarray(vector, dtype=np.float32).tolist(), "k": k,
                              "method_parameters": {"ef_search": ef}}
    if filters:
        clause["filter"] = {"bool": {"filter": build_filter(filters)}}
    return {"size": k, "_source": False, "query": {"knn": {vector_field(layout, target): clause}}}


def build_lexical_query(text: str, fields: Sequence[str], k: int, filters: Sequence[Filter] = (),
                        mode: str = "most_fields", boosts: Mapping[str, float] | None = None
                        ) -> dict[str, Any]:
    """`_search` body: a bool of `match` clauses whose scores add up (`gcl_search.stores.bm25`): most_fields,
    one per field with boost b_f (default 1); combined, the catch-all field plus one per boosted field."""
    boosts = boosts or {}
    if mode == "combined":
        clauses = [(CATCH_ALL_FIELD, 1.0), *((f"text.{name}", b) for name, b in boosts.items())]
    else:
        clauses = [(f"text.{name}", boosts.get(name, 1.0)) for name in fields]
    should = [{"match": {field: {"query": text, "boost": boost} if boost != 1.0 else text}}
              for field, boost in clauses]
    query: dict[str, Any] = {"bool": {"should": should, "minimum_should_match": 1}}
    if filters:
        query["bool"]["filter"] = build_filter(filters)
    return {"size": k, "_source": False, "query": query}


def _vector_source(layout: IndexLayout, name: str) -> tuple[str, int]:
    """(index field, offset) holding field `name`'s vector: its slice of the concatenated vector, or its own
    `vec.<name>` field in a per-field-only layout."""
    if layout.options.concat:
        return CONCAT_FIELD, layout.offsets[name].start
    return f"vec.{name}", 0


def build_vectors_query(layout: IndexLayout, doc_ids: Sequence[str]) -> dict[str, Any]:
    """`_search` body returning the field vectors of `doc_ids` (VECTORS_SCRIPT), for `VectorStore.vectors`."""
    sources = [_vector_source(layout, f.name) for f in layout.dense_fields]
    params = {"names": list(layout.field_names), "fields": [field for field, _ in sources],
              "offsets": [offset for _, offset in sources], "dims": [f.dim for f in layout.dense_fields]}
    return {"size": len(doc_ids), "_source": False, "query": {"ids": {"values": list(doc_ids)}},
            "script_fields": {VECTORS: {"script": {"lang": "painless", "source": VECTORS_SCRIPT,
                                                   "params": params}}}}


def field_sims_script(layout: IndexLayout, query_vectors: Mapping[str, np.ndarray],
                      dot_fields: Sequence[str] = ()) -> dict[str, Any]:
    """`script_fields` entry returning per hit {"s": {field: q_f . d_f}} for the fields whose query vector is
    non-zero, and {"d": {f: {g: d_f . d_g}}} over `dot_fields` (FIELD_SIMS_SCRIPT; `parse_field_sims` reads
    it). Identical query vectors (one encoder for several fields) are sent once."""
    names, fields, offsets, qi, dims, dot, unique = [], [], [], [], [], [], []
    for f in layout.dense_fields:
        q = query_vectors.get(f.name)
        has_q = q is not None and bool(np.any(q))
        if not has_q and f.name not in dot_fields:
            continue
        index = -1
        if has_q:
            q = np.asarray(q, dtype=np.float32)
            index = next((i for i, u in enumerate(unique) if np.array_equal(u, q)), -1)
            if index < 0:
                index = len(unique)
                unique.append(q)
        field, offset = _vector_source(layout, f.name)
        names.append(f.name)
        fields.append(field)
        offsets.append(offset)
        qi.append(index)
        dims.append(f.dim)
        dot.append(f.name in dot_fields)
    params = {"names": names, "fields": fields, "offsets": offsets, "qi": qi, "dims": dims, "dot": dot,
              "q": [u.tolist() for u in unique]}
    return {SIMS: {"script": {"lang": "painless", "source": FIELD_SIMS_SCRIPT, "params": params}}}


def parse_field_sims(hit: Mapping[str, Any]) -> tuple[dict[str, float], dict[tuple[str, str], float] | None]:
    """({field: q_f . d_f}, {(f, g): d_f . d_g} or None) from a hit of a search with `field_sims_script`."""
    value = hit.get("fields", {}).get(SIMS, [{}])[0]
    sims = {name: float(v) for name, v in value.get("s", {}).items()}
    if "d" not in value:
        return sims, None
    return sims, {(f, g): float(v) for f, row in value["d"].items() for g, v in row.items()}


def build_candidate_searches(layout: IndexLayout, query_vectors: Mapping[str, np.ndarray],
                             weights: Mapping[str, float], depth: int, filters: Sequence[Filter] = (),
                             ef_search: int | None = None, lexical: LexicalQuery | None = None,
                             attributes: bool = True, dense_score: str = "sum", pool: int | None = None
                             ) -> list[dict[str, Any]]:
    """The `_search` bodies of one `VectorStore.candidates` call (sent together as one `_msearch`): the knn
    that `layout.knn_plan(q, w, dense_score)` picks (the concatenated vector, or the preset vector) when a
    weight is > 0, for `depth` hits; when its score is not the dense score (`layout.knn_exact`), for a pool of
    `max(depth, pool)` (pool None: `rescore_depth`) of which a rescore window returns the `depth` best by the
    dense score (`opensearch_rescore`); then the BM25 search when asked; each returns its hits' field
    similarities and, for the fused score, the weighted fields' dot products (`field_sims_script`), and
    attributes."""
    dots = dot_fields(layout, weights, dense_score)
    extras: dict[str, Any] = {"_source": {"includes": ["attr"]} if attributes else False,
                              "script_fields": field_sims_script(layout, query_vectors, dots)}
    bodies = []
    if any(w > 0 for w in weights.values()):
        target, q = knn_plan(layout, query_vectors, weights, dense_score)
        if knn_exact(layout, target, dense_score):
            bodies.append({**build_knn_query(layout, q, depth, filters, target, ef_search), **extras})
        else:  # a pool, ranked by the dense score on the node; only the best `depth` are fetched
            window = max(depth, pool or layout.options.rescore_depth)
            sources = {f.name: _vector_source(layout, f.name) for f in layout.dense_fields}
            knn = build_knn_query(layout, q, window, filters, target, ef_search)
            bodies.append({**knn, "size": depth, **extras,
                           "rescore": dense_rescore(layout, query_vectors, weights, dense_score, window,
                                                    sources)})
    if lexical is not None:
        fields = list(layout.text_fields if lexical.fields is None else lexical.fields)
        bodies.append({**build_lexical_query(lexical.text, fields, lexical.k, filters, lexical.mode,
                                             lexical.boosts), **extras})
    return bodies
