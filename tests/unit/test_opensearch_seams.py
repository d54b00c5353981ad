"""Seams of the OpenSearch store that need no node: errors of the alias helpers, and stores derived from a
store keeping its connection (redacted URL, secrets to scrub, retry settings)."""

from __future__ import annotations

import pytest
from opensearchpy import OpenSearch

from gcl_search.errors import StoreUnavailable
from gcl_search.stores.opensearch import OpenSearchStore
from gcl_search.stores.opensearch_admin import create_versioned_index, swap_alias
from tests.fakes import make_layout

DEAD = "http://127.0.0.1:1"  # nothing listens there


@pytest.fixture
def dead_store():
    store = OpenSearchStore(OpenSearch(hosts=[DEAD], max_retries=0, timeout=2), "products")
    store.url, store._secrets = "http://***@127.0.0.1:1", ["s3cret"]
    store.max_attempts, store.chunk_size = 2, 7
    return store


def test_create_versioned_index_on_a_dead_cluster_is_a_store_error(dead_store):
    with pytest.raises(StoreUnavailable, match="cannot reach OpenSearch"):
        create_versioned_index(dead_store, "products", make_layout())


def test_swap_alias_on_a_dead_cluster_is_a_store_error(dead_store):
    with pytest.raises(StoreUnavailable, match="cannot reach OpenSearch"):
        swap_alias(dead_store, "products", "products-v2")


def test_a_bare_client_gets_the_same_errors():
    client = OpenSearch(hosts=[DEAD], max_retries=0, timeout=2)
    with pytest.raises(StoreUnavailable):
        swap_alias(client, "products", "products-v2")


def test_with_index_keeps_the_connection_and_settings(dead_store):
    other = dead_store.with_index("products-v3")
    assert other.index == "products-v3" and dead_store.index == "products"
    assert other.client is dead_store.client
    assert (other.url, other._secrets, other.max_attempts, other.chunk_size) == (
        "http://***@127.0.0.1:1",
        ["s3cret"],
        2,
        7,
    )
    assert "s3cret" not in other.name
