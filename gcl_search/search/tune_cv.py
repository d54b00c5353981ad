"""Cross-validated shrinkage for weight tuning (`gcl_search.search.tune`): each candidate's per-query metric
on the candidate pools, and the blend `d + a (best - d)` toward the defaults whose `a` holds up across folds.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np

from gcl_search.errors import ConfigError
from gcl_search.evaluation import evaluate
from gcl_search.search.lexical import LexicalSpec
from gcl_search.search.tune_grid import Candidate, candidate_spec
from gcl_search.search.tune_pool import Pool, rank_pool

SHRINKAGE = (0.0, 0.25, 0.5, 0.75, 1.0)


class Scorer:
    """Per-query metric of one candidate on the pools (all tuning queries, or a subset by position)."""

    def __init__(
        self,
        pools: Mapping[str, Pool],
        judgments: Mapping[str, Mapping[str, int]],
        metric: str,
        lexical: LexicalSpec | None,
        k: int,
        options: Mapping[str, object],
    ):
        self.pools, self.judgments, self.metric = pools, judgments, metric
        self.lexical, self.k, self.options = lexical, k, options
        self.query_ids = list(evaluate(judgments, {}, [metric], missing_queries="zero", **options).query_ids)
        if not self.query_ids:
            raise ConfigError(
                "no tuning query has a judged relevant document (grade >= 1); nothing to tune on"
            )

    def __call__(self, candidate: Candidate, subset: Sequence[int] | None = None) -> np.ndarray:
        spec = candidate_spec(self.lexical, candidate)
        ids = self.query_ids if subset is None else [self.query_ids[i] for i in subset]
        run = {qid: rank_pool(self.pools[qid], candidate[0], spec, candidate[3], self.k) for qid in ids}
        report = evaluate(
            {qid: self.judgments[qid] for qid in ids},
            run,
            [self.metric],
            missing_queries="zero",
            **self.options,
        )
        values = dict(zip(report.query_ids, report.column(self.metric)))
        return np.array([values[qid] for qid in ids], dtype=np.float64)


def choose_shrinkage(
    scorer: Scorer,
    candidates: Sequence[Candidate],
    matrix: np.ndarray,
    default: Candidate,
    folds: int,
    seed: int,
) -> tuple[float, dict[float, float], int]:
    """(chosen a, a -> cross-validated mean, folds used): k-fold over the scored tuning queries."""
    n = matrix.shape[1]
    n_folds = min(folds, n)
    if n_folds < 2:
        return 1.0, {}, 0
    order = list(range(n))
    random.Random(seed + 1).shuffle(order)
    held_scores = {a: np.zeros(n) for a in SHRINKAGE}
    for fold in np.array_split(np.array(order), n_folds):
        inside = np.setdiff1d(np.arange(n), fold)
        best = candidates[best_candidate(candidates, matrix[:, inside].mean(axis=1))]
        for a in SHRINKAGE:
            held_scores[a][fold] = scorer(blend(default, best, a), list(fold))
    cv = {a: float(v.mean()) for a, v in held_scores.items()}
    chosen = SHRINKAGE[0]
    for a in SHRINKAGE[1:]:
        if cv[a] > cv[chosen] + 1e-12:
            chosen = a
    return chosen, cv, n_folds


def best_candidate(candidates: Sequence[Candidate], means: np.ndarray) -> int:
    """The candidate with the best mean; ties go to the first listed (the defaults come first)."""
    top = float(np.max(means))
    return next(i for i, m in enumerate(means) if m >= top - 1e-12)


def blend(default: Candidate, best: Candidate, a: float) -> Candidate:
    """Weights blended `d + a (best - d)`; the categorical choices (fusion, mode, depth) are the best's for
    a > 0 (a blend of two fusions means nothing)."""
    weights = tuple(d + a * (b - d) for d, b in zip(default[0], best[0]))
    lam = None if default[1] is None or best[1] is None else default[1] + a * (best[1] - default[1])
    return (weights, lam, *(best if a > 0 else default)[2:])
