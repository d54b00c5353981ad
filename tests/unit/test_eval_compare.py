"""Paired tests against closed forms: exact sign-flip p-values, Student t with df=2, Holm by hand."""

from __future__ import annotations

import json
import math

import pytest

from gcl_search.errors import ConfigError
from gcl_search.evaluation import compare
from gcl_search.evaluation.compare import holm
from gcl_search.evaluation.report import render

# Five queries, one relevant doc "r" each. Run "first" ranks it 1st (RR 1); "second" ranks it 2nd (RR 1/2).
JUDGMENTS = {f"q{i}": {"r": 1} for i in range(5)}
FIRST = {q: {"r": 2.0, "x": 1.0} for q in JUDGMENTS}
SECOND = {q: {"r": 1.0, "x": 2.0} for q in JUDGMENTS}


def test_exact_randomisation_p_value() -> None:
    # every delta is -1/2: of the 2^5 sign patterns, 2 reach |mean| >= 1/2 -> p = 2/32 exactly
    result = compare(JUDGMENTS, {"first": FIRST, "second": SECOND}, ["mrr@10"])
    (row,) = result.tests
    assert (row.run, row.baseline, row.test) == ("second", "first", "randomisation")
    assert row.delta == pytest.approx(-0.5) and row.p_value == pytest.approx(2 / 32)
    assert not row.significant
    assert result.deltas("second")["q0"]["mrr@10"] == pytest.approx(-0.5)


def test_t_test_matches_closed_form() -> None:
    # precision@3: the baseline retrieves nothing relevant (0); 'better' retrieves 1, 2, 3 relevant docs.
    judgments = {f"q{i}": {"a": 1, "b": 1, "c": 1} for i in range(3)}
    base = {q: {"z1": 3.0, "z2": 2.0, "z3": 1.0} for q in judgments}
    better = {f"q{i}": dict({d: 5.0 for d in "abc"[: i + 1]}, z9=0.0) for i in range(3)}
    result = compare(judgments, {"base": base, "better": better}, ["precision@3"], test="t-test")
    # deltas 1/3, 2/3, 1: t = mean / (sd / sqrt 3) = (2/3) / ((1/3) / sqrt 3) = 2 sqrt 3 (df 2);
    # Student t CDF for df 2: 1/2 + t / (2 sqrt(2 + t^2))
    t = 2 * math.sqrt(3)
    expected = 2 * (1 - (0.5 + t / (2 * math.sqrt(2 + t * t))))
    assert result.tests[0].p_value == pytest.approx(expected, rel=1e-9)


def test_identical_runs_are_not_different() -> None:
    result = compare(JUDGMENTS, {"a": FIRST, "b": dict(FIRST)}, ["mrr@10"], test="both")
    assert [t.p_value for t in result.tests] == [1.0, 1.0]


def test_holm_by_hand() -> None:
    # sorted: 0.01 * 3 = 0.03; 0.03 * 2 = 0.06; 0.04 * 1 -> max(0.06, 0.04) = 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_three_runs_are_holm_adjusted() -> None:
    runs = {"first": FIRST, "second": SECOND, "copy": dict(FIRST)}
    result = compare(JUDGMENTS, runs, ["mrr@10"], baseline="second")
    rows = {t.run: t for t in result.tests}
    assert set(rows) == {"first", "copy"}
    assert rows["first"].p_adjusted == pytest.approx(2 * rows["first"].p_value)


def test_compare_errors() -> None:
    with pytest.raises(ConfigError, match="at least two runs"):
        compare(JUDGMENTS, {"a": FIRST}, ["mrr@10"])
    with pytest.raises(ConfigError, match="baseline 'zz'"):
        compare(JUDGMENTS, {"a": FIRST, "b": SECOND}, ["mrr@10"], baseline="zz")
    with pytest.raises(ConfigError, match="unknown test"):
        compare(JUDGMENTS, {"a": FIRST, "b": SECOND}, ["mrr@10"], test="wilcoxon")


@pytest.mark.parametrize("fmt", ["table", "markdown", "json", "csv"])
def test_render_formats_carry_means_tests_and_legend(fmt: str) -> None:
    result = compare(JUDGMENTS, {"first": FIRST, "second": SECOND}, ["mrr@10", "ndcg@1"])
    text = render(result.reports, result, fmt=fmt)
    if fmt == "json":
        body = json.loads(text)
        assert body["runs"]["second"]["means"]["mrr@10"] == pytest.approx(0.5)
        assert body["comparison"]["tests"][0]["p_value"] == pytest.approx(2 / 32)
        assert "linear gain" in body["legend"]["ndcg@1"]
    elif fmt == "csv":
        header, *rows = [line.split(",") for line in text.splitlines()]
        assert header[:3] == ["run", "metric", "mean"] and "p_randomisation" in header
        assert ["second", "mrr@10", "0.5"] == rows[2][:3]
    else:
        assert "randomisation" in text and "legend:" in text and "0.5000" in text
        assert ("| metric |" in text) == (fmt == "markdown")


def test_render_per_query_csv_is_long_format() -> None:
    result = compare(JUDGMENTS, {"first": FIRST, "second": SECOND}, ["mrr@10"])
    lines = render(result.reports, result, fmt="csv", per_query=True).splitlines()
    assert lines[0] == "run,query_id,metric,value" and "second,q4,mrr@10,0.5" in lines
    assert len(lines) == 1 + 2 * 5


def test_json_writes_undefined_values_as_null() -> None:
    from gcl_search.evaluation import evaluate

    report = evaluate({"q0": {"r": 1}}, {"q0": {"r": 1.0}}, ["mrr@10"])  # one query: no confidence interval
    body = json.loads(render({"only": report}, fmt="json"))
    run = body["runs"]["only"]
    assert run["means"]["mrr@10"] == 1.0 and run["ci95"]["mrr@10"] == [None, None]
