"""Shared fixtures.

OpenSearch: tests marked `opensearch` get the `opensearch_url` fixture. With no node they skip, unless
GCL_SEARCH_REQUIRE_OPENSEARCH=1 (set by scripts/test.sh, i.e. `make test` and CI): then they fail, so a
missing node can never look green.

Elasticsearch: tests marked `elasticsearch` get the `elasticsearch_url` fixture ($ELASTICSEARCH_URL), with
the same rule under GCL_SEARCH_REQUIRE_ELASTICSEARCH=1.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
ICECAT = ROOT / "examples" / "icecat"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Taken out of the environment for the whole run: a command with no --store would otherwise reach
# Elasticsearch in tests that unset OPENSEARCH_URL to get the local store. Tests get it from the fixture.
_ELASTICSEARCH_URL = os.environ.pop("ELASTICSEARCH_URL", "http://127.0.0.1:9400").rstrip("/")


def _node_answers(url: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            health = f"{url}/_cluster/health?wait_for_status=yellow&timeout=5s"
            with urllib.request.urlopen(health, timeout=10):
                return True
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                return False
            time.sleep(1)


@pytest.fixture(scope="session")
def opensearch_url() -> str:
    url = os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9200").rstrip("/")
    required = os.environ.get("GCL_SEARCH_REQUIRE_OPENSEARCH") == "1"
    if _node_answers(url, timeout_s=30 if required else 2):
        return url
    if required:
        pytest.fail(f"GCL_SEARCH_REQUIRE_OPENSEARCH=1 but no OpenSearch node answers at {url}")
    pytest.skip(f"no OpenSearch node at {url}; run `make test` to start one")


@pytest.fixture(scope="session")
def elasticsearch_url() -> str:
    url = _ELASTICSEARCH_URL
    required = os.environ.get("GCL_SEARCH_REQUIRE_ELASTICSEARCH") == "1"
    if _node_answers(url, timeout_s=30 if required else 2):
        return url
    if required:
        pytest.fail(f"GCL_SEARCH_REQUIRE_ELASTICSEARCH=1 but no Elasticsearch node answers at {url}")
    pytest.skip(f"no Elasticsearch node at {url}; start one: tools/elasticsearch-node/node.sh start")


@pytest.fixture(scope="session")
def icecat_dir() -> Path:
    return ICECAT
