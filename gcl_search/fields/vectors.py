"""Combining per-field unit vectors (pure numpy): the fused vector `normalize(sum_k a_k normalize(v_k))` with
weights renormalised over the fields a record has, and the concatenated layout `[w_1 v_1; ...; w_F v_F]`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from gcl_search.config import FieldSpec
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


def fuse(vectors: Mapping[str, np.ndarray | None], weights: Mapping[str, float]) -> np.ndarray:
    """Fuse one record: field -> unit vector (dim,) or None for an absent field. Returns (dim,) float32.

    Raises:
        ValueError: no present field has a positive weight.
    """
    present = {k: v for k, v in vectors.items() if v is not None}
    if not any(weights[k] > 0 for k in present):
        raise ValueError(f"no present field has a positive weight (present: {', '.join(present) or 'none'})")
    return fuse_fields({k: np.asarray(v)[None, :] for k, v in present.items()}, weights)[0]


def concatenate(vectors: Mapping[str, np.ndarray], names: Sequence[str],
                weights: Mapping[str, float] | None = None) -> np.ndarray:
    """Per-field blocks side by side in `names` order: `[w_1 v_1; ...; w_F v_F]`, float32 (n, sum dim_f).

    Documents use no weights (`D`); a query scales each block by its request weight (`Q`), so that
    `Q . D = sum_f w_f q_f . d_f`.
    """
    blocks = [vectors[k] * (1.0 if weights is None else weights.get(k, 0.0)) for k in names]
    return np.concatenate(blocks, axis=1).astype(np.float32, copy=False)


def query_vectors_for_fields(query: EncodedRecords, query_fields: Sequence[FieldSpec],
                             doc_fields: Sequence[FieldSpec]) -> dict[str, np.ndarray]:
    """For each document field f, the query's vector `q_f` in f's encoder space.

    `q_f` fuses the query fields that use f's encoder (their weights renormalised over present ones), so a
    query is embedded once per encoder and shared by every document field of that encoder.

    Raises:
        ConfigError: a document field's encoder is used by no query field.
    """
    out: dict[str, np.ndarray] = {}
    for doc in doc_fields:
        names = [q.name for q in query_fields if q.encoder == doc.encoder]
        if not names:
            raise ConfigError(f"document field {doc.name!r} uses encoder {doc.encoder!r} but no query field "
                              f"does; add a [[query_fields]] table with encoder = {doc.encoder!r}")
        weights = {q.name: q.weight for q in query_fields}
        out[doc.name] = fuse_fields({k: query.vectors[k] for k in names}, weights,
                                    {k: query.present[k] for k in names})
    return out
