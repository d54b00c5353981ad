"""`gcl-search evaluate` through CliRunner: success paths, each class of bad input, the docs samples."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from gcl_search.cli import main

ROOT = Path(__file__).resolve().parents[2]
DATA = "tests/data/eval"


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, ["evaluate", *args], catch_exceptions=False)

    return run


def test_single_run_table(invoke) -> None:
    result = invoke("-j", f"{DATA}/tiny.qrels", "-r", f"{DATA}/tiny_a.run", "-m", "ndcg@3,mrr@10")
    assert result.exit_code == 0, result.output
    assert re.search(r"ndcg@3\s+0\.4730", result.stdout)  # mean of q1 0.315002 and q2 0.630930
    assert "tiny_a: 2 queries scored; 1 skipped" in result.stdout
    assert re.search(r"mrr@10\s+0\.4167\s+\[-0\.6422, 1\.4755\]", result.stdout)  # (1/3 + 1/2) / 2, t(df=1)
    assert "legend:" in result.stdout and "ties score descending, then doc_id ascending" in result.stdout


def test_two_runs_json_with_plot(invoke, tmp_path: Path) -> None:
    plot = tmp_path / "deltas.png"
    result = invoke(
        "-j",
        f"{DATA}/tiny_judgments.csv",
        "-r",
        f"a={DATA}/tiny_a.run",
        "-r",
        f"b={DATA}/tiny_b.jsonl",
        "-m",
        "ndcg@3",
        "--format",
        "json",
        "--test",
        "both",
        "--plot",
        str(plot),
        "--no-relevant",
        "zero",
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["comparison"]["baseline"] == "a" and len(body["comparison"]["tests"]) == 2
    assert body["runs"]["b"]["n_queries"] == 3
    assert plot.stat().st_size > 1000 and "plot written" in result.stderr


def test_single_run_bar_plot(invoke, tmp_path: Path) -> None:
    plot = tmp_path / "bars.svg"
    result = invoke("-j", f"{DATA}/tiny.qrels", "-r", f"{DATA}/tiny_a.run", "--plot", str(plot))
    assert result.exit_code == 0 and plot.read_text().startswith("<?xml")


@pytest.mark.parametrize(
    "files, extra, message",
    [
        ({"j.qrels": "q1 0 d1 high\n"}, [], "j.qrels:1: grade 'high' is not a number"),
        ({"r.run": "q1 Q0 d1 1 1.0 t\nq1 Q0 d1 2 0.5 t\n"}, [], "r.run:2: doc 'd1' appears twice"),
        ({"r.run": "zz Q0 d1 1 1.0 t\n"}, [], "r.run:1: query 'zz' is not in the judgments"),
        ({"r.run": ""}, [], "r.run: the file is empty"),
        ({"r.run": "q1 Q0 d1 1 1.0 t\nq1,Q0,d2,2,0.5,t\n"}, [], "r.run:2: mixed separators"),
        ({}, ["-m", "bleu@4"], "unknown metric 'bleu@4'"),
        ({}, ["--no-relevant", "error"], "query 'q3' has no document with grade >= 1"),
    ],
)
def test_bad_input_exits_1_with_a_message(
    invoke, tmp_path: Path, files: dict, extra: list, message: str
) -> None:
    paths = {"j.qrels": f"{DATA}/tiny.qrels", "r.run": f"{DATA}/tiny_a.run"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        paths[name] = str(tmp_path / name)
    result = invoke("-j", paths["j.qrels"], "-r", paths["r.run"], *extra)
    assert result.exit_code == 1
    assert message in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["--baseline", "x"], "--baseline needs at least two --run options"),
        (["--columns", "query"], "use key=header pairs"),
        (["--format", "xml"], "Invalid value for '--format'"),
    ],
)
def test_usage_errors_exit_2(invoke, args: list, message: str) -> None:
    result = invoke("-j", f"{DATA}/tiny.qrels", "-r", f"{DATA}/tiny_a.run", *args)
    assert result.exit_code == 2 and message in result.stderr


def docs_commands() -> list[list[str]]:
    text = (ROOT / "docs" / "evaluation.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line)
            if words and words[0].endswith("gcl-search") and words[1] == "evaluate":
                commands.append(words[2:])
    return commands


def test_docs_samples_run_as_written(invoke) -> None:
    commands = docs_commands()
    assert commands, "docs/evaluation.md has no `gcl-search evaluate` sample"
    for args in commands:
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.output)
