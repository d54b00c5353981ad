"""`gcl-search index list|info|delete` against the real OpenSearch node."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner

from gcl_search.cli import main
from gcl_search.stores.opensearch import OpenSearchStore
from tests.fakes import CATALOGUE, make_documents, make_layout

pytestmark = pytest.mark.opensearch


@pytest.fixture
def index(opensearch_url):
    name = f"gcl-test-index-cmd-{uuid.uuid4().hex[:8]}"
    store = OpenSearchStore(opensearch_url, name)
    store.create(make_layout())
    store.upsert(make_documents(CATALOGUE))
    store.refresh()
    store.client.indices.put_alias(index=name, name=f"{name}-alias")
    yield name
    store.drop()


def _run(url, *args, **kwargs):
    return CliRunner().invoke(main, ["index", *args, "--opensearch-url", url], **kwargs)


def test_list_and_info(opensearch_url, index):
    result = _run(opensearch_url, "list", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in map(json.loads, result.output.splitlines())}
    assert rows[index]["docs"] == len(CATALOGUE)
    assert rows[index]["aliases"] == [f"{index}-alias"]
    assert rows[index]["store"] == "opensearch" and rows[index]["size_bytes"] > 0
    info = json.loads(_run(opensearch_url, "info", f"{index}-alias", "--format", "json").output)
    assert info["name"] == index and info["engine_version"].count(".") == 2
    assert [f["name"] for f in info["layout"]["dense_fields"]] == ["title", "description"]


def test_delete_refuses_an_alias_then_deletes_by_name(opensearch_url, index):
    result = _run(opensearch_url, "delete", f"{index}-alias", "--yes")
    assert result.exit_code == 2 and "is an alias of" in result.output
    result = _run(opensearch_url, "delete", index, "--yes")
    assert result.exit_code == 0, result.output
    assert not OpenSearchStore(opensearch_url, index).exists()


def test_missing_index_is_a_one_line_error(opensearch_url):
    result = _run(opensearch_url, "info", "gcl-test-no-such-index")
    assert result.exit_code == 1 and "not found" in result.output


def test_unreachable_cluster_is_a_one_line_error():
    result = CliRunner().invoke(main, ["index", "list", "--opensearch-url", "http://127.0.0.1:1"])
    assert result.exit_code == 1 and "cannot reach OpenSearch" in result.output
