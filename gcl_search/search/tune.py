"""Weight tuning: choose the field weights (any number of fields) and the lexical weight on judged queries so
that they hold up on queries the tuning never saw.

A coordinate ascent over a fine grid fits the tuning queries and loses on held-out ones (measured on
Icecat), so:

1. candidates: a coarse simplex grid of field weights (multiples of `grid_step`, summing to 1) plus the
   config's own weights, times, for a hybrid, multiples of `lexical_step` for the lexical weight, the fusion
   methods, the lexical modes (combined / most_fields, when the index has a catch-all field and no fields
   are named) and optionally several candidate depths (`oversamples`);
2. every candidate is scored per query on the tuning queries (a fixed candidate pool per query, see below),
   and the in-sample best is the candidate with the best mean; ties go to the one closest to the defaults;
3. shrinkage toward the defaults, chosen by k-fold cross-validation over the tuning queries: for each fold
   the best candidate of the other folds is blended with the defaults, `w = d + a (best - d)` for a in
   SHRINKAGE (the fusion, mode and depth are the best's for a > 0, the defaults' for a = 0), and scored on
   the fold's queries; the `a` with the best mean over all folds wins (ties: the
   smaller `a`, i.e. closer to the defaults; a = 0 keeps the defaults when tuning does not generalise);
4. the result is `d + a (best - d)` for the in-sample best on all tuning queries.

Each trial re-ranks a fixed per-query candidate pool (`tune_pool`), so it costs numpy work and no store call.
The candidates come from `tune_grid`, the cross-validated shrinkage from `tune_cv`.

The pool only bounds what a trial can see; the reported numbers are LIVE runs through the SearchClient with
the default and the chosen weights, on held-out queries the tuning never saw (and on the tuning queries).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from gcl_search.errors import ConfigError
from gcl_search.evaluation import evaluate
from gcl_search.search.client import LexicalSpec, SearchClient
from gcl_search.search.fusion import FUSIONS
from gcl_search.search.live import SearchQuery, run_queries
from gcl_search.search.tune_cv import SHRINKAGE, Scorer, best_candidate, blend, choose_shrinkage
from gcl_search.search.tune_grid import (
    GRID_STEP,
    LEXICAL_STEP,
    MAX_CANDIDATES,
    Candidate,
    candidate_spec,
    grid_candidates,
    normalised,
    simplex_grid,
    step_units,
    unique,
)
from gcl_search.search.tune_pool import build_pool

# the grid's and the shrinkage's constants are re-exported for the callers that import them from here
__all__ = [
    "FOLDS",
    "GRID_STEP",
    "LEXICAL_STEP",
    "MAX_CANDIDATES",
    "SHRINKAGE",
    "TuneResult",
    "simplex_grid",
    "split_queries",
    "tune_weights",
]

FOLDS = 5


@dataclass(frozen=True)
class TuneResult:
    """What `tune_weights` found.

    Attributes:
        metric: the metric maximised.
        weights: the chosen field weights (sum 1): the defaults shrunk toward the in-sample best.
        lexical: the chosen lexical spec (None when no lexical component was tuned).
        default_weights: the config's weights, scaled to sum 1.
        default_lexical: the lexical spec tuning started from.
        train_queries, heldout_queries: the query ids of each split.
        shrinkage: the chosen `a` (0: defaults kept, 1: the in-sample best).
        cv_scores: `a` -> cross-validated mean of the metric on the tuning queries (the pool's ranking).
        folds: folds used for that (0: too few tuning queries to cross-validate; `a` = 1).
        scores: "<split>/<best|default>" -> the metric of a live run (split: train, heldout).
        trials: candidates scored on the pool.
    """

    metric: str
    weights: dict[str, float]
    lexical: LexicalSpec | None
    default_weights: dict[str, float]
    default_lexical: LexicalSpec | None
    train_queries: tuple[str, ...]
    heldout_queries: tuple[str, ...]
    shrinkage: float = 1.0
    cv_scores: dict[float, float] = field(default_factory=dict)
    folds: int = 0
    scores: dict[str, float] = field(default_factory=dict)
    trials: int = 0


def split_queries(
    queries: Sequence[SearchQuery], heldout: float, seed: int = 0
) -> tuple[list[SearchQuery], list[SearchQuery]]:
    """A seeded random split into (train, held-out); held-out gets round(heldout * n), at least 1 when
    heldout > 0 and there are 2+ queries."""
    if not 0.0 <= heldout < 1.0:
        raise ConfigError(f"heldout = {heldout} must be in [0, 1)")
    order = list(queries)
    random.Random(seed).shuffle(order)
    n_held = round(heldout * len(order))
    if heldout > 0 and len(order) > 1:
        n_held = min(max(n_held, 1), len(order) - 1)
    return order[n_held:], order[:n_held]


def tune_weights(
    client: SearchClient,
    queries: Sequence[SearchQuery],
    judgments: Mapping[str, Mapping[str, int]],
    metric: str = "ndcg@10",
    *,
    lexical: LexicalSpec | None = None,
    heldout: float = 0.3,
    seed: int = 0,
    k: int = 100,
    pool_depth: int = 200,
    grid_step: float = GRID_STEP,
    lexical_step: float = LEXICAL_STEP,
    folds: int = FOLDS,
    condensed: bool = False,
    fusions: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    oversamples: Sequence[float] = (),
) -> TuneResult:
    """Choose the field weights (and `lexical.weight` when `lexical` is given) that maximise `metric` and
    hold up across folds of the tuning queries (see the module docstring).

    Args:
        client: the search client (its config's weights are the defaults shrunk toward).
        queries: judged queries (ids as in `judgments`).
        judgments: query_id -> doc_id -> grade.
        metric: a metric name in the evaluation grammar (`ndcg@10`, `err@10`, ...).
        lexical: tune a hybrid: its fields, fusion and rank constant are kept, its weight is the default.
        heldout: share of the queries kept out of tuning and used to report the result.
        seed: seed of the held-out split and of the folds.
        k: hits per query in every run.
        pool_depth: candidates per query from each search that builds the pool.
        grid_step: field-weight grid spacing (1/grid_step a whole number; 0.2 gives 56 points for 4 fields).
        lexical_step: lexical-weight grid spacing.
        folds: cross-validation folds over the tuning queries (capped at their number; < 2: no shrinkage).
        condensed: judged-only evaluation (drop unjudged documents before scoring).
        fusions: fusion methods to try (default: all three; the start's first).
        modes: lexical modes to try (default: both when the index has a catch-all field and `lexical` names
            no fields, else the start's).
        oversamples: candidate depths (`LexicalSpec.oversample`) to try besides the start's (default: none).

    Returns:
        TuneResult with the chosen weights, the cross-validation scores, and live train / held-out metrics
        for the default and chosen weights.

    Raises:
        ConfigError: no tuning queries, an unknown metric, a bad grid step, or too many candidates.
    """
    train, held = split_queries(queries, heldout, seed)
    if not train:
        raise ConfigError("no tuning queries; pass more judged queries or a smaller heldout share")
    names = client.field_names
    default = normalised([float(client.default_weights.get(n, 0.0)) for n in names])
    start: Candidate = (default, None, None, None, None)
    choices: list[tuple] = [(None, None, None, None)]
    if lexical is not None:
        possible = client.lexical_modes(lexical)
        mode = possible[0]
        over = float(lexical.oversample or client.oversample)
        start = (default, lexical.weight, lexical.fusion, mode, over)
        if modes is None:
            modes = possible
        units = step_units(lexical_step, "lexical_step")
        lams = sorted({lexical.weight, *(i / units for i in range(units + 1))})
        choices = list(
            itertools.product(
                lams,
                unique(lexical.fusion, fusions or FUSIONS),
                unique(mode, modes),
                unique(over, oversamples),
            )
        )
    candidates = grid_candidates(len(names), start, choices, grid_step)
    used_modes = sorted({c[3] for c in candidates if c[3] is not None})
    pools = {q.query_id: build_pool(client, q, pool_depth, lexical, used_modes) for q in train}
    options = {"condensed": condensed, "unknown_queries": "ignore"}
    scorer = Scorer(
        pools, {q.query_id: judgments.get(q.query_id, {}) for q in train}, metric, lexical, k, options
    )
    matrix = np.stack([scorer(c) for c in candidates])  # (candidates, scored queries)
    shrink, cv_scores, n_folds = choose_shrinkage(scorer, candidates, matrix, start, folds, seed)
    chosen = blend(start, candidates[best_candidate(candidates, matrix.mean(axis=1))], shrink)
    weights, spec = dict(zip(names, chosen[0])), candidate_spec(lexical, chosen)
    settings = {"default": (dict(zip(names, default)), lexical), "best": (weights, spec)}
    scores = _live_scores(client, metric, settings, {"train": train, "heldout": held}, judgments, k, options)
    return TuneResult(
        metric,
        weights,
        spec,
        settings["default"][0],
        lexical,
        tuple(q.query_id for q in train),
        tuple(q.query_id for q in held),
        shrink,
        cv_scores,
        n_folds,
        scores,
        len(candidates),
    )


def _live_scores(
    client: SearchClient,
    metric: str,
    settings: Mapping[str, tuple[dict[str, float], LexicalSpec | None]],
    splits: Mapping[str, Sequence[SearchQuery]],
    judgments: Mapping[str, Mapping[str, int]],
    k: int,
    options: Mapping[str, object],
) -> dict[str, float]:
    """`<split>/<setting>` -> `metric` of a live run through the client."""
    scores: dict[str, float] = {}
    for split, queries in splits.items():
        if not queries:
            continue
        split_judgments = {q.query_id: judgments.get(q.query_id, {}) for q in queries}
        for name, (weights, spec) in settings.items():
            run = run_queries(client, queries, k, weights=weights, lexical=spec)
            report = evaluate(split_judgments, run, [metric], **options)
            scores[f"{split}/{name}"] = float(report.means[metric])
    return scores
