"""Weight tuning: search the field weights (any number of fields) and the lexical weight on judged queries.

Method: coordinate ascent. Starting from the config's weights, each round tries every grid value for one
weight at a time, keeping a change only when the train metric strictly improves, until a round changes
nothing (or `rounds` is reached). Each trial re-ranks a fixed per-query candidate pool, so it costs numpy work
and no store call:

- the pool is the union of the concatenated-vector ANN search at the default weights, one single-field ANN
  search per field (the concatenated query with one non-zero block), and the BM25 top list, `pool_depth` each;
- every pool document is scored exactly per field once (`q_f . d_f`), so any weights give exact dense scores.

The pool only bounds what a trial can see; the reported numbers are LIVE runs through the SearchClient with
the chosen weights, on held-out queries the search never saw (and on the train queries, for reference).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from gcl_search.errors import ConfigError
from gcl_search.evaluation import evaluate
from gcl_search.search.client import LexicalSpec, SearchClient, lexical_text
from gcl_search.search.fusion import fuse
from gcl_search.search.live import SearchQuery, run_queries

WEIGHT_GRID = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
LEXICAL_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
LEXICAL = "_lexical"


@dataclass(frozen=True)
class TuneResult:
    """What `tune_weights` found.

    Attributes:
        metric: the metric maximised.
        weights: the best field weights, scaled to sum 1.
        lexical: the best lexical spec (None when no lexical component was tuned).
        default_weights: the starting (config) weights.
        train_queries, heldout_queries: the query ids of each split.
        scores: "<split>/<best|default>" -> the metric of a live run (split: train, heldout).
        trials: number of weight settings evaluated on the pool.
    """

    metric: str
    weights: dict[str, float]
    lexical: LexicalSpec | None
    default_weights: dict[str, float]
    train_queries: tuple[str, ...]
    heldout_queries: tuple[str, ...]
    scores: dict[str, float] = field(default_factory=dict)
    trials: int = 0


@dataclass
class _Pool:
    ids: np.ndarray        # (n,) doc ids, as str
    fields: np.ndarray     # (n, F) q_f . d_f, 0 where the document lacks the field
    lexical: np.ndarray    # (n,) raw BM25, 0 where not returned
    matched: np.ndarray    # (n,) bool, returned by BM25


def split_queries(queries: Sequence[SearchQuery], heldout: float, seed: int = 0
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


def tune_weights(client: SearchClient, queries: Sequence[SearchQuery],
                 judgments: Mapping[str, Mapping[str, int]], metric: str = "ndcg@10", *,
                 lexical: LexicalSpec | None = None, heldout: float = 0.3,
                 seed: int = 0, k: int = 100, pool_depth: int = 200, rounds: int = 3,
                 weight_grid: Sequence[float] = WEIGHT_GRID, lexical_grid: Sequence[float] = LEXICAL_GRID,
                 condensed: bool = False) -> TuneResult:
    """Maximise `metric` over the field weights (and `lexical.weight` when `lexical` is given).

    Args:
        client: the search client (its config's weights are the starting point).
        queries: judged queries (ids as in `judgments`).
        judgments: query_id -> doc_id -> grade.
        metric: a metric name in the evaluation grammar (`ndcg@10`, `err@10`, ...).
        lexical: tune a hybrid: its fields, fusion and rank constant are kept, its weight is the start value.
        heldout: share of the queries kept out of the search and used to report the result.
        seed: the split's seed.
        k: hits per query in every run.
        pool_depth: candidates per query from each search that builds the pool.
        rounds: maximum coordinate-ascent rounds.
        weight_grid, lexical_grid: the values tried for each weight.
        condensed: judged-only evaluation (drop unjudged documents before scoring).

    Returns:
        TuneResult with the best weights and live train / held-out metrics for the default and best weights.

    Raises:
        ConfigError: no train queries, an unknown metric, or a grid value outside its range.
    """
    _check_grids(weight_grid, lexical_grid)
    train, held = split_queries(queries, heldout, seed)
    if not train:
        raise ConfigError("no train queries; pass more judged queries or a smaller heldout share")
    names = client.field_names
    start = {n: float(client.default_weights.get(n, 0.0)) for n in names}
    pools = {q.query_id: _build_pool(client, q, pool_depth, lexical) for q in train}
    options = {"condensed": condensed, "unknown_queries": "ignore"}
    train_judgments = {q.query_id: judgments.get(q.query_id, {}) for q in train}

    def objective(w: dict[str, float], lam: float | None) -> float:
        spec = None if lexical is None else replace(lexical, weight=lam)
        run = {qid: _rank_pool(pool, [w[n] for n in names], spec, k) for qid, pool in pools.items()}
        return float(evaluate(train_judgments, run, [metric], **options).means[metric])

    start_lam = None if lexical is None else lexical.weight
    best_w, best_lam, trials = _coordinate_ascent(objective, start, start_lam, names, weight_grid,
                                                  lexical_grid, rounds)
    total = sum(best_w.values())
    best_w = {n: (v / total if total > 0 else 0.0) for n, v in best_w.items()}
    best_lexical = None if lexical is None else replace(lexical, weight=best_lam)
    result = TuneResult(metric, best_w, best_lexical, start, tuple(q.query_id for q in train),
                        tuple(q.query_id for q in held), trials=trials)
    _live_scores(client, result, lexical, {"train": train, "heldout": held}, judgments, k, options)
    return result


def _coordinate_ascent(objective, start: dict[str, float], lam: float | None, names: Sequence[str],
                       weight_grid: Sequence[float], lexical_grid: Sequence[float], rounds: int
                       ) -> tuple[dict[str, float], float | None, int]:
    w, best = dict(start), objective(start, lam)
    trials = 1
    coords = [*names, *([LEXICAL] if lam is not None else [])]
    for _ in range(rounds):
        changed = False
        for coord in coords:
            for value in (lexical_grid if coord == LEXICAL else weight_grid):
                cand_w = w if coord == LEXICAL else {**w, coord: float(value)}
                cand_lam = float(value) if coord == LEXICAL else lam
                if (coord == LEXICAL and value == lam) or (coord != LEXICAL and value == w[coord]):
                    continue
                if not any(v > 0 for v in cand_w.values()) and cand_lam is None:
                    continue
                score = objective(cand_w, cand_lam)
                trials += 1
                if score > best + 1e-12:
                    w, lam, best, changed = cand_w, cand_lam, score, True
        if not changed:
            break
    return w, lam, trials


def _build_pool(client: SearchClient, query: SearchQuery, depth: int, lexical: LexicalSpec | None) -> _Pool:
    vectors = client.embedder.embed(query.text, query.image)
    layout, store = client.layout, client.store
    searches = [client.default_weights] + [{n: 1.0} for n in client.field_names]
    ids: dict[str, None] = {}
    for weights in searches:
        if any(weights.get(n, 0) > 0 and np.any(vectors[n]) for n in client.field_names):
            q = layout.query_vector(vectors, weights)
            found = client._call(store.knn, q, depth, ef_search=client.ef_search)
            ids.update(dict.fromkeys(doc_id for doc_id, _ in found))
    lex: dict[str, float] = {}
    if lexical is not None and query.text:
        fields = None if lexical.fields is None else list(lexical.fields)
        lex = dict(client._call(store.lexical, lexical_text(query.text), fields, depth))
        ids.update(dict.fromkeys(lex))
    found = client._call(store.vectors, list(ids))
    order = [d for d in ids if d in found]
    matrix = np.zeros((len(order), len(client.field_names)), dtype=np.float64)
    for i, doc_id in enumerate(order):
        for j, name in enumerate(client.field_names):
            if name in found[doc_id]:
                matrix[i, j] = float(np.dot(vectors[name], found[doc_id][name]))
    return _Pool(np.array(order, dtype=str), matrix, np.array([lex.get(d, 0.0) for d in order]),
                 np.array([d in lex for d in order], dtype=bool))


def _rank_pool(pool: _Pool, weights: Sequence[float], lexical: LexicalSpec | None, k: int
               ) -> dict[str, float]:
    if not len(pool.ids):
        return {}
    scores = pool.fields @ np.asarray(weights, dtype=np.float64)
    if lexical is not None:
        scores = fuse(list(pool.ids), scores, pool.lexical, pool.matched, lexical.fusion, lexical.weight,
                      lexical.rank_constant)
    top = np.lexsort((pool.ids, -scores))[:k]
    return {str(pool.ids[i]): float(scores[i]) for i in top}


def _live_scores(client: SearchClient, result: TuneResult, lexical: LexicalSpec | None,
                 splits: Mapping[str, Sequence[SearchQuery]], judgments: Mapping[str, Mapping[str, int]],
                 k: int, options: Mapping[str, object]) -> None:
    settings = {"default": (result.default_weights, lexical), "best": (result.weights, result.lexical)}
    for split, queries in splits.items():
        if not queries:
            continue
        split_judgments = {q.query_id: judgments.get(q.query_id, {}) for q in queries}
        for name, (weights, spec) in settings.items():
            run = run_queries(client, queries, k, weights=weights, lexical=spec)
            report = evaluate(split_judgments, run, [result.metric], **options)
            result.scores[f"{split}/{name}"] = float(report.means[result.metric])


def _check_grids(weight_grid: Sequence[float], lexical_grid: Sequence[float]) -> None:
    if not weight_grid or any(not np.isfinite(v) or v < 0 for v in weight_grid):
        raise ConfigError(f"weight grid {list(weight_grid)} must be non-empty finite values >= 0")
    if not lexical_grid or any(not np.isfinite(v) or not 0 <= v <= 1 for v in lexical_grid):
        raise ConfigError(f"lexical grid {list(lexical_grid)} must be non-empty values in [0, 1]")
