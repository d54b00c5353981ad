"""scripts/make_results.py's pure parts: the quality table and the benchmark-file parsing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_results.py"


@pytest.fixture(scope="module")
def mr():
    spec = importlib.util.spec_from_file_location("make_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quality_table_marks_significant_cells_and_the_baseline(mr):
    columns = (("ndcg@10", False, "nDCG@10"), ("ndcg@10", True, "nDCG@10 condensed"))
    means = {("ndcg@10", False): {"base title": 0.5, "gcl": 0.61234}, ("ndcg@10", True): {"base title": 0.8}}
    significant = {("ndcg@10", False): {"gcl": True}, ("ndcg@10", True): {"gcl": False}}
    table = mr.quality_table(["base title", "gcl"], means, significant, columns=columns)
    lines = table.splitlines()
    assert lines[0] == "| run | nDCG@10 | nDCG@10 condensed |"
    assert lines[1] == "|---|---|---|"
    assert lines[2] == "| base title (baseline) | 0.5000 | 0.8000 |"
    assert lines[3] == "| gcl | 0.6123* | - |"  # rounded, marked; a missing value is a dash


BULK = """# python benchmarks/bench_bulk.py --url http://127.0.0.1:9260   (repeats=3, fixed order)
# 2-core box, load 12-20
run 0: upsert 32 docs/s, bare helpers.bulk 42 docs/s
median: upsert 38 docs/s, bare 42 docs/s, ratio 0.897 (target >= 0.9)
"""

EVAL = """$ python benchmarks/bench_evaluation.py   # 2026-11-27T17:32Z, idle
ratio ours(default set) / ranx(scoring), wall    0.482
# earlier:
$ python benchmarks/bench_evaluation.py   # loaded
ratio ours(default set) / ranx(scoring), wall    0.453
"""

TABLE = """# Command: python benchmarks/bench_search.py --opensearch-url http://127.0.0.1:9280 --queries 30
single-field knn: p50 27.50 ms
2f 0.7/0.3   0.8967  144.85
"""


def test_benchmark_summary_takes_commands_and_ratio_lines(mr):
    summary = mr.benchmark_summary("bulk.txt", BULK)
    assert summary["commands"] == ["python benchmarks/bench_bulk.py --url http://127.0.0.1:9260"]
    assert summary["ratios"] == ["median: upsert 38 docs/s, bare 42 docs/s, ratio 0.897 (target >= 0.9)"]


def test_benchmark_summary_keeps_one_command_per_distinct_run_and_every_ratio(mr):
    summary = mr.benchmark_summary("evaluation.txt", EVAL)
    assert summary["commands"] == ["python benchmarks/bench_evaluation.py"]
    assert [line.split()[-1] for line in summary["ratios"]] == ["0.482", "0.453"]


def test_benchmark_summary_without_ratio_lines_keeps_the_result_table(mr):
    summary = mr.benchmark_summary("search.txt", TABLE)
    assert summary["commands"] == [
        "python benchmarks/bench_search.py --opensearch-url http://127.0.0.1:9280 --queries 30"]
    assert summary["ratios"] == ["single-field knn: p50 27.50 ms", "2f 0.7/0.3   0.8967  144.85"]


def test_benchmarks_markdown_says_when_a_file_has_no_command(mr):
    text = mr.benchmarks_markdown([mr.benchmark_summary("encode.txt", "encoder ratio vs direct 1.089\n")])
    assert "### encode.txt" in text and "does not record its command" in text
    assert "```\nencoder ratio vs direct 1.089\n```" in text


def test_ablation_section_copies_protocol_and_only_the_table(mr):
    text = ("# Icecat\n\nProtocol: 4 folds by query.\n\n| variant | nDCG@10 |\n|---|---|\n| base | 0.55 |\n"
            "| gcl | 0.63 |\n\n## Notes\n\n| not | this |\n")
    out = mr.ablation_section(text, "training/results/x.md")
    assert "Protocol: 4 folds by query." in out and "`training/results/x.md`" in out
    assert "| gcl | 0.63 |" in out and "| not | this |" not in out and "## Notes" not in out
    assert mr.ablation_section("no table here", "x.md") == ""
