"""What a search returns to the search client: `Candidate`s with exact field similarities.

`candidates_from_parts` is the reference `VectorStore.candidates`, built from a store's `knn`, `vectors`,
`lexical` and `attributes`; a store that can do it in one backend request (OpenSearch) is tested against it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gcl_search.fields.vectors import field_dots, field_similarities, scored_fields
from gcl_search.stores.derived import knn_exact, knn_plan
from gcl_search.stores.filters import Filter
from gcl_search.stores.layout import IndexLayout

if TYPE_CHECKING:
    from gcl_search.stores.base import VectorStore


@dataclass(frozen=True)
class LexicalQuery:
    """The lexical half of `VectorStore.candidates`: BM25 of `text`, top `k`; `mode` "most_fields" sums the
    boosted per-field scores over `fields` (None: all text fields), "combined" scores the catch-all field plus
    the boosted fields (`gcl_search.stores.bm25`)."""

    text: str
    fields: tuple[str, ...] | None
    k: int
    mode: str = "most_fields"
    boosts: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """A document a search found, with what the client needs to score and show it.

    Attributes:
        doc_id: the document id.
        field_scores: field -> raw similarity `q_f . d_f` (float64) for every field the document has and the
            query has a non-zero vector for (weight-0 fields included); absent fields are left out.
        attributes: stored attributes ({} when not asked for).
        bm25: the BM25 score (lexical candidates only).
        dots: (f, g) -> `d_f . d_g` (f before or equal to g in layout order) over the fields the document has
            among those the request weights > 0; the diagonal tells which of them it has. None when the
            request's dense score does not need them ("sum").
    """

    doc_id: str
    field_scores: dict[str, float]
    attributes: dict[str, object]
    bm25: float | None = None
    dots: dict[tuple[str, str], float] | None = None


def dot_fields(layout: IndexLayout, weights: Mapping[str, float], dense_score: str) -> tuple[str, ...]:
    """The fields whose pairwise dot products a request needs: the weighted ones, for "fused"; none else."""
    if dense_score != "fused":
        return ()
    return tuple(n for n in layout.field_names if weights.get(n, 0.0) > 0)


def candidates_from_parts(
    store: VectorStore,
    query_vectors: Mapping[str, np.ndarray],
    weights: Mapping[str, float],
    depth: int,
    filters: Sequence[Filter] = (),
    lexical: LexicalQuery | None = None,
    attributes: bool = True,
    dense_score: str = "sum",
    pool: int | None = None,
    dense_ids: Sequence[str] | None = None,
) -> tuple[list[Candidate], list[Candidate]]:
    """`VectorStore.candidates` from a store's `knn`, `vectors`, `lexical` and `attributes` (the reference the
    OpenSearch one-request version is tested against); `dense_ids` replaces the knn (the local store passes
    its exact ranking)."""
    layout = store.layout()
    if dense_ids is not None:
        dense_ids = list(dense_ids)
    elif any(w > 0 for w in weights.values()):
        target, q = knn_plan(layout, query_vectors, weights, dense_score)
        exact = knn_exact(layout, target, dense_score)
        k = depth if exact else max(depth, pool or layout.options.rescore_depth)
        dense_ids = [doc_id for doc_id, _ in store.knn(q, k, filters, target)]
    else:
        dense_ids = []
    bm25: dict[str, float] = {}
    if lexical is not None:
        fields = None if lexical.fields is None else list(lexical.fields)
        bm25 = dict(
            store.lexical(lexical.text, fields, lexical.k, filters, mode=lexical.mode, boosts=lexical.boosts)
        )
    ids = list(dict.fromkeys([*dense_ids, *bm25]))
    vectors = store.vectors(ids)
    attrs = store.attributes(ids) if attributes and ids else {}
    qf = scored_fields(query_vectors)
    names = dot_fields(layout, weights, dense_score)
    found = {
        doc_id: Candidate(
            doc_id,
            field_similarities(vectors[doc_id], qf),
            attrs.get(doc_id, {}),
            bm25.get(doc_id),
            field_dots(vectors[doc_id], names) if names else None,
        )
        for doc_id in ids
        if doc_id in vectors
    }
    return [found[d] for d in dense_ids if d in found], [found[d] for d in bm25 if d in found]
