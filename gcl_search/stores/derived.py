"""The vectors an index stores and searches, derived from the field vectors, and which one a request searches.

Every document stores ONE concatenated vector `D = [d_1; ...; d_F]` in inner-product space; a query
`Q = [w_1 q_1; ...; w_F q_F]` scores `Q . D = sum_f w_f q_f . d_f` with one approximate search, for any
weights chosen per request. That search only finds CANDIDATES: the dense score (by default the fused score,
`gcl_search.fields.vectors.multi_field_scores`) is computed exactly from each candidate's stored field vectors
on a pool of `rescore_depth` candidates (`knn_exact` says when the ANN score already is the dense score).

`impute_missing`: the block of a field a document LACKS holds the unit mean of its present fields of the same
dimension, so `Q . D` approximates the fused score's renormalisation over present fields
(docs/stores.md). The stored per-field vectors and every similarity a hit reports stay exact: an imputed
block is never read as a field vector.

The preset vector (`preset_weights`) lets requests at the preset's weights search a `dim`-dimensional HNSW
instead of the `concat_dim` one, with the fused score exactly (`knn_plan` picks it).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gcl_search.errors import ConfigError, DimensionMismatch
from gcl_search.fields.vectors import unit_mean, weighted_sum
from gcl_search.records import Document
from gcl_search.stores.layout import CONCAT, PRESET, IndexLayout


def concat_document(layout: IndexLayout, doc: Document) -> tuple[np.ndarray, tuple[str, ...]]:
    """The document's concatenated vector (float32, (concat_dim,)) and the fields it has, in layout order.

    Raises:
        DimensionMismatch: a vector has the wrong shape (the message names the document and field).
        ConfigError: the document has a vector for a field the layout does not know.
    """
    unknown = sorted(set(doc.vectors) - set(layout.field_names))
    if unknown:
        raise ConfigError(
            f"document {doc.doc_id!r}: vector field {unknown[0]!r} is not in the index "
            f"layout ({', '.join(layout.field_names)})"
        )
    out = np.zeros(layout.concat_dim, dtype=np.float32)
    present = []
    for f, sl in zip(layout.dense_fields, layout.offsets.values()):
        vec = doc.vectors.get(f.name)
        if vec is None:
            continue
        vec = np.asarray(vec, dtype=np.float32)
        if vec.shape != (f.dim,):
            raise DimensionMismatch(
                f"document {doc.doc_id!r}: field {f.name!r} has a vector of shape "
                f"{vec.shape}, the index expects ({f.dim},); re-encode with the "
                f"encoder {f.encoder!r}"
            )
        out[sl] = vec
        present.append(f.name)
    if layout.options.impute_missing and 0 < len(present) < len(layout.dense_fields):
        offsets = layout.offsets
        for f in layout.dense_fields:
            if f.name not in present:
                mean = unit_mean(
                    [
                        out[offsets[g.name]]
                        for g in layout.dense_fields
                        if g.name in present and g.dim == f.dim
                    ]
                )
                if mean is not None:
                    out[offsets[f.name]] = mean
    return out, tuple(present)


def query_vector(
    layout: IndexLayout, query_vectors: Mapping[str, np.ndarray], weights: Mapping[str, float]
) -> np.ndarray:
    """`Q = [w_1 q_1; ...; w_F q_F]`: the concatenated query for `knn(CONCAT)`.

    Args:
        query_vectors: dense field name -> the query embedded by that field's encoder, (dim,).
        weights: dense field name -> weight; a field left out (or weight 0) contributes nothing.

    Returns:
        float32 (concat_dim,). `Q . D` equals `sum_f w_f q_f . d_f` over the fields the document has (with
        `impute_missing`, absent fields add `w_f q_f . m` for the document's unit mean m).
    """
    out = np.zeros(layout.concat_dim, dtype=np.float32)
    for f, sl in zip(layout.dense_fields, layout.offsets.values()):
        w = float(weights.get(f.name, 0.0))
        if w == 0.0:
            continue
        if f.name not in query_vectors:
            raise ConfigError(
                f"weight {w} for field {f.name!r} but no query vector for it; embed the "
                f"query with the encoder {f.encoder!r}"
            )
        vec = np.asarray(query_vectors[f.name], dtype=np.float32)
        if vec.shape != (f.dim,):
            raise DimensionMismatch(
                f"query vector for {f.name!r} has shape {vec.shape}, the index expects ({f.dim},)"
            )
        out[sl] = w * vec
    return out


def preset_vector(layout: IndexLayout, doc_vectors: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """`normalize(sum_f a_f d_f)` over the fields present (`preset_fused`; `sum_f a_f d_f` otherwise);
    zeros when no weighted field is present; None: the layout has no preset."""
    weights = layout.options.preset_weights
    if weights is None:
        return None
    total = weighted_sum(weights, doc_vectors, layout.preset_dim)
    norm = float(np.linalg.norm(total)) if layout.options.preset_fused else 0.0
    return total / np.float32(norm) if norm > 0 else total


def knn_plan(
    layout: IndexLayout,
    query_vectors: Mapping[str, np.ndarray],
    weights: Mapping[str, float],
    dense_score: str = "fused",
) -> tuple[str, np.ndarray]:
    """The knn target and query vector for a request: (PRESET, q, or c * q for a legacy preset) when the
    weights are the preset's (weights == c * preset_weights with c > 0) and every preset field's query vector
    is one and the same q; else (CONCAT, `query_vector(layout, query_vectors, weights)`). `knn_exact` says
    whether the knn score is then the dense score itself (`dense_score` only matters there).
    """
    preset = layout.options.preset_weights
    if preset is not None:  # a third of the dimensions; a pool when not the score (knn_exact)
        q = _preset_query(layout, preset, query_vectors, weights)
        if q is not None:
            return PRESET, q
    return CONCAT, query_vector(layout, query_vectors, weights)


def knn_exact(layout: IndexLayout, target: str, dense_score: str) -> bool:
    """Whether the knn score on `target` (as `knn_plan` builds its query) ranks exactly by the dense score
    `dense_score`; if not, the search rescores a pool of `rescore_depth` candidates."""
    if target == PRESET:
        return layout.options.preset_fused == (dense_score == "fused")
    return target == CONCAT and dense_score == "sum" and not layout.options.impute_missing


def _preset_query(
    layout: IndexLayout,
    preset: Mapping[str, float],
    query_vectors: Mapping[str, np.ndarray],
    weights: Mapping[str, float],
) -> np.ndarray | None:
    a = [float(preset.get(name, 0.0)) for name in layout.field_names]
    w = [float(weights.get(name, 0.0)) for name in layout.field_names]
    c = sum(w) / sum(a)
    if not c > 0 or any(abs(w_f - c * a_f) > 1e-9 * max(w_f, c * a_f) for w_f, a_f in zip(w, a)):
        return None
    vectors = [query_vectors.get(name) for name, a_f in zip(layout.field_names, a) if a_f > 0]
    first = vectors[0]
    if first is None or any(v is None or not np.array_equal(v, first) for v in vectors[1:]):
        return None
    q = np.asarray(first, dtype=np.float32)
    if q.shape != (layout.preset_dim,):
        raise DimensionMismatch(
            f"query vector has shape {q.shape}, the preset vector expects ({layout.preset_dim},)"
        )
    if layout.options.preset_fused:  # the fused score does not scale with the weights
        return q.copy()
    return (np.float32(c) * q).astype(np.float32)
