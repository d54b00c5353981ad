"""`gcl-search search`, `tune` and the live mode of `evaluate`, through click's CliRunner.

The encoders are the keyword fakes (patched into the registry), so the rankings are the hand-worked ones of
test_search_client.py: "usb cable" at 0.7 title / 0.3 description ranks d1, d6, d2, d5, d3, d4.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from gcl_search.cli import main
from gcl_search.config import load_config
from tests.fakes import CLI_JUDGMENTS, keyword_toml, make_cli_env

CONFIG = keyword_toml(query_field=True)


@pytest.fixture
def env(tmp_path, monkeypatch):
    return make_cli_env(tmp_path, monkeypatch)


def _run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_search_table(env):
    _, base = env
    result = _run(["search", *base, "--text", "usb cable", "-k", "3"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["rank", "doc_id", "score", "dense", "lexical", "title", "description"]
    assert [line.split()[1] for line in lines[1:]] == ["d1", "d6", "d2"]
    # fused: (0.7 * 1 + 0.3 * 2/sqrt(6)) / ||0.7 t + 0.3 d|| with t . d = 2/sqrt(6)
    assert lines[1].split()[2] == "0.9836"
    summed = _run(["search", *base, "--text", "usb cable", "-k", "3", "--dense-score", "sum"]).output
    assert summed.splitlines()[1].split()[2] == "0.9449"  # 0.7 * 1 + 0.3 * 2/sqrt(6)


def test_search_jsonl_with_weights_lexical_filter_and_paging(env):
    _, base = env
    args = [
        "search",
        *base,
        "-q",
        "usb cable",
        "--weight",
        "title=1,description=0",
        "--format",
        "jsonl",
        "--lexical-weight",
        "0.2",
        "--fusion",
        "rrf",
        "--filter",
        "price<=10",
        "-k",
        "2",
        "--offset",
        "1",
    ]
    result = _run(args)
    assert result.exit_code == 0, result.output
    hits = [json.loads(line) for line in result.output.splitlines()]
    assert [h["rank"] for h in hits] == [2, 3]
    assert {h["doc_id"] for h in hits} <= {"d1", "d2", "d6"}
    assert all(h["lexical_score"] is not None and h["attributes"]["price"] <= 10 for h in hits)
    assert hits[0]["field_scores"]["description"] > 0  # reported even with weight 0


@pytest.mark.parametrize(
    "extra, code, message",
    [
        (["--weight", "title=-1"], 1, "negative"),
        (["--weight", "colour=1"], 1, "unknown field 'colour'"),
        (["--filter", "price~3"], 1, "is not FIELD=VALUE"),
        (["--filter", "weight<=3"], 1, "not a filterable attribute"),
    ],
)
def test_search_errors(env, extra, code, message):
    _, base = env
    result = CliRunner().invoke(main, ["search", *base, "-q", "usb", *extra])
    assert result.exit_code == code
    assert message in result.output


def test_search_missing_index_and_missing_query(env):
    tmp_path, base = env
    args = ["search", *base[:2], "--index", "nope", "--store", str(tmp_path), "-q", "x"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "gcl-search ingest" in result.output
    result = CliRunner().invoke(main, ["search", *base, "-q", "  "])
    assert result.exit_code == 2 and "--text and/or --image" in result.output


def test_evaluate_live_writes_the_run_and_compares(env):
    tmp_path, base = env
    qrels = tmp_path / "judgments.csv"
    qrels.write_text(CLI_JUDGMENTS, encoding="utf-8")
    run_out = tmp_path / "live.jsonl"
    result = _run(["evaluate", "-j", str(qrels), *base, "--run-out", str(run_out), "-m", "ndcg@10,mrr@10"])
    assert result.exit_code == 0, result.output
    assert "live" in result.output and "ndcg@10" in result.output
    rows = [json.loads(line) for line in run_out.read_text(encoding="utf-8").splitlines()]
    assert {r["query_id"] for r in rows} == {"usb cable", "red mouse"}
    assert rows[0]["hits"][0]["doc_id"] == ("d1" if rows[0]["query_id"] == "usb cable" else "d5")
    # the saved run plus a live title-only run: a comparison with a paired test
    both = _run(
        [
            "evaluate",
            "-j",
            str(qrels),
            "--run",
            f"saved={run_out}",
            *base,
            "--weight",
            "title=1,description=0",
            "--run-name",
            "title_only",
            "-m",
            "ndcg@10",
            "--resamples",
            "100",
        ]
    )
    assert both.exit_code == 0, both.output
    assert "saved" in both.output and "title_only" in both.output


def test_evaluate_needs_runs_or_live(env):
    tmp_path, base = env
    qrels = tmp_path / "j.csv"
    qrels.write_text(CLI_JUDGMENTS, encoding="utf-8")
    result = CliRunner().invoke(main, ["evaluate", "-j", str(qrels)])
    assert result.exit_code == 2 and "--config and --index" in result.output


def test_tune_writes_a_config_copy(env):
    tmp_path, base = env
    qrels = tmp_path / "j.csv"
    qrels.write_text(CLI_JUDGMENTS + "usb,d6,3\nhdmi,d2,2\n", encoding="utf-8")
    out = tmp_path / "tuned.toml"
    result = _run(
        [
            "tune",
            *base,
            "-j",
            str(qrels),
            "-m",
            "ndcg@10",
            "--heldout",
            "0.25",
            "--k",
            "10",
            "--write-config",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "chosen weights:  title=" in result.output and "held-out default" in result.output
    assert "3-fold cross-validation" in result.output
    tuned = {f.name: f.weight for f in load_config(out).fields}
    assert sum(tuned.values()) == pytest.approx(1.0, abs=1e-4)
    assert "gcl-search tune: ndcg@10 held-out" in out.read_text(encoding="utf-8")
    assert load_config(out).search.lexical is False  # a dense-only tuning says so in [search]
    assert {f.name: f.weight for f in load_config(base[1]).fields} == {"title": 0.7, "description": 0.3}


def test_tune_a_hybrid_writes_the_search_table_and_the_heldout_queries(env):
    tmp_path, base = env
    qrels = tmp_path / "j.csv"
    qrels.write_text(CLI_JUDGMENTS + "usb,d6,3\nhdmi,d2,2\n", encoding="utf-8")
    out, held = tmp_path / "tuned.toml", tmp_path / "held.jsonl"
    result = _run(
        [
            "tune",
            *base,
            "-j",
            str(qrels),
            "--lexical-fields",
            "title",
            "--fusion",
            "rrf",
            "--rank-constant",
            "10",
            "--heldout",
            "0.25",
            "--grid-step",
            "0.5",
            "--lexical-step",
            "0.5",
            "--write-config",
            str(out),
            "--heldout-out",
            str(held),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "lexical weight=" in result.output
    search = load_config(out).search
    assert (search.lexical, search.lexical_fields, search.rank_constant) == (True, ("title",), 10.0)
    assert search.fusion in ("rrf", "minmax", "zscore")  # the start (rrf) and the other two are tried
    assert search.lexical_weight in (0.0, 0.5, 0.7, 1.0)  # the grid and the start (the default, 0.7)
    held_ids = [json.loads(line)["query_id"] for line in held.read_text(encoding="utf-8").splitlines()]
    assert len(held_ids) == 1 and held_ids[0] in {"usb cable", "red mouse", "usb", "hdmi"}
    # the written config is what search and evaluate now use by default: a hybrid run
    hits = _run(["search", *base[:1], str(out), *base[2:], "-q", "usb cable", "--format", "jsonl"])
    assert all(json.loads(line)["lexical_score"] is not None for line in hits.output.splitlines()[:1])


def test_search_takes_its_defaults_from_the_search_table(env):
    tmp_path, base = env
    config = tmp_path / "config.toml"
    config.write_text(
        CONFIG + '\n[search]\nk = 2\nlexical = true\nlexical_fields = ["title"]\nfusion = "rrf"\n',
        encoding="utf-8",
    )
    hits = [
        json.loads(line)
        for line in _run(["search", *base, "-q", "usb cable", "--format", "jsonl"]).output.splitlines()
    ]
    assert len(hits) == 2 and all(h["lexical_score"] is not None for h in hits)
    dense = [
        json.loads(line)
        for line in _run(
            ["search", *base, "-q", "usb cable", "--format", "jsonl", "--no-lexical", "-k", "3"]
        ).output.splitlines()
    ]
    assert [h["doc_id"] for h in dense] == ["d1", "d6", "d2"] and dense[0]["lexical_score"] is None
    bad = CliRunner().invoke(main, ["search", *base, "-q", "usb", "--no-lexical", "--lexical-weight", "0.3"])
    assert bad.exit_code == 1 and "turned off" in bad.output
    config.write_text(CONFIG + '\n[search]\nlexical_fields = ["colour"]\n', encoding="utf-8")
    bad = CliRunner().invoke(main, ["search", *base, "-q", "usb"])
    assert bad.exit_code == 1
    assert "config.toml: [search].lexical_fields: 'colour' is not a BM25 text field" in bad.output
