"""Metric definitions over `Rankings`, vectorised with numpy segment operations: each returns (n_queries,).

Conventions: relevant = grade >= 1; unjudged documents have grade 0; `k=None` means the whole run.
ERR and RBP are written here because ranx and pytrec_eval lack ERR and normalise RBP differently; the others
(nDCG, MAP, MRR, P, R) are also hand-vectorised because the measured cost of converting 10M hits into ranx's
numba structures dominates (see benchmarks/bench_evaluation.py); tests hold them to pytrec_eval and ranx.
"""

from __future__ import annotations

import numpy as np

from gcl_search.evaluation.metrics.rankings import (
    Rankings,
    exclusive_segment_cumsum,
    per_query,
    safe_divide,
    segment_position,
)


def _cut(rankings: Rankings, k: int | None, relevant_only: bool = False) -> np.ndarray:
    mask = np.ones(len(rankings.rank), bool) if k is None else rankings.rank <= k
    return mask & (rankings.grade >= 1) if relevant_only else mask


def _depth(rankings: Rankings, k: int | None) -> np.ndarray:
    return rankings.n_retrieved.astype(np.float64) if k is None else np.full(rankings.n_queries, float(k))


def gains(grade: np.ndarray, exponential: bool) -> np.ndarray:
    """Gain of a grade: g (linear, trec_eval) or 2^g - 1 (exponential, Burges et al.)."""
    grade = grade.astype(np.float64)
    return np.exp2(grade) - 1.0 if exponential else grade


def ndcg(rankings: Rankings, k: int | None, exponential: bool = False) -> np.ndarray:
    """nDCG@k = sum_{r<=k} gain(g_r)/log2(r+1) / the same for the ideal ordering of all judgments."""
    mask = _cut(rankings, k)
    dcg = per_query(
        rankings,
        rankings.row[mask],
        gains(rankings.grade[mask], exponential) / np.log2(rankings.rank[mask] + 1.0),
    )
    ideal = np.ones(len(rankings.ideal_rank), bool) if k is None else rankings.ideal_rank <= k
    idcg = per_query(
        rankings,
        rankings.ideal_row[ideal],
        gains(rankings.ideal_grade[ideal], exponential) / np.log2(rankings.ideal_rank[ideal] + 1.0),
    )
    return safe_divide(dcg, idcg)


def precision(rankings: Rankings, k: int | None) -> np.ndarray:
    """P@k = relevant documents in the top k / k (a run shorter than k is not excused, as in trec_eval)."""
    mask = _cut(rankings, k, relevant_only=True)
    return safe_divide(per_query(rankings, rankings.row[mask], np.ones(mask.sum())), _depth(rankings, k))


def recall(rankings: Rankings, k: int | None) -> np.ndarray:
    """R@k = relevant documents in the top k / all relevant documents judged for the query."""
    mask = _cut(rankings, k, relevant_only=True)
    return safe_divide(per_query(rankings, rankings.row[mask], np.ones(mask.sum())), rankings.n_relevant)


def average_precision(rankings: Rankings, k: int | None) -> np.ndarray:
    """AP@k = sum over relevant documents at rank r <= k of P@r, divided by all relevant judged (trec_eval
    map_cut)."""
    mask = _cut(rankings, k, relevant_only=True)
    row, rank = rankings.row[mask], rankings.rank[mask]
    hits_so_far = segment_position(row) + 1.0
    return safe_divide(per_query(rankings, row, hits_so_far / rank), rankings.n_relevant)


def reciprocal_rank(rankings: Rankings, k: int | None) -> np.ndarray:
    """RR@k = 1 / rank of the first relevant document within the top k (0 if none)."""
    mask = _cut(rankings, k, relevant_only=True)
    out = np.zeros(rankings.n_queries)
    rows, first = np.unique(rankings.row[mask], return_index=True)  # entries are sorted by rank per row
    out[rows] = 1.0 / rankings.rank[mask][first]
    return out


def judged(rankings: Rankings, k: int | None) -> np.ndarray:
    """judged@k = judged documents in the top k / k (whole run: / run length)."""
    mask = _cut(rankings, k)
    return safe_divide(per_query(rankings, rankings.row[mask], np.ones(mask.sum())), _depth(rankings, k))


def err(rankings: Rankings, k: int | None, max_grade: np.ndarray) -> np.ndarray:
    """ERR@k (Chapelle et al. 2009) = sum_r R_r / r * prod_{i<r} (1 - R_i), R = (2^g - 1) / 2^max_grade.

    Args:
        max_grade: (n_queries,) the g_max used per query (the collection's for standard ERR, the query's own
            for the GCL paper's variant).
    """
    mask = _cut(rankings, k)
    row, rank, grade = rankings.row[mask], rankings.rank[mask], rankings.grade[mask].astype(np.float64)
    gmax = max_grade[row].astype(np.float64)
    # 2^(g - gmax) - 2^(-gmax) equals (2^g - 1) / 2^gmax without overflowing for the paper's grades up to 100.
    stop = np.exp2(grade - gmax) - np.exp2(-gmax)
    # R < 1 mathematically, but rounds to 1.0 for g = gmax >= 54; keep the log finite (survival ~1e-16).
    survive = np.exp(exclusive_segment_cumsum(row, np.log1p(-np.minimum(stop, np.nextafter(1.0, 0.0)))))
    return per_query(rankings, row, stop * survive / rank)


def rbp(rankings: Rankings, p: float, max_grade: np.ndarray) -> np.ndarray:
    """RBP (Moffat & Zobel 2008), graded: (1 - p) * sum_r (g_r / max_grade) * p^(r - 1), whole run."""
    row = rankings.row
    gain = safe_divide(rankings.grade.astype(np.float64), max_grade[row].astype(np.float64))
    return (1.0 - p) * per_query(rankings, row, gain * np.power(p, rankings.rank - 1.0))


def rbp_residual(rankings: Rankings, p: float) -> np.ndarray:
    """RBP residual: the most RBP could still rise if every unjudged position (in the run and beyond its end)
    held a maximally relevant document: 1 - (1 - p) * sum over judged ranks r of p^(r - 1)."""
    judged_mass = per_query(rankings, rankings.row, np.power(p, rankings.rank - 1.0))
    return 1.0 - (1.0 - p) * judged_mass
