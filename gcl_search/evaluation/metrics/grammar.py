"""One metric grammar for the CLI, the library and report keys: `<family>[@<parameter>]`.

The parameter is a rank cut-off k (a positive integer; omitted = the whole run) or, for RBP, the persistence
p in (0, 1). Families are keyed in `FAMILIES` rather than an if/elif chain; each knows how to compute itself
from `Rankings` and how to describe its gain and normalisation for the report legend.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gcl_search.errors import ConfigError
from gcl_search.evaluation.metrics import standard
from gcl_search.evaluation.metrics.rankings import Rankings

_NAME = re.compile(r"^(?P<family>[a-z_]+)(?:@(?P<param>[0-9]*\.?[0-9]+))?$")


@dataclass(frozen=True)
class MetricSpec:
    """A parsed metric name: `family`, with a cut-off `k` or an RBP persistence `p`."""

    name: str
    family: str
    k: int | None = None
    p: float | None = None


@dataclass(frozen=True)
class _Family:
    param: str  # "k" (optional cut-off) or "p" (required persistence)
    compute: Callable[[Rankings, MetricSpec, int], np.ndarray]
    legend: str


def _query_max(rankings: Rankings, _collection_max: int) -> np.ndarray:
    return rankings.query_max_grade


def _collection(rankings: Rankings, collection_max: int) -> np.ndarray:
    return np.full(rankings.n_queries, collection_max, np.int64)


def _cut(metric: Callable[[Rankings, int | None], np.ndarray], legend: str) -> _Family:
    """A family with an optional cut-off k, computed as `metric(rankings, k)`."""
    return _Family("k", lambda r, s, g: metric(r, s.k), legend)


FAMILIES: dict[str, _Family] = {
    "ndcg": _cut(
        standard.ndcg,
        "nDCG, linear gain g (trec_eval ndcg_cut), "
        "discount 1/log2(rank+1), ideal = all judgments sorted by grade",
    ),
    "ndcg_exp": _Family(
        "k",
        lambda r, s, g: standard.ndcg(r, s.k, exponential=True),
        "nDCG, exponential gain 2^g-1 (Burges), discount 1/log2(rank+1), ideal from all judgments",
    ),
    "err": _Family(
        "k",
        lambda r, s, g: standard.err(r, s.k, _collection(r, g)),
        "ERR, R=(2^g-1)/2^gmax with gmax={gmax} ({gmax_source})",
    ),
    "rbp": _Family(
        "p",
        lambda r, s, g: standard.rbp(r, s.p, _collection(r, g)),
        "graded RBP, (1-p) sum (g/gmax) p^(rank-1), gmax={gmax} ({gmax_source}), whole run",
    ),
    "rbp_residual": _Family(
        "p",
        lambda r, s, g: standard.rbp_residual(r, s.p),
        "RBP residual: RBP mass at unjudged ranks and beyond the run (upper bound - rbp)",
    ),
    "map": _cut(
        standard.average_precision, "average precision, divided by all relevant judged (trec_eval map_cut)"
    ),
    "mrr": _cut(standard.reciprocal_rank, "reciprocal rank of the first relevant document"),
    "precision": _cut(standard.precision, "relevant in top k / k"),
    "recall": _cut(standard.recall, "relevant in top k / relevant judged"),
    "judged": _cut(standard.judged, "judged documents in top k / k"),
    # The GCL paper's public evaluation (marqo-ai/GCL evals/eval_gs_v1.py), see docs/evaluation.md.
    "gcl_ndcg": _cut(
        standard.ndcg, "GCL paper: BEIR/pytrec_eval ndcg_cut, linear gain (same per-query value as ndcg)"
    ),
    "gcl_map": _cut(
        standard.average_precision,
        "GCL paper: BEIR/pytrec_eval map_cut, grade>=1 relevant (same per-query value as map)",
    ),
    "gcl_mrr": _cut(
        standard.reciprocal_rank, "GCL paper: BEIR mrr, grade>0 relevant (same per-query value as mrr)"
    ),
    "gcl_err": _Family(
        "k",
        lambda r, s, g: standard.err(r, s.k, _query_max(r, g)),
        "GCL paper ERR: R=(2^g-1)/2^gmax with gmax = the query's own highest grade, whole run unless @k",
    ),
    "gcl_rbp": _Family(
        "p",
        lambda r, s, g: standard.rbp(r, s.p, _query_max(r, g)),
        "GCL paper RBP: (1-p) sum (g/gmax) p^(rank-1), gmax = the query's own highest grade",
    ),
}

DEFAULT_METRICS = ("ndcg@10", "err@10", "rbp@0.8", "map@100", "mrr@10", "recall@100", "judged@10")


def parse_metric(name: str) -> MetricSpec:
    """Parse `ndcg@10`, `rbp@0.8`, `map` (whole run) and so on.

    Raises:
        ConfigError: unknown family, or a parameter of the wrong kind (k: a positive integer, p in (0, 1)).
    """
    text = name.strip().lower()
    match = _NAME.match(text)
    family = FAMILIES.get(match.group("family")) if match else None
    if family is None:
        raise ConfigError(
            f"unknown metric {name!r}; use <family>@<k|p> with family one of "
            f"{', '.join(FAMILIES)} (e.g. ndcg@10, rbp@0.8)"
        )
    param = match.group("param")
    if family.param == "p":
        p = float(param) if param else -1.0
        if not 0.0 < p < 1.0:
            raise ConfigError(
                f"metric {name!r} needs a persistence p in (0, 1), e.g. {match.group('family')}@0.8"
            )
        return MetricSpec(text, match.group("family"), p=p)
    if param is None:
        return MetricSpec(text, match.group("family"))
    if not param.isdigit() or int(param) < 1:
        raise ConfigError(f"metric {name!r}: the cut-off after '@' must be a positive integer, e.g. ndcg@10")
    return MetricSpec(text, match.group("family"), k=int(param))


def compute_metric(spec: MetricSpec, rankings: Rankings, collection_max_grade: int) -> np.ndarray:
    """Per-query values (n_queries,) of one metric."""
    return FAMILIES[spec.family].compute(rankings, spec, collection_max_grade)


def describe_metric(spec: MetricSpec, gmax: int, gmax_source: str) -> str:
    """The legend line for a metric: its gain, normalisation and cut-off."""
    text = FAMILIES[spec.family].legend.format(gmax=gmax, gmax_source=gmax_source)
    if spec.k is not None:
        text += f"; cut at rank {spec.k}"
    return text
