"""Combining per-field unit vectors (pure numpy): the fused vector `normalize(sum_k a_k normalize(v_k))` with
weights renormalised over the fields a record has, a query's vector per document field, and the
multi-field dense score of a query against documents (`multi_field_scores`, used by search and tuning).
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


def fuse_fields(vectors: Mapping[str, np.ndarray], weights: Mapping[str, float],
                present: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
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


def query_vectors_for_fields(query: EncodedRecords, query_fields: Sequence[FieldSpec],
                             doc_fields: Sequence[FieldSpec],
                             weights: Mapping[str, float] | None = None) -> dict[str, np.ndarray]:
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
            raise ConfigError(f"document field {doc.name!r} uses encoder {doc.encoder!r} but no query field "
                              f"does; add a [[query_fields]] table with encoder = {doc.encoder!r}")
        weights_of = {q.name: float((weights or {}).get(q.name, q.weight)) for q in query_fields}
        out[doc.name] = fuse_fields({k: query.vectors[k] for k in names}, weights_of,
                                    {k: query.present[k] for k in names})
    return out


def multi_field_scores(sims: np.ndarray, dots: np.ndarray | None, present: np.ndarray,
                       weights: np.ndarray, method: str = "fused") -> np.ndarray:
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


def field_gram(vectors: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """One document's (F, F) float64 `d_f . d_g` over `names` (0 for a field it lacks)."""
    out = np.zeros((len(names), len(names)))
    vecs = [None if vectors.get(n) is None else np.asarray(vectors[n], dtype=np.float64) for n in names]
    for i, a in enumerate(vecs):
        for j in range(i, len(names)):
            b = vecs[j]
            if a is not None and b is not None and a.shape == b.shape:
                out[i, j] = out[j, i] = float(a @ b)
    return out
