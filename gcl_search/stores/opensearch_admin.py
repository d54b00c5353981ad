"""Zero-downtime re-indexing on OpenSearch: build `<alias>-v<n>`, then move the alias in one atomic call
(`cluster_index`'s, shared with Elasticsearch; this also takes an `opensearchpy` client)."""

from __future__ import annotations

from typing import Any

from gcl_search.stores import cluster_index
from gcl_search.stores.layout import IndexLayout
from gcl_search.stores.opensearch import OpenSearchStore


def create_versioned_index(client_or_store: Any, alias: str, layout: IndexLayout) -> OpenSearchStore:
    """Create `<alias>-v<n+1>` (n = the highest existing version) for `layout` and return its store, on the
    given store's connection (its retry settings, redacted URL and secrets)."""
    return cluster_index.create_versioned_index(_as_store(client_or_store, alias), alias, layout)


def swap_alias(client_or_store: Any, alias: str, new_index: str, delete_old: bool = False) -> list[str]:
    """Point `alias` at `new_index` only, in one atomic `_aliases` request; returns the indices it left.

    Searches through the alias see either the old or the new index, never neither.
    """
    return cluster_index.swap_alias(_as_store(client_or_store, alias), alias, new_index, delete_old)


def _as_store(client_or_store: Any, index: str) -> OpenSearchStore:
    if isinstance(client_or_store, OpenSearchStore):
        return client_or_store
    return OpenSearchStore(client_or_store, index)
