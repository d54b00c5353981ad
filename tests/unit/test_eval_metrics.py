"""Metric values against hand-computed arithmetic (each rank's grade in a comment).

Judgments (tests/data/eval/tiny.qrels): q1: d1=3, d2=0, d3=1, d4=2 (3 relevant; ideal grades 3,2,1);
q2: d5=1, d6=0; q3: d7=0 (no relevant document).
IDCG@3(q1), linear = 3/log2(2) + 2/log2(3) + 1/log2(4) = 3 + 1.261860 + 0.5 = 4.761860.
"""

from __future__ import annotations

import math

import pytest

from gcl_search.errors import ConfigError, InputFileError
from gcl_search.evaluation import evaluate, parse_metric

J = {"q1": {"d1": 3, "d2": 0, "d3": 1, "d4": 2}, "q2": {"d5": 1, "d6": 0}, "q3": {"d7": 0}}
# q1 ranking: d2 (g0), d9 (unjudged), d1 (g3), d3 (g1);  q2: d6 (g0), d5 (g1);  q3: d7 (g0)
RUN = {"q1": {"d2": 0.9, "d9": 0.8, "d1": 0.7, "d3": 0.6}, "q2": {"d6": 2.0, "d5": 1.0}, "q3": {"d7": 1.0}}
IDCG3 = 3 + 2 / math.log2(3) + 1 / 2


def q(metric: str, query: str = "q1", **options) -> float:
    return evaluate(J, RUN, [metric], **options).per_query[query][metric]


@pytest.mark.parametrize(
    "metric, expected",
    [
        ("ndcg@3", (3 / math.log2(4)) / IDCG3),  # only d1 (g3) at rank 3
        ("ndcg_exp@3", (7 / 2) / (7 + 3 / math.log2(3) + 1 / 2)),  # gains 2^g-1: 7, 3, 1
        ("precision@2", 0.0),
        ("precision@3", 1 / 3),
        ("precision@10", 2 / 10),  # short run not excused
        ("recall@3", 1 / 3),
        ("recall@4", 2 / 3),
        ("map", (1 / 3 + 2 / 4) / 3),  # relevant at ranks 3, 4; R = 3
        ("map@3", (1 / 3) / 3),
        ("mrr@10", 1 / 3),
        ("mrr@2", 0.0),
        ("judged@2", 1 / 2),
        ("judged@4", 3 / 4),
        ("judged", 3 / 4),
        ("err@4", (7 / 8) / 3 + (1 / 8) * (1 / 8) / 4),  # R=(2^g-1)/2^3: 7/8 at 3, 1/8 at 4
        ("err@3", (7 / 8) / 3),
        ("rbp@0.5", 0.5 * (3 / 3 * 0.5**2 + 1 / 3 * 0.5**3)),  # g/gmax at ranks 3 and 4
        ("rbp_residual@0.5", 1 - 0.5 * (1 + 0.5**2 + 0.5**3)),  # judged ranks 1, 3, 4
    ],
)
def test_q1_by_hand(metric: str, expected: float) -> None:
    assert q(metric) == pytest.approx(expected, abs=1e-12)


def test_q2_standard_vs_gcl_paper_normalisation() -> None:
    # q2: d6 (g0) rank 1, d5 (g1) rank 2.
    # Standard ERR/RBP use the collection's gmax 3; the paper's variants use q2's own gmax 1.
    assert q("err", "q2") == pytest.approx((1 / 8) / 2)
    assert q("gcl_err", "q2") == pytest.approx((1 / 2) / 2)
    assert q("rbp@0.5", "q2") == pytest.approx(0.5 * (1 / 3) * 0.5)
    assert q("gcl_rbp@0.5", "q2") == pytest.approx(0.5 * 1.0 * 0.5)
    assert q("gcl_ndcg@3", "q2") == q("ndcg@3", "q2") == pytest.approx(1 / math.log2(3))


def test_max_grade_stated() -> None:
    assert q("err@3", max_grade=4) == pytest.approx((7 / 16) / 3)  # d1 (g3) at rank 3, R = (2^3-1)/2^4
    with pytest.raises(ConfigError, match="max_grade=2"):
        q("err@3", max_grade=2)


def test_paper_err_handles_grades_up_to_100() -> None:
    judgments = {"q": {"a": 100, "b": 99, "c": 1}}
    run = {"q": {"b": 3.0, "a": 2.0, "c": 1.0}}
    value = evaluate(judgments, run, ["gcl_err"]).means["gcl_err"]
    r_b, r_a, r_c = (2**99 - 1) / 2**100, (2**100 - 1) / 2**100, (2**1 - 1) / 2**100
    expected = r_b + (1 - r_b) * r_a / 2 + (1 - r_b) * (1 - r_a) * r_c / 3
    assert value == pytest.approx(expected, rel=1e-12)


def test_ties_break_by_doc_id_ascending() -> None:
    # all tied: order d1 (g3), d2 (g0), d3 (g1)
    run = {"q1": {"d3": 1.0, "d1": 1.0, "d2": 1.0}}
    value = evaluate(J, run, ["ndcg@3"], missing_queries="skip").means["ndcg@3"]
    assert value == pytest.approx((3 + 1 / 2) / IDCG3)


def test_condensed_drops_unjudged_documents() -> None:
    # condensed q1: d2 (g0), d1 (g3), d3 (g1)
    assert q("ndcg@3", condensed=True) == pytest.approx((3 / math.log2(3) + 1 / 2) / IDCG3)
    assert q("judged@3", condensed=True) == 1.0
    assert q("rbp_residual@0.5", condensed=True) == pytest.approx(0.5**3)


def test_no_relevant_policies() -> None:
    skip = evaluate(J, RUN, ["ndcg@3"], no_relevant="skip")
    assert skip.query_ids == ("q1", "q2") and skip.skipped == ("q3",)
    zero = evaluate(J, RUN, ["ndcg@3", "judged@1"], no_relevant="zero")
    assert zero.per_query["q3"] == {"ndcg@3": 0.0, "judged@1": 1.0}
    assert zero.means["ndcg@3"] == pytest.approx(sum(zero.column("ndcg@3")) / 3)
    with pytest.raises(InputFileError, match="'q3' has no document with grade >= 1"):
        evaluate(J, RUN, ["ndcg@3"], no_relevant="error")


def test_missing_and_unknown_queries() -> None:
    run = {"q1": RUN["q1"], "qx": {"d1": 1.0}}
    with pytest.raises(InputFileError, match="'qx' is not in the judgments"):
        evaluate(J, run, ["ndcg@3"])
    report = evaluate(J, run, ["ndcg@3"], unknown_queries="ignore")
    assert report.ignored == ("qx",) and report.missing == ("q2",)
    assert report.per_query["q2"]["ndcg@3"] == 0.0
    skipped = evaluate(J, run, ["ndcg@3"], unknown_queries="ignore", missing_queries="skip")
    assert skipped.query_ids == ("q1",)


def test_confidence_interval_is_student_t() -> None:
    report = evaluate(J, RUN, ["mrr@10"])  # q1 1/3, q2 1/2
    values = [1 / 3, 1 / 2]
    mean, sd = sum(values) / 2, math.sqrt(sum((v - sum(values) / 2) ** 2 for v in values) / 1)
    half = 12.706204736174707 * sd / math.sqrt(2)  # t(0.975, df=1)
    low, high = report.ci["mrr@10"]
    assert (low, high) == pytest.approx((mean - half, mean + half))


def test_rbp_brings_its_residual_and_metrics_are_deduplicated() -> None:
    report = evaluate(J, RUN, ["rbp@0.8", "ndcg@3", "rbp@0.8"])
    assert report.metrics == ("rbp@0.8", "rbp_residual@0.8", "ndcg@3")
    assert "gmax=3" in report.legend["rbp@0.8"] and "linear gain" in report.legend["ndcg@3"]


@pytest.mark.parametrize(
    "name, message",
    [
        ("ndcg@0", "positive integer"),
        ("ndcg@2.5", "positive integer"),
        ("rbp", "persistence"),
        ("rbp@1.5", "persistence"),
        ("bleu@4", "unknown metric"),
        ("ndcg@", "unknown metric"),
    ],
)
def test_bad_metric_names(name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_metric(name)


def test_metric_grammar() -> None:
    assert parse_metric("NDCG@10").k == 10
    assert parse_metric("rbp@0.8").p == 0.8
    assert parse_metric("gcl_err").k is None
