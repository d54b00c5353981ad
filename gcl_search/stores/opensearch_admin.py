"""Zero-downtime re-indexing on OpenSearch: build `<alias>-v<n>`, then move the alias in one atomic call."""

from __future__ import annotations

from typing import Any

from gcl_search.errors import ConfigError, IndexNotFound
from gcl_search.stores.layout import IndexLayout
from gcl_search.stores.opensearch import OpenSearchStore


def create_versioned_index(client_or_store: Any, alias: str, layout: IndexLayout) -> OpenSearchStore:
    """Create `<alias>-v<n+1>` (n = the highest existing version) for `layout` and return its store, on the
    given store's connection (its retry settings, redacted URL and secrets)."""
    base = _as_store(client_or_store, alias)
    existing = base._call(
        base.client.indices.get, index=f"{alias}-v*", ignore_unavailable=True, allow_no_indices=True
    )
    versions = [int(name.rsplit("-v", 1)[1]) for name in existing if name.rsplit("-v", 1)[1].isdigit()]
    store = base.with_index(f"{alias}-v{max(versions, default=0) + 1}")
    store.create(layout)
    return store


def swap_alias(client_or_store: Any, alias: str, new_index: str, delete_old: bool = False) -> list[str]:
    """Point `alias` at `new_index` only, in one atomic `_aliases` request; returns the indices it left.

    Searches through the alias see either the old or the new index, never neither.
    """
    store = _as_store(client_or_store, alias)
    try:
        old = list(store._call(store.client.indices.get_alias, name=alias))
    except IndexNotFound:
        old = []
    if alias in old:
        raise ConfigError(f"{alias!r} is a concrete index, not an alias; re-index into a new name first")
    actions = [{"remove": {"index": name, "alias": alias}} for name in old if name != new_index]
    actions.append({"add": {"index": new_index, "alias": alias}})
    store._call(store.client.indices.update_aliases, body={"actions": actions})
    left = [name for name in old if name != new_index]
    if delete_old and left:
        store._call(store.client.indices.delete, index=",".join(left))
    return left


def _as_store(client_or_store: Any, index: str) -> OpenSearchStore:
    if isinstance(client_or_store, OpenSearchStore):
        return client_or_store
    return OpenSearchStore(client_or_store, index)
