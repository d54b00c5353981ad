"""The multi-field vector maths, in numpy, in one place.

The fused vector `normalize(sum_k a_k normalize(v_k))` with weights renormalised over the fields a record
has, a query's vector per document field, the multi-field dense score of a query against documents
(`multi_field_scores`, used by both stores, search and tuning), per-field similarities and dot products, and
the sums the index's derived vectors are built from (`gcl_search.stores.derived`). The training loss fuses
with `gcl_search.losses.fuse_fields`, the torch twin of `fuse_fields` (torch because gradients flow through
it; tests/unit/test_train_multifield.py holds them equal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from gcl_search.config import DENSE_SCORES, FieldSpec
from gcl_search.encoders.base import l2_normalise
from gcl_search.errors import ConfigError

if TYPE_CHECKING:
    from gcl_search.fields.encode import EncodedRecords


def renormalised_weights(weights: Sequence[float], present: np.ndarray) -> np.ndarray:
    """Weights renormalised over each record's present fields.

    Args:
        weights: one weight per field, (F,).
        present: bool (n, F).

    Returns:
        float (n, F): `a_k * present_k / sum_j a_j * present_j`; all-zero rows where no present field has a
        positive weight (the fused vector is undefined there).
    """
    masked = np.asarray(weights, dtype=np.float64)[None, :] * np.asarray(present, dtype=bool)
    totals = masked.sum(axis=1, keepdims=True)
    return np.divide(masked, totals, out=np.zeros_like(masked), where=totals > 0)


def fuse_fields(
    vectors: Mapping[str, np.ndarray],
    weights: Mapping[str, float],
    present: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """`normalize(sum_k a_k normalize(v_k))` row by row, weights renormalised over present fields.

    Args:
        vectors: field -> (n, dim) vectors (all the same dim).
        weights: field -> weight >= 0 (every field in `vectors` needs one).
        present: field -> bool (n,); default: every row present.

    Returns:
        float32 (n, dim) unit rows; a zero row where no present field has a positive weight.
    """
    names = list(vectors)
    if not names:
        raise ValueError("fuse_fields needs at least one field")
    n = len(vectors[names[0]])
    mask = np.stack([np.ones(n, bool) if present is None else present[k] for k in names], axis=1)
    a = renormalised_weights([weights[k] for k in names], mask)
    total = sum(a[:, [j]] * l2_normalise(vectors[k]).astype(np.float64) for j, k in enumerate(names))
    return l2_normalise(total)


def query_vectors_for_fields(
    query: EncodedRecords,
    query_fields: Sequence[FieldSpec],
    doc_fields: Sequence[FieldSpec],
    weights: Mapping[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """For each document field f, the query's vector `q_f` in f's encoder space.

    `q_f` fuses the query fields that use f's encoder (their weights renormalised over present ones), so a
    query is embedded once per encoder and shared by every document field of that encoder. `weights`
    (query field -> weight) overrides the query fields' configured weights.

    Raises:
        ConfigError: a document field's encoder is used by no query field.
    """
    out: dict[str, np.ndarray] = {}
    for doc in doc_fields:
        names = [q.name for q in query_fields if q.encoder == doc.encoder]
        if not names:
            raise ConfigError(
                f"document field {doc.name!r} uses encoder {doc.encoder!r} but no query field "
                f"does; add a [[query_fields]] table with encoder = {doc.encoder!r}"
            )
        weights_of = {q.name: float((weights or {}).get(q.name, q.weight)) for q in query_fields}
        out[doc.name] = fuse_fields(
            {k: query.vectors[k] for k in names}, weights_of, {k: query.present[k] for k in names}
        )
    return out


def multi_field_scores(
    sims: np.ndarray, dots: np.ndarray | None, present: np.ndarray, weights: np.ndarray, method: str = "fused"
) -> np.ndarray:
    """Dense scores of n documents from their per-field similarities: THE formula (docs/search.md, "Scoring"),
    used by both stores' search, by `gcl-search tune` and by the recall benchmarks.

    - "fused": `sum_f a_f s_f / ||sum_f a_f d_f||` with `a_f = w_f [f present] / sum_g w_g [g present]`,
      which is `q . normalize(sum_f a_f d_f)` when every field shares one query vector: the seed's fused
      embedding at the request's weights. The renormalisation cancels, so the score does not change when all
      weights are scaled by the same factor. 0 where no present field has a positive weight.
    - "sum": `sum_f w_f s_f` over the present fields (absent fields add nothing).

    Args:
        sims: (n, F) `q_f . d_f` (values of absent fields are ignored).
        dots: (n, F, F) `d_f . d_g` (the documents' field Gram matrices; entries of absent fields are
            ignored); not needed for "sum".
        present: (n, F) bool, which fields each document has.
        weights: (F,) or (n, F) request weights >= 0.
        method: "fused" or "sum".

    Returns:
        float64 (n,).
    """
    mask = np.asarray(present, dtype=bool)
    s = np.where(mask, np.asarray(sims, dtype=np.float64), 0.0)
    w = np.broadcast_to(np.asarray(weights, dtype=np.float64), s.shape) * mask
    if method == "sum":
        return (w * s).sum(axis=1)
    if method != "fused":
        raise ConfigError(f"dense score {method!r} is not known; use one of: {', '.join(DENSE_SCORES)}")
    gram = np.where(mask[:, :, None] & mask[:, None, :], np.asarray(dots, dtype=np.float64), 0.0)
    norm2 = np.einsum("nf,nfg,ng->n", w, gram, w)
    norm = np.sqrt(np.maximum(norm2, 0.0))
    return np.divide((w * s).sum(axis=1), norm, out=np.zeros(len(s)), where=norm > 0)


def scored_fields(query_vectors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The query vectors that get field scores: non-zero ones, as float64 (an all-zero vector means the
    query had nothing for that field, e.g. no image)."""
    return {name: np.asarray(q, dtype=np.float64) for name, q in query_vectors.items() if np.any(q)}


def field_similarities(
    doc_vectors: Mapping[str, np.ndarray], query_vectors: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """{field: q_f . d_f} in float64 over the fields both sides have (query vectors from `scored_fields`)."""
    return {
        name: float(np.dot(query_vectors[name], np.asarray(vec, dtype=np.float64)))
        for name, vec in doc_vectors.items()
        if name in query_vectors
    }


def field_dots(doc_vectors: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[tuple[str, str], float]:
    """{(f, g): d_f . d_g} in float64 for f <= g in `names` order over the fields the document has."""
    have = [(n, np.asarray(doc_vectors[n], dtype=np.float64)) for n in names if n in doc_vectors]
    return {
        (f, g): float(np.dot(a, b))
        for i, (f, a) in enumerate(have)
        for g, b in have[i:]
        if a.shape == b.shape
    }


def field_gram(vectors: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """One document's (F, F) float64 `d_f . d_g` over `names` (0 for a field it lacks): `field_dots` as a
    matrix."""
    out = np.zeros((len(names), len(names)))
    index = {name: i for i, name in enumerate(names)}
    for (f, g), dot in field_dots(vectors, names).items():
        out[index[f], index[g]] = out[index[g], index[f]] = dot
    return out


def weighted_sum(weights: Mapping[str, float], vectors: Mapping[str, np.ndarray], dim: int) -> np.ndarray:
    """float32 `sum_f a_f v_f` over the fields present with `a_f > 0` (zeros when there is none); the preset
    vector's sum (float32 accumulation, as the indices were written)."""
    total = np.zeros(dim, dtype=np.float32)
    for name, a in weights.items():
        if name in vectors and a > 0:
            total += float(a) * np.asarray(vectors[name], dtype=np.float32)
    return total


def unit_mean(vectors: Sequence[np.ndarray]) -> np.ndarray | None:
    """float32 `normalize(sum v)` (summed in float64); None when there is none or the sum is 0."""
    if not vectors:
        return None
    mean = np.sum(vectors, axis=0, dtype=np.float64)
    norm = float(np.linalg.norm(mean))
    return (mean / norm).astype(np.float32) if norm > 0 else None
