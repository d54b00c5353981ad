"""Scoring and ranking a candidate set: pure functions that `SearchClient` and the weight tuner share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from gcl_search.fields.vectors import multi_field_scores
from gcl_search.ranking import rank_key
from gcl_search.records import Hit
from gcl_search.search.fusion import fuse
from gcl_search.search.lexical import LexicalSpec
from gcl_search.stores.base import Candidate

SCORE_DECIMALS = 10


def candidate_scores(
    candidates: Sequence[Candidate],
    weights: Mapping[str, float],
    field_names: Sequence[str],
    method: str = "fused",
) -> np.ndarray:
    """The dense score of each candidate (float64 (n,)) by `multi_field_scores`, from its `field_scores` and,
    for "fused", its `dots` (whose diagonal says which weighted fields it has)."""
    n, f = len(candidates), len(field_names)
    sims, present = np.zeros((n, f)), np.zeros((n, f), dtype=bool)
    dots = np.zeros((n, f, f)) if method == "fused" else None
    index = {name: j for j, name in enumerate(field_names)}
    for i, c in enumerate(candidates):
        for name, s in c.field_scores.items():
            if name in index:
                sims[i, index[name]] = s
        if dots is None:
            present[i] = [name in c.field_scores for name in field_names]
            continue
        for (a, b), value in (c.dots or {}).items():
            dots[i, index[a], index[b]] = dots[i, index[b], index[a]] = value
            present[i, index[a]] |= a == b
    w = np.array([float(weights.get(name, 0.0)) for name in field_names])
    # The stores reach the same value through different summation orders (numpy vs painless), and the same
    # product can be stored twice with its title repeated as description: the last bits of float64 must not
    # break such ties. Vectors are float32 (~7 digits), so 10 decimals lose nothing.
    return np.round(multi_field_scores(sims, dots, present, w, method), SCORE_DECIMALS)


def rank_hits(
    scored: Sequence[tuple[str, float, dict[str, float]]],
    lexical_scores: Mapping[str, float],
    lexical: LexicalSpec | None,
) -> list[Hit]:
    """Combine and sort (score descending, doc_id ascending). Pure: the tuner calls it too."""
    if not scored:
        return []
    ids = [doc_id for doc_id, _, _ in scored]
    dense = np.array([d for _, d, _ in scored], dtype=np.float64)
    if lexical is None:
        combined = dense
    else:
        raw = np.array([lexical_scores.get(doc_id, 0.0) for doc_id in ids], dtype=np.float64)
        matched = np.array([doc_id in lexical_scores for doc_id in ids], dtype=bool)
        combined = fuse(ids, dense, raw, matched, lexical.fusion, lexical.weight, lexical.rank_constant)
    hits = [
        Hit(
            doc_id=doc_id,
            score=float(c),
            dense_score=float(d),
            field_scores=fs,
            lexical_score=lexical_scores.get(doc_id) if lexical is not None else None,
        )
        for (doc_id, d, fs), c in zip(scored, combined)
    ]
    hits.sort(key=lambda h: rank_key(h.score, h.doc_id))
    return hits
