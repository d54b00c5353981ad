"""`gcl-search index list|info|delete` on the local store, through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from gcl_search.cli import main
from tests.fakes import CATALOGUE, make_store


@pytest.fixture
def stores(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENSEARCH_URL", raising=False)
    make_store(tmp_path / "stores" / "kw")
    make_store(tmp_path / "stores" / "other")
    (tmp_path / "stores" / "not-an-index").mkdir()
    return tmp_path / "stores"


def _run(args, **kwargs):
    return CliRunner().invoke(main, args, **kwargs)


def test_list_json_counts_every_index_and_skips_other_directories(stores):
    result = _run(["index", "list", "--store", str(stores), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["name"] for r in rows] == ["kw", "other"]
    assert all(r["docs"] == len(CATALOGUE) and r["store"] == "local" and r["compatible"] for r in rows)
    assert rows[0]["dense_fields"] == ["title", "description"]
    assert rows[0]["size_bytes"] > 0


def test_list_table_and_empty_store(stores, tmp_path):
    result = _run(["index", "list", "--store", str(stores)])
    assert result.exit_code == 0, result.output
    header, *lines = result.output.splitlines()
    assert header.split()[:3] == ["name", "docs", "size"]
    assert [line.split()[0] for line in lines] == ["kw", "other"]
    empty = _run(["index", "list", "--store", str(tmp_path / "nothing")])
    assert empty.exit_code == 0 and "no gcl-search indices" in empty.output


def test_info_shows_layout(stores):
    result = _run(["index", "info", "kw", "--store", str(stores), "--format", "json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["docs"] == len(CATALOGUE)
    assert [f["name"] for f in info["layout"]["dense_fields"]] == ["title", "description"]
    assert info["location"].endswith("kw")
    text = _run(["index", "info", "kw", "--store", str(stores)])
    assert "dense field title:" in text.output and f"docs: {len(CATALOGUE)}" in text.output


def test_info_of_a_missing_index_is_a_one_line_error(stores):
    result = _run(["index", "info", "nope", "--store", str(stores)])
    assert result.exit_code == 1
    assert "no local store at" in result.output and "index list" in result.output


def test_info_of_an_index_from_another_version_is_shown_as_incompatible(stores):
    meta_path = stores / "other" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["gcl_search"]["layout_version"] = 999
    meta_path.write_text(json.dumps(meta))
    result = _run(["index", "info", "other", "--store", str(stores), "--format", "json"])
    info = json.loads(result.output)
    assert info["compatible"] is False and info["docs"] is None


def test_delete_asks_and_keeps_the_index_on_no(stores):
    result = _run(["index", "delete", "kw", "--store", str(stores)], input="n\n")
    assert result.exit_code == 1  # click's Abort
    assert (stores / "kw" / "meta.json").is_file()
    result = _run(["index", "delete", "kw", "--store", str(stores)], input="y\n")
    assert result.exit_code == 0, result.output
    assert not (stores / "kw").exists() and (stores / "other" / "meta.json").is_file()


def test_delete_yes_does_not_ask(stores):
    result = _run(["index", "delete", "other", "--store", str(stores), "--yes"])
    assert result.exit_code == 0, result.output
    assert "deleted local index 'other'" in result.output
    assert not (stores / "other").exists()


def test_explicit_store_beats_the_environment_url(stores, monkeypatch):
    monkeypatch.setenv("OPENSEARCH_URL", "http://127.0.0.1:1")  # nothing listens there
    result = _run(["index", "list", "--store", str(stores), "--format", "json"])
    assert result.exit_code == 0, result.output
    both = _run(["index", "list", "--store", str(stores), "--opensearch-url", "http://127.0.0.1:1"])
    assert both.exit_code == 2 and "not both" in both.output
