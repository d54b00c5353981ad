"""Sanity runs on the bundled Icecat judgments: the oracle scores nDCG@10 = 1, the reversed oracle lower."""

from __future__ import annotations

from pathlib import Path

import pytest

from gcl_search.evaluation import compare, evaluate, read_judgments, read_run
from gcl_search.evaluation.sanity import oracle_run

DATA = Path(__file__).resolve().parents[1] / "data" / "eval"


@pytest.fixture(scope="module")
def judgments(icecat_dir: Path):
    return read_judgments(icecat_dir / "judgments.csv")  # query,docid,rating: recognised without --columns


def test_icecat_judgments_shape(judgments) -> None:
    assert len(judgments) == 105
    assert sum(1 for docs in judgments.values() if max(docs.values()) == 0) == 19


def test_oracle_is_perfect_and_reversed_is_worse(judgments) -> None:
    oracle = evaluate(judgments, oracle_run(judgments), ["ndcg@10", "ndcg_exp@10", "map", "gcl_err"])
    reverse = evaluate(judgments, oracle_run(judgments, reverse=True), ["ndcg@10", "map"])
    assert len(oracle.query_ids) == 86 and len(oracle.skipped) == 19
    assert set(oracle.column("ndcg@10")) == {1.0} and set(oracle.column("ndcg_exp@10")) == {1.0}
    assert oracle.means["map"] == 1.0
    assert reverse.means["ndcg@10"] < oracle.means["ndcg@10"]
    assert reverse.means["map"] < 1.0


def test_committed_sanity_runs_are_current(judgments) -> None:
    # tests/data/eval/icecat_{oracle,reversed}.jsonl back the documented CLI commands; they must not go stale.
    assert read_run(DATA / "icecat_oracle.jsonl") == oracle_run(judgments)
    assert read_run(DATA / "icecat_reversed.jsonl") == oracle_run(judgments, reverse=True)


def test_oracle_beats_reversed_significantly(judgments) -> None:
    runs = {"oracle": oracle_run(judgments), "reversed": oracle_run(judgments, reverse=True)}
    result = compare(judgments, runs, ["ndcg@10"], test="both", n_resamples=2000)
    assert {t.test for t in result.tests} == {"randomisation", "t-test"}
    assert all(t.delta < 0 and t.significant for t in result.tests)
