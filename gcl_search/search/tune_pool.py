"""The per-query candidate pool weight tuning re-ranks, so that a trial costs numpy work and no store call.

- the pool is the union of the concatenated-vector ANN search at the default weights, one single-field ANN
  search per field (the concatenated query with one non-zero block), and the BM25 top list of each lexical
  mode, `pool_depth` each (`SearchClient.candidate_pool`);
- every pool document is scored exactly per field once (`q_f . d_f`, and its field Gram matrix `d_f . d_g`),
  so any weights give exact dense scores of the client's kind (`multi_field_scores`, as search computes them);
- a hybrid trial fuses over what the client would for a run of k hits: the top `ceil(k * oversample)` of the
  pool by its dense score and of the BM25 list (bounded by the pool).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gcl_search.fields.vectors import field_gram, multi_field_scores
from gcl_search.search.client import LexicalSpec, SearchClient
from gcl_search.search.fusion import fuse
from gcl_search.search.live import SearchQuery


@dataclass
class Pool:
    """One query's candidates, scored per field once (arrays in pool order)."""

    ids: np.ndarray  # (n,) doc ids, as str
    fields: np.ndarray  # (n, F) q_f . d_f, 0 where the document lacks the field
    lexical: dict[str, np.ndarray]  # mode -> (n,) raw BM25, 0 where not returned
    matched: dict[str, np.ndarray]  # mode -> (n,) bool, returned by BM25
    present: np.ndarray  # (n, F) bool, the fields each document has
    gram: np.ndarray  # (n, F, F) d_f . d_g
    dense_score: str = "fused"

    def __post_init__(self) -> None:
        # Ranked thousands of times: tie-break on integers, not strings, and hand fuse() a ready list.
        self.tie = np.argsort(np.argsort(self.ids, kind="stable"), kind="stable")
        self.id_list = [str(d) for d in self.ids]


def build_pool(
    client: SearchClient, query: SearchQuery, depth: int, lexical: LexicalSpec | None, modes: Sequence[str]
) -> Pool:
    """The query's pool through `SearchClient.candidate_pool`, each document scored exactly per field."""
    pool = client.candidate_pool(query.text, query.image, depth=depth, lexical=lexical, modes=modes)
    vectors, order, found, lex = pool.query_vectors, pool.doc_ids, pool.vectors, pool.lexical
    matrix = np.zeros((len(order), len(client.field_names)), dtype=np.float64)
    for i, doc_id in enumerate(order):
        for j, name in enumerate(client.field_names):
            if name in found[doc_id]:
                matrix[i, j] = float(np.dot(vectors[name], found[doc_id][name]))
    present = np.array([[n in found[d] for n in client.field_names] for d in order], dtype=bool)
    gram = np.array([field_gram(found[d], client.field_names) for d in order]).reshape(
        len(order), len(client.field_names), len(client.field_names)
    )
    return Pool(
        np.array(order, dtype=str),
        matrix,
        {m: np.array([lex[m].get(d, 0.0) for d in order]) for m in lex},
        {m: np.array([d in lex[m] for d in order], dtype=bool) for m in lex},
        present.reshape(matrix.shape),
        gram,
        client.dense_score,
    )


def rank_pool(
    pool: Pool, weights: Sequence[float], lexical: LexicalSpec | None, mode: str | None, k: int
) -> dict[str, float]:
    """The run of one query at these settings: the top k of the pool, as the client would rank them."""
    if not len(pool.ids):
        return {}
    scores = multi_field_scores(
        pool.fields, pool.gram, pool.present, np.asarray(weights, dtype=np.float64), pool.dense_score
    )
    if lexical is None:
        top = np.lexsort((pool.tie, -scores))[:k]
        return {pool.id_list[i]: float(scores[i]) for i in top}
    # the client's candidate set: the dense top and the BM25 top, ceil(k * oversample) each
    depth = math.ceil(k * (lexical.oversample or 1.0))
    lex, matched = pool.lexical[mode], pool.matched[mode]
    dense_top = np.lexsort((pool.tie, -scores))[:depth]
    lex_rows = np.flatnonzero(matched)
    lex_top = lex_rows[np.lexsort((pool.tie[lex_rows], -lex[lex_rows]))[:depth]]
    rows = np.union1d(dense_top, lex_top)
    ids = [pool.id_list[i] for i in rows]
    found = np.isin(rows, lex_top)  # as the client: no BM25 score for what its BM25 search did not return
    fused = fuse(
        ids,
        scores[rows],
        np.where(found, lex[rows], 0.0),
        found,
        lexical.fusion,
        lexical.weight,
        lexical.rank_constant,
    )
    order = np.lexsort((pool.tie[rows], -fused))[:k]
    return {ids[i]: float(fused[i]) for i in order}
