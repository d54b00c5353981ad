"""Judgment and run readers/writers: formats, detection, and a clear file:line error for each bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from gcl_search.errors import InputFileError
from gcl_search.evaluation import evaluate, read_judgments, read_run, write_run

DATA = Path(__file__).resolve().parents[1] / "data" / "eval"
EXPECTED = {"q1": {"d1": 3, "d2": 0, "d3": 1, "d4": 2}, "q2": {"d5": 1, "d6": 0}, "q3": {"d7": 0}}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_trec_and_csv_judgments_agree() -> None:
    assert read_judgments(DATA / "tiny.qrels") == EXPECTED
    assert read_judgments(DATA / "tiny_judgments.csv") == EXPECTED  # docid/rating recognised by default


def test_csv_columns_tsv_and_integer_valued_floats(tmp_path: Path) -> None:
    path = write(tmp_path, "j.tsv", "qtext\tpid\tscore\nred shoe\tp1\t2.0\nred shoe\tp2\t0\n")
    judgments = read_judgments(path, columns={"query": "qtext", "doc_id": "pid", "grade": "score"})
    assert judgments == {"red shoe": {"p1": 2, "p2": 0}}
    assert judgments.first_line == {"red shoe": 2}


def test_runs_trec_and_jsonl() -> None:
    trec = read_run(DATA / "tiny_a.run")
    assert trec["q1"] == {"d2": 0.9, "d9": 0.8, "d1": 0.7, "d3": 0.6} and trec.tag == "bm25"
    jsonl = read_run(DATA / "tiny_b.jsonl")
    assert jsonl == {"q1": {"d1": 0.9, "d4": 0.8, "d3": 0.5}, "q2": {"d5": 3.0}, "q3": {"d8": 1.0}}


@pytest.mark.parametrize("suffix", [".run", ".jsonl"])
def test_write_run_round_trips_in_ranking_order(tmp_path: Path, suffix: str) -> None:
    run = {"q1": {"b": 1.0, "a": 1.0, "c": 2.5}, "q2": {"x": -0.5}}
    path = write_run(tmp_path / f"out{suffix}", run, tag="test")
    assert read_run(path) == run
    if suffix == ".run":
        lines = path.read_text().splitlines()
        assert lines[:3] == ["q1 Q0 c 1 2.5 test", "q1 Q0 a 2 1.0 test", "q1 Q0 b 3 1.0 test"]


def test_write_trec_refuses_whitespace_ids(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="write JSONL instead"):
        write_run(tmp_path / "out.run", {"red shoe": {"p1": 1.0}})


@pytest.mark.parametrize(
    "name, text, line, message",
    [
        ("empty.qrels", "\n\n", None, "the file is empty"),
        ("grade.qrels", "q1 0 d1 2\nq1 0 d2 high\n", 2, "grade 'high' is not a number"),
        ("frac.qrels", "q1 0 d1 1.5\n", 1, "not an integer"),
        ("mixed.qrels", "q1 0 d1 2\nq1,0,d2,1\n", 2, "mixed separators"),
        ("short.qrels", "q1 0 d1\n", 1, "expected 4 whitespace-separated fields"),
        ("dup.qrels", "q1 0 d1 2\nq1 0 d1 3\n", 2, "judges doc 'd1' twice \\(first on line 1\\)"),
        ("cols.csv", "query,doc,grade\nq1,d1,2\n", 1, "no doc_id column"),
        ("mixed.csv", "query,docid,grade\nq1;d1;2\n", 2, "mixed separators"),
        ("header.csv", "query,docid,grade\n", None, "no judgments after the header"),
    ],
)
def test_bad_judgments(tmp_path: Path, name: str, text: str, line: int | None, message: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(InputFileError, match=message) as caught:
        read_judgments(path)
    assert caught.value.line_no == line and caught.value.path == str(path)


@pytest.mark.parametrize(
    "name, text, line, message",
    [
        ("empty.run", "", None, "the file is empty"),
        ("dup.run", "q1 Q0 d1 1 2.0 t\nq1 Q0 d1 2 1.0 t\n", 2, "doc 'd1' appears twice for query 'q1'"),
        ("score.run", "q1 Q0 d1 1 abc t\n", 1, "score 'abc' is not a number"),
        ("nan.run", "q1 Q0 d1 1 nan t\n", 1, "not finite"),
        ("mixed.run", "q1 Q0 d1 1 2.0 t\nq1,Q0,d2,2,1.0,t\n", 2, "mixed separators"),
        ("bad.jsonl", '{"query_id": "q1", "doc_id": "d1", "score": 1}\n{"query_id": \n', 2, "not valid JSON"),
        ("trec.jsonl", "q1 Q0 d1 1 2.0 t\n", 1, "looks like a TREC line"),
        ("nohits.jsonl", '{"query_id": "q1", "hits": [{"doc_id": "d1"}]}\n', 1, "needs 'doc_id' and 'score'"),
        (
            "dup.jsonl",
            '{"query_id": "q1", "hits": [{"doc_id": "d1", "score": 1}, {"doc_id": "d1", "score": 0}]}\n',
            1,
            "appears twice",
        ),
    ],
)
def test_bad_runs(tmp_path: Path, name: str, text: str, line: int | None, message: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(InputFileError, match=message) as caught:
        read_run(path)
    assert caught.value.line_no == line


def test_unknown_query_in_run_names_file_and_line(tmp_path: Path) -> None:
    run = read_run(write(tmp_path, "r.run", "q1 Q0 d1 1 2.0 t\nzz Q0 d1 1 2.0 t\n"))
    with pytest.raises(InputFileError, match=r"r\.run:2: query 'zz' is not in the judgments"):
        evaluate(read_judgments(DATA / "tiny.qrels"), run, ["ndcg@10"])


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="cannot open"):
        read_run(tmp_path / "nope.run")


def test_evaluation_imports_neither_torch_nor_opensearch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, gcl_search.evaluation, gcl_search.evaluation.report; "
        "print(sorted(m for m in ('torch', 'opensearchpy', 'click') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
