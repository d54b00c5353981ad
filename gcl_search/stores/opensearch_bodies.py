"""Pure builders of OpenSearch search bodies for an IndexLayout (no client; tested without a node).

The knn search (one approximate `knn` clause, filters inside), the BM25 search (`match` clauses), the vectors
query, and the bodies of one `VectorStore.candidates` call. The index itself is `opensearch_mapping`; the
painless scripts the searches run are `opensearch_scripts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gcl_search.stores.candidates import LexicalQuery, dot_fields
from gcl_search.stores.derived import knn_exact, knn_plan
from gcl_search.stores.filters import Filter, Term
from gcl_search.stores.layout import CONCAT, PRESET, IndexLayout
from gcl_search.stores.opensearch_mapping import CATCH_ALL_FIELD, ID_FIELD, vector_field
from gcl_search.stores.opensearch_scripts import dense_rescore, field_sims_script, vectors_script


def build_filter(filters: Sequence[Filter]) -> list[dict[str, Any]]:
    """Term -> `terms`, Range -> `range`, on `attr.<name>` (AND of all)."""
    out: list[dict[str, Any]] = []
    for flt in filters:
        if isinstance(flt, Term):
            out.append({"terms": {f"attr.{flt.field}": list(flt.accepted)}})
        else:
            bounds = {
                op: v
                for op, v in (("gte", flt.gte), ("gt", flt.gt), ("lte", flt.lte), ("lt", flt.lt))
                if v is not None
            }
            out.append({"range": {f"attr.{flt.field}": bounds}})
    return out


def build_knn_query(
    layout: IndexLayout,
    vector: np.ndarray,
    k: int,
    filters: Sequence[Filter] = (),
    target: str = CONCAT,
    ef_search: int | None = None,
) -> dict[str, Any]:
    """`_search` body: ONE approximate `knn` clause, filters inside it (efficient filtering, k hits kept).

    The `_score` is `knn.similarity_from_score`-invertible to the raw inner product (single clause, boost 1).
    The beam is `ef_search`, by default the layout's (`preset_ef_search` for the preset vector), at least k.
    """
    opts = layout.options.opensearch
    default_ef = opts.preset_ef_search if target == PRESET else opts.ef_search
    ef = max(ef_search or default_ef, k)
    clause: dict[str, Any] = {
        "vector": np.asarray(vector, dtype=np.float32).tolist(),
        "k": k,
        "method_parameters": {"ef_search": ef},
    }
    if filters:
        clause["filter"] = {"bool": {"filter": build_filter(filters)}}
    return {"size": k, "_source": False, "query": {"knn": {vector_field(layout, target): clause}}}


def build_lexical_query(
    text: str,
    fields: Sequence[str],
    k: int,
    filters: Sequence[Filter] = (),
    mode: str = "most_fields",
    boosts: Mapping[str, float] | None = None,
    id_tiebreak: bool = False,
) -> dict[str, Any]:
    """`_search` body: a bool of `match` clauses whose scores add up (`gcl_search.stores.bm25`): most_fields,
    one per field with boost b_f (default 1); combined, the catch-all field plus one per boosted field.
    `id_tiebreak` (the layout's option): equal scores are ordered by document id on every shard copy, which
    fixes which tied documents fill the last places (each copy's own Lucene order would not)."""
    boosts = boosts or {}
    if mode == "combined":
        clauses = [(CATCH_ALL_FIELD, 1.0), *((f"text.{name}", b) for name, b in boosts.items())]
    else:
        clauses = [(f"text.{name}", boosts.get(name, 1.0)) for name in fields]
    should = [
        {"match": {field: {"query": text, "boost": boost} if boost != 1.0 else text}}
        for field, boost in clauses
    ]
    query: dict[str, Any] = {"bool": {"should": should, "minimum_should_match": 1}}
    if filters:
        query["bool"]["filter"] = build_filter(filters)
    body: dict[str, Any] = {"size": k, "_source": False, "query": query}
    if id_tiebreak:
        body["sort"] = [{"_score": "desc"}, {ID_FIELD: "asc"}]
    return body


def build_candidate_lexical_query(
    layout: IndexLayout, lexical: LexicalQuery, filters: Sequence[Filter] = ()
) -> dict[str, Any]:
    """The BM25 search of a `candidates` call (`lexical.fields` None: every text field), on either engine."""
    fields = list(layout.text_fields if lexical.fields is None else lexical.fields)
    return build_lexical_query(
        lexical.text,
        fields,
        lexical.k,
        filters,
        lexical.mode,
        lexical.boosts,
        id_tiebreak=layout.options.id_tiebreak,
    )


def build_vectors_query(layout: IndexLayout, doc_ids: Sequence[str]) -> dict[str, Any]:
    """`_search` body returning the field vectors of `doc_ids` (VECTORS_SCRIPT), for `VectorStore.vectors`."""
    return {
        "size": len(doc_ids),
        "_source": False,
        "query": {"ids": {"values": list(doc_ids)}},
        "script_fields": vectors_script(layout),
    }


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
    """The `_search` bodies of one `VectorStore.candidates` call (sent together as one `_msearch`): the knn
    that `derived.knn_plan` picks (the concatenated vector, or the preset vector) when a weight is > 0, for
    `depth` hits; when its score is not the dense score (`derived.knn_exact`), for a pool of
    `max(depth, pool)` (pool None: `rescore_depth`) of which a rescore window returns the `depth` best by the
    dense score (`opensearch_scripts.dense_rescore`); then the BM25 search when asked; each returns its hits'
    field similarities and, for the fused score, the weighted fields' dot products (`field_sims_script`), and
    attributes."""
    dots = dot_fields(layout, weights, dense_score)
    extras: dict[str, Any] = {
        "_source": {"includes": ["attr"]} if attributes else False,
        "script_fields": field_sims_script(layout, query_vectors, dots),
    }
    bodies = []
    if any(w > 0 for w in weights.values()):
        target, q = knn_plan(layout, query_vectors, weights, dense_score)
        if knn_exact(layout, target, dense_score):
            bodies.append({**build_knn_query(layout, q, depth, filters, target, ef_search), **extras})
        else:  # a pool, ranked by the dense score on the node; only the best `depth` are fetched
            window = max(depth, pool or layout.options.rescore_depth)
            knn = build_knn_query(layout, q, window, filters, target, ef_search)
            bodies.append(
                {
                    **knn,
                    "size": depth,
                    **extras,
                    "rescore": dense_rescore(layout, query_vectors, weights, dense_score, window),
                }
            )
    if lexical is not None:
        bodies.append({**build_candidate_lexical_query(layout, lexical, filters), **extras})
    return bodies
