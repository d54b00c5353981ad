"""Graded relevance evaluation: read judgments and runs, score them, compare runs with paired tests.

Plain dicts in and out (judgments: query_id -> doc_id -> grade; runs: query_id -> doc_id -> score), so the
trainer and the search client use it without files. Imports neither torch nor opensearch-py.
"""

from __future__ import annotations

from gcl_search.evaluation.compare import Comparison, PairedTest, compare
from gcl_search.evaluation.evaluate import Report, evaluate
from gcl_search.evaluation.judgments import Judgments, read_judgments
from gcl_search.evaluation.metrics import DEFAULT_METRICS, parse_metric
from gcl_search.evaluation.runs import Run, read_run, write_run

__all__ = [
    "DEFAULT_METRICS",
    "Comparison",
    "Judgments",
    "PairedTest",
    "Report",
    "Run",
    "compare",
    "evaluate",
    "parse_metric",
    "read_judgments",
    "read_run",
    "write_run",
]
