"""`compare(judgments, runs, metrics)`: paired significance tests between runs, and per-query deltas.

Every run is scored on the same queries, then each run is compared with the baseline per metric:
- "randomisation": Fisher's paired randomisation (sign-flip permutation) test of the mean difference,
  scipy.stats.permutation_test(permutation_type="samples"), exact when 2^n <= n_resamples;
- "t-test": Student's paired t-test, scipy.stats.ttest_rel.
Both are two-sided. With several runs, p-values are Holm-adjusted per metric across the runs compared with the
baseline (correction="holm"; "none" leaves them raw); `significant` means adjusted p < alpha.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from gcl_search.errors import ConfigError
from gcl_search.evaluation.evaluate import Report, evaluate
from gcl_search.evaluation.metrics import DEFAULT_METRICS

TESTS = ("randomisation", "t-test")


@dataclass(frozen=True)
class PairedTest:
    """One run against the baseline on one metric."""

    metric: str
    run: str
    baseline: str
    run_mean: float
    baseline_mean: float
    delta: float
    test: str
    p_value: float
    p_adjusted: float
    significant: bool
    n_queries: int


@dataclass(frozen=True, eq=False)
class Comparison:
    """Reports per run (same queries, same order), the paired tests, and the settings used."""

    reports: dict[str, Report]
    baseline: str
    tests: tuple[PairedTest, ...]
    settings: dict[str, object]

    @property
    def metrics(self) -> tuple[str, ...]:
        return self.reports[self.baseline].metrics

    def deltas(self, run: str) -> dict[str, dict[str, float]]:
        """query_id -> metric -> (run - baseline)."""
        base, other = self.reports[self.baseline], self.reports[run]
        diff = other.scores - base.scores
        return {q: dict(zip(base.metrics, map(float, row))) for q, row in zip(base.query_ids, diff)}


def compare(
    judgments: Mapping[str, Mapping[str, int]],
    runs: Mapping[str, Mapping[str, Mapping[str, float]]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    baseline: str | None = None,
    test: str | Sequence[str] = "randomisation",
    n_resamples: int = 10_000,
    seed: int = 0,
    correction: str = "holm",
    alpha: float = 0.05,
    **evaluate_options: object,
) -> Comparison:
    """Evaluate two or more runs on the same queries and test each against the baseline.

    Args:
        judgments: query_id -> doc_id -> grade.
        runs: run name -> run (query_id -> doc_id -> score); at least two.
        metrics: metric names (see `evaluate`).
        baseline: the run the others are compared with; None takes the first.
        test: "randomisation", "t-test", "both", or a list of those.
        n_resamples: randomisation-test resamples.
        seed: randomisation-test seed (results are reproducible).
        correction: "holm" or "none" (per metric, across the runs compared with the baseline).
        alpha: significance level for `PairedTest.significant`.
        **evaluate_options: passed to `evaluate` for every run (condensed, no_relevant, max_grade, ...).

    Returns:
        Comparison.

    Raises:
        ConfigError: fewer than two runs, an unknown baseline/test/correction.
    """
    if len(runs) < 2:
        raise ConfigError("compare needs at least two runs; pass another run (--run NAME=PATH)")
    baseline = baseline or next(iter(runs))
    if baseline not in runs:
        raise ConfigError(f"baseline {baseline!r} is not one of the runs: {', '.join(runs)}")
    tests = _tests(test)
    if correction not in ("holm", "none"):
        raise ConfigError(f"correction={correction!r}; use 'holm' or 'none'")
    reports = _aligned(
        {name: evaluate(judgments, run, metrics, **evaluate_options) for name, run in runs.items()}
    )
    rows = []
    for metric in reports[baseline].metrics:
        for name in tests:
            rows.extend(_test_metric(reports, baseline, metric, name, n_resamples, seed, correction, alpha))
    settings = {
        "tests": list(tests),
        "n_resamples": n_resamples,
        "seed": seed,
        "correction": correction,
        "alpha": alpha,
        "sided": "two-sided",
    }
    return Comparison(reports, baseline, tuple(rows), settings)


def _tests(test: str | Sequence[str]) -> tuple[str, ...]:
    chosen = TESTS if test == "both" else (test,) if isinstance(test, str) else tuple(test)
    unknown = [t for t in chosen if t not in TESTS]
    if unknown or not chosen:
        raise ConfigError(f"unknown test {unknown or chosen!r}; use randomisation, t-test or both")
    return chosen


def _aligned(reports: dict[str, Report]) -> dict[str, Report]:
    """Restrict every report to the queries all share (they differ only under missing_queries='skip')."""
    shared = set.intersection(*(set(r.query_ids) for r in reports.values()))
    out = {}
    for name, report in reports.items():
        keep = [i for i, q in enumerate(report.query_ids) if q in shared]
        if len(keep) == len(report.query_ids):
            out[name] = report
            continue
        out[name] = Report(
            report.metrics,
            tuple(report.query_ids[i] for i in keep),
            report.scores[keep],
            report.legend,
            report.settings,
            report.skipped,
            report.missing,
            report.ignored,
        )
    return out


def _test_metric(
    reports: dict[str, Report],
    baseline: str,
    metric: str,
    test: str,
    n_resamples: int,
    seed: int,
    correction: str,
    alpha: float,
) -> list[PairedTest]:
    base = reports[baseline].column(metric)
    others = [name for name in reports if name != baseline]
    raw = [paired_p_value(reports[name].column(metric), base, test, n_resamples, seed) for name in others]
    adjusted = holm(raw) if correction == "holm" else raw
    rows = []
    for name, p, p_adj in zip(others, raw, adjusted):
        values = reports[name].column(metric)
        rows.append(
            PairedTest(
                metric,
                name,
                baseline,
                _mean(values),
                _mean(base),
                _mean(values - base),
                test,
                p,
                p_adj,
                bool(p_adj < alpha),
                len(base),
            )
        )
    return rows


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def paired_p_value(
    a: np.ndarray, b: np.ndarray, test: str, n_resamples: int = 10_000, seed: int = 0
) -> float:
    """Two-sided p-value of the paired difference a - b (1.0 when every difference is 0)."""
    diff = a - b
    if len(diff) < 2 or not np.any(diff):
        return 1.0
    if test == "t-test":
        if np.all(diff == diff[0]):
            return 0.0  # a constant non-zero difference: t is infinite
        return float(stats.ttest_rel(a, b).pvalue)
    result = stats.permutation_test(
        (a, b),
        _mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        random_state=seed,
    )
    return float(result.pvalue)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni step-down adjusted p-values (same order as given)."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for position, index in enumerate(order):
        running = max(running, min(1.0, (m - position) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()
