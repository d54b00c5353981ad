"""A collection that is not Icecat: JSONL `doc_id`/`title`/`abstract` records, a queries JSONL with numeric
ids and TREC qrels, through `ingest` and `evaluate --live --queries` with the shipped
configs/title-abstract.toml and the real all-MiniLM-L6-v2, on the local store and on OpenSearch. No code
knows this collection."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from gcl_search.cli import main

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "examples" / "generic"
CONFIG = ROOT / "configs" / "title-abstract.toml"


def _cli(args: list[str]) -> str:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _evaluate(target: list[str], index: str = "papers") -> dict:
    out = _cli(
        [
            "evaluate",
            "-j",
            str(DATA / "qrels.txt"),
            "-c",
            str(CONFIG),
            *target,
            "--index",
            index,
            "--queries",
            str(DATA / "queries.jsonl"),
            "-m",
            "ndcg@10",
            "--format",
            "json",
            "--resamples",
            "100",
            "--live",
            "bm25=--lexical-weight 1",
            "--live",
            "dense=",
            "--live",
            "hybrid=--lexical",
        ]
    )
    return json.loads(out[out.index("{") :])


def _check(report: dict) -> None:
    runs = report["runs"]
    assert set(runs) == {"bm25", "dense", "hybrid"}
    for name, run in runs.items():
        # Every query found its one grade-2 document near the top: the ids are numbers, not texts, so a
        # query run by its id instead of its text would score ~0.
        assert run["n_queries"] == 5, name
        assert run["means"]["ndcg@10"] >= 0.85, (name, run["means"])


def test_local_store(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENSEARCH_URL", raising=False)
    out = _cli(
        [
            "ingest",
            "-c",
            str(CONFIG),
            "--catalogue",
            str(DATA / "docs.jsonl"),
            "--store",
            str(tmp_path),
            "--index",
            "papers",
            "--no-progress",
            "--checkpoint",
            str(tmp_path / "ck.json"),
            "--failures-file",
            str(tmp_path / "f.jsonl"),
        ]
    )
    assert "indexed 16, skipped 0, failed 0" in out  # d15 has no abstract and is kept
    _check(_evaluate(["--store", str(tmp_path)]))


@pytest.mark.opensearch
def test_opensearch(tmp_path, opensearch_url):
    target, index = ["--opensearch-url", opensearch_url], f"papers-{os.getpid()}"
    try:
        out = _cli(
            [
                "ingest",
                "-c",
                str(CONFIG),
                "--catalogue",
                str(DATA / "docs.jsonl"),
                *target,
                "--index",
                index,
                "--no-progress",
                "--checkpoint",
                str(tmp_path / "ck.json"),
                "--failures-file",
                str(tmp_path / "f.jsonl"),
            ]
        )
        assert "indexed 16, skipped 0, failed 0" in out
        _check(_evaluate(target, index))
    finally:
        CliRunner().invoke(main, ["index", "delete", index, "--yes", *target])
