"""Metrics: the grammar (`parse_metric`), the sparse `Rankings` they read, and their definitions."""

from __future__ import annotations

from gcl_search.evaluation.metrics.grammar import (
    DEFAULT_METRICS,
    FAMILIES,
    MetricSpec,
    compute_metric,
    describe_metric,
    parse_metric,
)
from gcl_search.evaluation.metrics.rankings import Rankings, build_rankings

__all__ = [
    "DEFAULT_METRICS",
    "FAMILIES",
    "MetricSpec",
    "Rankings",
    "build_rankings",
    "compute_metric",
    "describe_metric",
    "parse_metric",
]
