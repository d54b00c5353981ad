"""`evaluate(judgments, run, metrics)`: per-query metric values, means and 95% confidence intervals.

Which queries are scored (every choice is recorded in `Report.settings` and printed with the results):
- the queries of the judgments, in their order;
- a judged query with no document of grade >= 1 follows `no_relevant`: "skip" (left out of every mean and
  listed in `Report.skipped`), "zero" (kept; metrics normalised by the relevant documents or the ideal ranking
  score 0 for it, as trec_eval does), or "error";
- a judged query the run does not contain follows `missing_queries`: "zero" (kept: it retrieved nothing, as
  `trec_eval -c`) or "skip";
- a run query without judgments follows `unknown_queries`: "error" (the default: usually a mismatched file)
  or "ignore".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import stats

from gcl_search.errors import ConfigError, InputFileError
from gcl_search.evaluation.metrics import (
    DEFAULT_METRICS,
    MetricSpec,
    build_rankings,
    compute_metric,
    describe_metric,
    parse_metric,
)

TIE_ORDER = "score descending, then doc_id ascending"
_POLICIES = {
    "no_relevant": ("skip", "zero", "error"),
    "missing_queries": ("zero", "skip"),
    "unknown_queries": ("error", "ignore"),
}


@dataclass(frozen=True, eq=False)
class Report:
    """Results of one run: `scores[i, j]` is metric `metrics[j]` on query `query_ids[i]`.

    Attributes:
        metrics: metric names, in the order asked (each rbp@p followed by its rbp_residual@p).
        query_ids: the scored queries.
        scores: (n_queries, n_metrics) float64.
        legend: metric -> its gain, normalisation and cut-off, in words.
        settings: condensed, policies, max grade, tie order, relevance threshold.
        skipped: judged queries left out because no document has grade >= 1 (no_relevant="skip").
        missing: scored-or-skipped judged queries the run does not contain.
        ignored: run queries without judgments (unknown_queries="ignore").
    """

    metrics: tuple[str, ...]
    query_ids: tuple[str, ...]
    scores: np.ndarray
    legend: dict[str, str]
    settings: dict[str, object]
    skipped: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    ignored: tuple[str, ...] = field(default=())

    def column(self, metric: str) -> np.ndarray:
        """Per-query values of one metric, aligned with `query_ids`."""
        return self.scores[:, self.metrics.index(metric)]

    @cached_property
    def means(self) -> dict[str, float]:
        """metric -> mean over the scored queries (nan when no query is scored)."""
        if not self.query_ids:
            return {m: float("nan") for m in self.metrics}
        return {m: float(v) for m, v in zip(self.metrics, self.scores.mean(axis=0))}

    @cached_property
    def per_query(self) -> dict[str, dict[str, float]]:
        """query_id -> metric -> value."""
        return {q: dict(zip(self.metrics, map(float, row))) for q, row in zip(self.query_ids, self.scores)}

    @cached_property
    def ci(self) -> dict[str, tuple[float, float]]:
        """metric -> 95% confidence interval of the mean (Student t over queries; nan with < 2 queries)."""
        return {m: mean_confidence_interval(self.column(m)) for m in self.metrics}


def mean_confidence_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Two-sided Student-t interval of the mean of `values` (assumes queries are a sample of a population)."""
    n = len(values)
    if n < 2:
        return float("nan"), float("nan")
    mean, sem = float(np.mean(values)), float(stats.sem(values))
    if sem == 0.0:
        return mean, mean
    low, high = stats.t.interval(level, n - 1, loc=mean, scale=sem)
    return float(low), float(high)


def evaluate(
    judgments: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    condensed: bool = False,
    no_relevant: str = "skip",
    max_grade: int | None = None,
    missing_queries: str = "zero",
    unknown_queries: str = "error",
) -> Report:
    """Score a run against graded judgments.

    Args:
        judgments: query_id -> doc_id -> grade (int), e.g. from `read_judgments`.
        run: query_id -> doc_id -> score, e.g. from `read_run`; ranked by score descending, then doc_id.
        metrics: names in the metric grammar (`ndcg@10`, `err@10`, `rbp@0.8`, `gcl_err`, ...).
        condensed: drop unjudged documents from every ranking before scoring (judged-only evaluation).
        no_relevant: policy for judged queries without a grade >= 1: "skip", "zero" or "error".
        max_grade: g_max for standard ERR and RBP; None takes the highest grade in the judgments.
        missing_queries: policy for judged queries absent from the run: "zero" or "skip".
        unknown_queries: policy for run queries absent from the judgments: "error" or "ignore".

    Returns:
        Report with per-query values, means, confidence intervals and a legend.

    Raises:
        ConfigError: unknown metric or policy, or max_grade below a judged grade.
        InputFileError: an unknown run query (unknown_queries="error") or a query without relevant documents
            (no_relevant="error"); names the file and line when the inputs came from files.
    """
    _check_policies(no_relevant=no_relevant, missing_queries=missing_queries, unknown_queries=unknown_queries)
    specs = _with_residuals([parse_metric(m) for m in metrics])
    ignored = tuple(q for q in run if q not in judgments)
    if ignored and unknown_queries == "error":
        _raise_unknown(run, ignored)
    skipped, missing, query_ids = _select_queries(judgments, run, no_relevant, missing_queries)
    gmax, gmax_source = _max_grade(judgments, max_grade)
    rankings = build_rankings(judgments, run, query_ids, condensed=condensed)
    scores = (
        np.column_stack([compute_metric(s, rankings, gmax) for s in specs])
        if query_ids
        else np.zeros((0, len(specs)))
    )
    settings = {
        "condensed": condensed,
        "no_relevant": no_relevant,
        "missing_queries": missing_queries,
        "unknown_queries": unknown_queries,
        "max_grade": gmax,
        "max_grade_source": gmax_source,
        "ties": TIE_ORDER,
        "relevant": "grade >= 1",
        "unjudged": "grade 0 (gain 0)",
        "negative_grades": "judged, gain 0",
    }
    legend = {s.name: describe_metric(s, gmax, gmax_source) for s in specs}
    return Report(
        tuple(s.name for s in specs),
        tuple(query_ids),
        scores,
        legend,
        settings,
        tuple(skipped),
        tuple(missing),
        ignored,
    )


def _check_policies(**chosen: str) -> None:
    for name, value in chosen.items():
        if value not in _POLICIES[name]:
            raise ConfigError(f"{name}={value!r} is not a policy; use one of {', '.join(_POLICIES[name])}")


def _with_residuals(specs: list[MetricSpec]) -> list[MetricSpec]:
    """Deduplicate, and follow each rbp@p with rbp_residual@p: RBP is only read with its residual."""
    out: list[MetricSpec] = []
    for spec in specs:
        extra = [parse_metric(f"rbp_residual@{spec.p:g}")] if spec.family == "rbp" else []
        for item in [spec, *extra]:
            if item not in out:
                out.append(item)
    return out


def _raise_unknown(run: Mapping[str, Mapping[str, float]], unknown: tuple[str, ...]) -> None:
    first = unknown[0]
    source = getattr(run, "source", None) or "run"
    line = getattr(run, "first_line", {}).get(first)
    raise InputFileError(
        source,
        line,
        f"query {first!r} is not in the judgments ({len(unknown)} run "
        "queries are unknown); check that the run and judgments match, or ignore them with "
        "unknown_queries='ignore' (--unknown-queries ignore)",
    )


def _select_queries(
    judgments: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    no_relevant: str,
    missing_queries: str,
) -> tuple[list[str], list[str], list[str]]:
    skipped = [q for q, docs in judgments.items() if not any(g >= 1 for g in docs.values())]
    if skipped and no_relevant == "error":
        source = getattr(judgments, "source", None) or "judgments"
        line = getattr(judgments, "first_line", {}).get(skipped[0])
        raise InputFileError(
            source,
            line,
            f"query {skipped[0]!r} has no document with grade >= 1 "
            f"({len(skipped)} such queries); choose no_relevant='skip' or 'zero' "
            "(--no-relevant skip|zero)",
        )
    if no_relevant == "zero":
        skipped = []
    dropped = set(skipped)
    missing = [q for q in judgments if q not in run and q not in dropped]
    if missing_queries == "skip":
        dropped.update(missing)
    return skipped, missing, [q for q in judgments if q not in dropped]


def _max_grade(judgments: Mapping[str, Mapping[str, int]], max_grade: int | None) -> tuple[int, str]:
    highest = max((g for docs in judgments.values() for g in docs.values()), default=0)
    highest = max(highest, 0)
    if max_grade is None:
        return highest, "highest grade in the judgments"
    if max_grade < highest:
        raise ConfigError(
            f"max_grade={max_grade} but the judgments contain grade {highest}; "
            "pass a max grade >= every judged grade, or leave it out"
        )
    return max_grade, "stated"
