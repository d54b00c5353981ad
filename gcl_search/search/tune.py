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

The pool only bounds what a trial can see; the reported numbers are LIVE runs through the SearchClient with
the default and the chosen weights, on held-out queries the tuning never saw (and on the tuning queries).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from gcl_search.errors import ConfigError
from gcl_search.evaluation import evaluate
from gcl_search.search.client import LexicalSpec, SearchClient
from gcl_search.search.fusion import FUSIONS
from gcl_search.search.live import SearchQuery, run_queries
from gcl_search.search.tune_pool import Pool, build_pool, rank_pool

GRID_STEP = 0.2
LEXICAL_STEP = 0.1
FOLDS = 5
SHRINKAGE = (0.0, 0.25, 0.5, 0.75, 1.0)
MAX_CANDIDATES = 20_000

# A candidate: field weights in field order, the lexical weight (None without a lexical component), then the
# fusion, lexical mode and oversample of a hybrid (None without one).
Candidate = tuple[tuple[float, ...], "float | None", "str | None", "str | None", "float | None"]


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


def simplex_grid(n_fields: int, step: float) -> list[tuple[float, ...]]:
    """Every weight vector of `n_fields` non-negative multiples of `step` that sums to 1 (1/step must be a
    whole number)."""
    units = _units(step, "grid_step")
    return [tuple(c / units for c in combo) for combo in _compositions(units, n_fields)]


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
    default = _normalised([float(client.default_weights.get(n, 0.0)) for n in names])
    start: Candidate = (default, None, None, None, None)
    choices: list[tuple] = [(None, None, None, None)]
    if lexical is not None:
        possible = client.lexical_modes(lexical)
        mode = possible[0]
        over = float(lexical.oversample or client.oversample)
        start = (default, lexical.weight, lexical.fusion, mode, over)
        if modes is None:
            modes = possible
        units = _units(lexical_step, "lexical_step")
        lams = sorted({lexical.weight, *(i / units for i in range(units + 1))})
        choices = list(
            itertools.product(
                lams,
                _unique(lexical.fusion, fusions or FUSIONS),
                _unique(mode, modes),
                _unique(over, oversamples),
            )
        )
    candidates = _candidates(len(names), start, choices, grid_step)
    used_modes = sorted({c[3] for c in candidates if c[3] is not None})
    pools = {q.query_id: build_pool(client, q, pool_depth, lexical, used_modes) for q in train}
    options = {"condensed": condensed, "unknown_queries": "ignore"}
    scorer = _Scorer(
        pools, {q.query_id: judgments.get(q.query_id, {}) for q in train}, metric, lexical, k, options
    )
    matrix = np.stack([scorer(c) for c in candidates])  # (candidates, scored queries)
    shrink, cv_scores, n_folds = _choose_shrinkage(scorer, candidates, matrix, start, folds, seed)
    chosen = _blend(start, candidates[_best(candidates, matrix.mean(axis=1))], shrink)
    weights, spec = dict(zip(names, chosen[0])), _spec(lexical, chosen)
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


class _Scorer:
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
        spec = _spec(self.lexical, candidate)
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


def _choose_shrinkage(
    scorer: _Scorer,
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
        best = candidates[_best(candidates, matrix[:, inside].mean(axis=1))]
        for a in SHRINKAGE:
            held_scores[a][fold] = scorer(_blend(default, best, a), list(fold))
    cv = {a: float(v.mean()) for a, v in held_scores.items()}
    chosen = SHRINKAGE[0]
    for a in SHRINKAGE[1:]:
        if cv[a] > cv[chosen] + 1e-12:
            chosen = a
    return chosen, cv, n_folds


def _best(candidates: Sequence[Candidate], means: np.ndarray) -> int:
    """The candidate with the best mean; ties go to the first listed (the defaults come first)."""
    top = float(np.max(means))
    return next(i for i, m in enumerate(means) if m >= top - 1e-12)


def _blend(default: Candidate, best: Candidate, a: float) -> Candidate:
    """Weights blended `d + a (best - d)`; the categorical choices (fusion, mode, depth) are the best's for
    a > 0 (a blend of two fusions means nothing)."""
    weights = tuple(d + a * (b - d) for d, b in zip(default[0], best[0]))
    lam = None if default[1] is None or best[1] is None else default[1] + a * (best[1] - default[1])
    return (weights, lam, *(best if a > 0 else default)[2:])


def _spec(lexical: LexicalSpec | None, candidate: Candidate) -> LexicalSpec | None:
    if lexical is None or candidate[1] is None:
        return None
    _, lam, fusion, mode, oversample = candidate
    return replace(
        lexical,
        weight=lam,
        fusion=fusion,
        mode=mode,
        oversample=oversample,
        fields=lexical.fields if mode == "most_fields" else None,
    )


def _unique(first, others) -> list:
    return list(dict.fromkeys([first, *others]))


def _candidates(
    n_fields: int, start: Candidate, choices: Sequence[tuple], grid_step: float
) -> list[Candidate]:
    """The start first, then the grid x the lexical choices sorted by distance to it (ties stay close)."""
    grid = simplex_grid(n_fields, grid_step)
    if (len(grid) + 1) * len(choices) > MAX_CANDIDATES:
        raise ConfigError(
            f"{(len(grid) + 1) * len(choices)} settings to try (> {MAX_CANDIDATES}); use a "
            "coarser grid step or fewer lexical choices"
        )
    points = [start[0], *(w for w in grid if sum(abs(x - y) for x, y in zip(w, start[0])) > 1e-9)]
    others = [(w, *c) for w, c in itertools.product(points, choices)]
    others = [c for c in others if not _same(c, start)]
    others.sort(key=lambda c: _distance(c, start))
    return [start, *others]


def _distance(a: Candidate, b: Candidate) -> float:
    lexical = 0.0 if a[1] is None or b[1] is None else abs(a[1] - b[1])
    categorical = 0.5 * sum(x != y for x, y in zip(a[2:], b[2:]))
    return sum(abs(x - y) for x, y in zip(a[0], b[0])) + lexical + categorical


def _same(a: Candidate, b: Candidate) -> bool:
    return _distance(a, b) < 1e-9


def _normalised(weights: Sequence[float]) -> tuple[float, ...]:
    total = sum(weights)
    return tuple(w / total for w in weights) if total > 0 else tuple(weights)


def _units(step: float, what: str) -> int:
    units = round(1.0 / step) if math.isfinite(step) and step > 0 else 0
    if units < 1 or abs(units * step - 1.0) > 1e-9:
        raise ConfigError(f"{what} = {step} must divide 1 into whole steps (e.g. 0.5, 0.25, 0.2, 0.1)")
    return units


def _compositions(total: int, parts: int):
    if parts == 1:
        yield (total,)
        return
    for first in range(total, -1, -1):
        for rest in _compositions(total - first, parts - 1):
            yield (first, *rest)


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
