"""`gcl-search evaluate --live NAME=OPTIONS`: several live runs from one loaded client (keyword fake encoder,
so the rankings are the hand-worked ones of test_search_client.py)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from gcl_search.cli import main
from tests.fakes import CLI_JUDGMENTS, KeywordEncoder, keyword_toml, make_store


@pytest.fixture
def env(tmp_path, monkeypatch):
    import gcl_search.encoders.registry as registry

    loads = []

    def load(config, names=None):
        loads.append(1)
        return {"kw": KeywordEncoder()}

    monkeypatch.setattr(registry, "load_encoders", load)
    monkeypatch.delenv("OPENSEARCH_URL", raising=False)
    make_store(tmp_path / "stores" / "kw")
    (tmp_path / "config.toml").write_text(keyword_toml(query_field=True), encoding="utf-8")
    (tmp_path / "j.csv").write_text(CLI_JUDGMENTS, encoding="utf-8")
    base = [
        "evaluate",
        "-j",
        str(tmp_path / "j.csv"),
        "--config",
        str(tmp_path / "config.toml"),
        "--index",
        "kw",
        "--store",
        str(tmp_path / "stores"),
        "-m",
        "ndcg@10",
        "--resamples",
        "100",
    ]
    return tmp_path, base, loads


def _run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_two_live_runs_share_one_client_and_write_their_runs(env):
    tmp_path, base, loads = env
    out = tmp_path / "title.jsonl"
    result = _run(
        [
            *base,
            "--format",
            "json",
            "--live",
            "multi=",
            "--live",
            f"title=-w title=1,description=0 --run-out {out}",
        ]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert set(report["runs"]) == {"multi", "title"}
    assert len(loads) == 1  # the model was loaded once for both runs
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {r["query_id"] for r in rows} == {"usb cable", "red mouse"}


def test_live_spec_options_change_the_ranking(env):
    tmp_path, base, _ = env
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    result = _run(
        [*base, "--live", f"multi=--run-out {a}", "--live", f"desc=-w title=0,description=1 --run-out {b}"]
    )
    assert result.exit_code == 0, result.output
    first = {json.loads(line)["query_id"]: json.loads(line)["hits"] for line in a.read_text().splitlines()}
    second = {json.loads(line)["query_id"]: json.loads(line)["hits"] for line in b.read_text().splitlines()}
    assert [h["doc_id"] for h in first["usb cable"]] != [h["doc_id"] for h in second["usb cable"]]


def test_live_runs_choose_the_dense_score(env):
    tmp_path, base, _ = env
    a, b = tmp_path / "fused.jsonl", tmp_path / "sum.jsonl"
    result = _run([*base, "--live", f"fused=--run-out {a}", "--live", f"sum=--dense-score sum --run-out {b}"])
    assert result.exit_code == 0, result.output
    top = [
        {json.loads(line)["query_id"]: json.loads(line)["hits"][0] for line in path.read_text().splitlines()}
        for path in (a, b)
    ]
    # d1 "usb cable" / "black usb cable": fused 0.9836 (test_cli_search.py), sum 0.7 + 0.3 * 2/sqrt(6)
    assert top[0]["usb cable"]["doc_id"] == top[1]["usb cable"]["doc_id"] == "d1"
    assert top[0]["usb cable"]["score"] == pytest.approx(0.9836, abs=1e-4)
    assert top[1]["usb cable"]["score"] == pytest.approx(0.9449, abs=1e-4)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--live", "x=--no-such-option"], "No such option"),
        (["--live", "noequals"], "NAME=OPTIONS"),
        (["--live", "x=", "--live", "x=-w title=1"], "two live runs are named 'x'"),
        (["--live", "x=", "--weight", "title=1"], "with --live put it inside each spec"),
        (["--live", "x=", "--run-name", "y"], "--run-name shapes the single live run"),
    ],
)
def test_live_usage_errors(env, extra, message):
    _, base, _ = env
    result = CliRunner().invoke(main, [*base, *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_live_needs_a_store(env):
    tmp_path, _, _ = env
    result = CliRunner().invoke(main, ["evaluate", "-j", str(tmp_path / "j.csv"), "--live", "x="])
    assert result.exit_code == 2 and "--config and --index" in result.output
