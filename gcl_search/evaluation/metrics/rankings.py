"""The sparse ranking structure every metric reads: where each *judged* document landed in each run.

Metrics only need the rank and grade of judged documents (an unjudged document has gain 0 everywhere; judged@k
and the RBP residual count judged ranks too), so a 10,000 x 1,000 run becomes a few flat arrays of length
"judged documents retrieved" instead of a 10M-cell matrix. Ranks are computed without sorting documents:
rank(d) = 1 + #(scores > s_d) + #(scores == s_d and doc_id < d), i.e. score descending, then doc_id ascending.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np


@dataclass(frozen=True)
class Rankings:
    """Judged documents retrieved per query, flat and sorted by (query row, rank).

    Attributes:
        query_ids: the evaluated queries; row i of every per-query array is query_ids[i].
        row: (m,) query row of each retrieved judged document.
        rank: (m,) its 1-based rank in the run (in the condensed run when condensed=True).
        grade: (m,) its grade, negative grades clamped to 0.
        n_retrieved: (n,) run length per query (judged documents only when condensed).
        n_relevant: (n,) documents judged with grade >= 1 per query (retrieved or not).
        query_max_grade: (n,) highest grade judged for the query (0 when none is positive).
        ideal_row, ideal_rank, ideal_grade: (i,) each query's positive grades, descending: the ideal run.
    """

    query_ids: tuple[str, ...]
    row: np.ndarray
    rank: np.ndarray
    grade: np.ndarray
    n_retrieved: np.ndarray
    n_relevant: np.ndarray
    query_max_grade: np.ndarray
    ideal_row: np.ndarray
    ideal_rank: np.ndarray
    ideal_grade: np.ndarray

    @property
    def n_queries(self) -> int:
        return len(self.query_ids)


def build_rankings(
    judgments: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    query_ids: Sequence[str],
    condensed: bool = False,
) -> Rankings:
    """Locate every judged document of `query_ids` in `run` (a query absent from the run retrieves nothing).

    Args:
        judgments: query_id -> doc_id -> grade.
        run: query_id -> doc_id -> score.
        query_ids: the queries to evaluate, in output order.
        condensed: drop unjudged documents from each ranking first (Sakai's condensed lists), so ranks count
            judged documents only.
    """
    n = len(query_ids)
    empty: dict = {}
    judged_maps = [judgments.get(q, empty) for q in query_ids]
    hit_maps = [run.get(q, empty) for q in query_ids]
    n_found = np.zeros(n, np.int64)
    ranks: list[np.ndarray] = []
    grades: list[int] = []
    for i, (judged, hits) in enumerate(zip(judged_maps, hit_maps)):
        common = list(judged.keys() & hits.keys())  # C-level, iterates the smaller side
        if common:
            ranks.append(_ranks(hits, common))
            grades.extend(map(judged.__getitem__, common))
            n_found[i] = len(common)
    row = np.repeat(np.arange(n, dtype=np.int64), n_found)
    rank = np.concatenate(ranks) if ranks else np.zeros(0, np.int64)
    grade = np.maximum(np.asarray(grades, np.int64), 0)
    order = np.lexsort((rank, row))
    row, rank, grade = row[order], rank[order], grade[order]
    if condensed:
        rank = segment_position(row) + 1
    n_retrieved = n_found if condensed else np.fromiter(map(len, hit_maps), np.int64, n)
    ideal_row, ideal_grade = _ideal(judged_maps)
    n_relevant = np.bincount(ideal_row, minlength=n).astype(np.int64)
    query_max = np.zeros(n, np.int64)
    has = np.flatnonzero(n_relevant)  # each query's ideal grades start with its highest
    query_max[has] = ideal_grade[np.cumsum(n_relevant)[has] - n_relevant[has]]
    return Rankings(
        tuple(query_ids),
        row,
        rank,
        grade,
        n_retrieved,
        n_relevant,
        query_max,
        ideal_row,
        segment_position(ideal_row) + 1,
        ideal_grade,
    )


def _ranks(hits: Mapping[str, float], common: list[str]) -> np.ndarray:
    """1-based ranks of the `common` docs in `hits`: score descending, then doc_id ascending."""
    n = len(hits)
    scores = np.fromiter(hits.values(), np.float64, n)
    scores.sort()
    mine = np.fromiter(map(hits.__getitem__, common), np.float64, len(common))
    above = np.searchsorted(scores, mine, side="right")  # scores <= mine, including mine itself
    rank = n - above + 1
    # another doc shares the score exactly when the sorted score just below mine's own slot equals it
    tied = (above >= 2) & (scores[np.maximum(above - 2, 0)] == mine)
    for j in np.flatnonzero(tied):
        rank[j] += sum(1 for d, s in hits.items() if s == mine[j] and d < common[j])
    return rank.astype(np.int64)


def _ideal(judged_maps: list[Mapping[str, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Each query's positive grades sorted descending (the ideal run), as flat (row, grade) arrays."""
    counts = np.fromiter(map(len, judged_maps), np.int64, len(judged_maps))
    grade = np.fromiter(chain.from_iterable(m.values() for m in judged_maps), np.int64, int(counts.sum()))
    row = np.repeat(np.arange(len(judged_maps), dtype=np.int64), counts)
    keep = grade > 0
    row, grade = row[keep], grade[keep]
    order = np.lexsort((-grade, row))
    return row[order], grade[order]


def segment_position(row: np.ndarray) -> np.ndarray:
    """0-based position of each element within its run of equal (sorted) `row` values."""
    if len(row) == 0:
        return np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    lengths = np.diff(np.r_[starts, len(row)])
    return np.arange(len(row)) - np.repeat(starts, lengths)


def exclusive_segment_cumsum(row: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sum of `values` over the earlier elements of the same segment (0 for a segment's first element)."""
    if len(row) == 0:
        return np.zeros(0, np.float64)
    total = np.cumsum(values)
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    lengths = np.diff(np.r_[starts, len(row)])
    before_segment = np.repeat(total[starts] - values[starts], lengths)
    return total - values - before_segment


def per_query(rankings: Rankings, row: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sum `weights` per query row: (n_queries,)."""
    return np.bincount(row, weights=weights, minlength=rankings.n_queries).astype(np.float64)


def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (e.g. no relevant document)."""
    out = np.zeros_like(numerator, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out
