"""One rule for every command that opens a store: an explicit --store wins over an $OPENSEARCH_URL that only
comes from the environment, and --store with an explicit --opensearch-url is a usage error."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gcl_search.cli import main
from tests.fakes import CLI_JUDGMENTS, make_cli_env

DEAD = "http://127.0.0.1:1"  # nothing listens there: reaching for it would fail the command


@pytest.fixture
def env(tmp_path, monkeypatch):
    return make_cli_env(tmp_path, monkeypatch)


@pytest.fixture
def qrels(env):
    tmp_path, _ = env
    path = tmp_path / "j.csv"
    path.write_text(CLI_JUDGMENTS + "usb,d6,3\nhdmi,d2,2\n", encoding="utf-8")
    return str(path)


COMMANDS = {
    "search": lambda qrels: ["search", "--text", "usb cable", "-k", "3"],
    "tune": lambda qrels: ["tune", "-j", qrels, "-m", "ndcg@10", "--heldout", "0.25", "--k", "10"],
    "evaluate": lambda qrels: ["evaluate", "-j", qrels, "-m", "ndcg@10"],
    "evaluate --live": lambda qrels: [
        "evaluate",
        "-j",
        qrels,
        "-m",
        "ndcg@10",
        "--live",
        "hybrid=--lexical-weight 0.3",
    ],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_explicit_store_beats_the_environment_url(env, qrels, monkeypatch, command):  # noqa: F811
    _, base = env
    monkeypatch.setenv("OPENSEARCH_URL", DEAD)
    result = CliRunner().invoke(main, [*COMMANDS[command](qrels), *base])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_store_and_an_explicit_url_is_a_usage_error(env, qrels, command):  # noqa: F811
    _, base = env
    result = CliRunner().invoke(main, [*COMMANDS[command](qrels), *base, "--opensearch-url", DEAD])
    assert result.exit_code == 2 and "not both" in result.output
