"""What the OpenSearch and Elasticsearch indices share: the lifecycle of one index with its recorded layout,
its catalogue entry, and zero-downtime re-indexing behind an alias.

An engine's subclass adds how it creates the index (`_create_index`), which version its server runs
(`_server_version`) and how it moves an alias (`_update_aliases`); the request bodies are its own.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, TypeVar

from gcl_search.errors import ConfigError, IndexNotFound
from gcl_search.stores.catalog import IndexSummary
from gcl_search.stores.cluster import ClusterConnection
from gcl_search.stores.layout import IndexLayout

IndexT = TypeVar("IndexT", bound="ClusterIndex")


class ClusterIndex(ClusterConnection):
    """One index (or alias) on a cluster and its recorded layout.

    Args:
        client_or_url, index: as for `ClusterConnection`.
        shards, replicas: of an index this creates (the config's `[index]` table).
        kwargs: the connection's (`ClusterConnection`: retries, bulk sizes, `connect` arguments).
    """

    engine: ClassVar[str]  # "opensearch" / "elasticsearch": `IndexSummary.engine`, `engines.py`'s dispatch
    ef_search: int | None

    def __init__(self, client_or_url: Any, index: str, *, shards: int = 1, replicas: int = 0, **kwargs: Any):
        super().__init__(client_or_url, index, **kwargs)
        self.shards, self.replicas = shards, replicas
        self._layout: IndexLayout | None = None

    def _create_index(self, layout: IndexLayout) -> None:
        raise NotImplementedError

    def _server_version(self) -> str:
        raise NotImplementedError

    def _update_aliases(self, actions: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return f"{self.url}/{self.index}"

    # -- index lifecycle -------------------------------------------------------------------------------------

    def exists(self) -> bool:
        return bool(self._call(self.client.indices.exists, index=self.index))

    def create(self, layout: IndexLayout, *, exist_ok: bool = False) -> None:
        if self.exists():
            if not exist_ok:
                raise ConfigError(
                    f"index {self.index!r} exists already at {self.url}; pass exist_ok, "
                    "drop it, or build a new version behind an alias"
                )
            self.layout().check_compatible(layout, where=f"index {self.index!r}")
            return
        self._create_index(layout)
        self._layout = layout

    def drop(self) -> None:
        self._call(self.client.indices.delete, index=self.index, ignore_unavailable=True)
        self._layout = None

    def layout(self) -> IndexLayout:
        if self._layout is None:
            meta = self.engine_meta()
            if meta.get("gcl_search") is None:
                raise ConfigError(
                    f"index {self.index!r} has no gcl_search layout in its _meta; it was not "
                    "created by gcl-search (use another index name)"
                )
            self._layout = IndexLayout.from_meta(meta["gcl_search"], where=f"index {self.index!r}")
        return self._layout

    def engine_meta(self) -> dict[str, Any]:
        """The index's `_meta`: the layout (`gcl_search`), and any choices of the engine's store."""
        mapping = self._call(self.client.indices.get_mapping, index=self.index)
        return dict(next(iter(mapping.values()))["mappings"].get("_meta", {}))

    def refresh(self) -> None:
        self._call(self.client.indices.refresh, index=self.index)

    def count(self) -> int:
        return int(self._call(self.client.count, index=self.index)["count"])

    def with_index(self: IndexT, index: str) -> IndexT:
        """A store for another index on this store's connection: the same client, redacted URL, secrets to
        scrub from messages, and retry and bulk settings."""
        other = copy.copy(self)
        other.index, other._layout = index, None
        return other

    def with_ef_search(self: IndexT, ef_search: int | None) -> IndexT:
        """This store with another HNSW beam (None: the layout's); the search client's `ef_search`."""
        other = copy.copy(self)
        other.ef_search = ef_search
        return other

    # -- catalogue (gcl-search index list / info) --------------------------------------------------------

    def summaries(self) -> list[IndexSummary]:
        """The gcl-search indices this store's name matches (an index, an alias, or a pattern such as `*`):
        layout metadata as stored, document count, size (primaries and replicas), aliases, server version."""
        metas = self._call(
            self.client.indices.get_mapping, index=self.index, filter_path="*.mappings._meta.gcl_search"
        )
        names = sorted(metas or {})
        if not names:
            return []
        joined = ",".join(names)
        stats = self._call(self.client.indices.stats, index=joined, metric="store")["indices"]
        aliases = self._call(self.client.indices.get_alias, index=joined)
        version = self._server_version()
        return [
            IndexSummary(
                name,
                self.engine,
                int(self._call(self.client.count, index=name)["count"]),
                int(stats[name]["total"]["store"]["size_in_bytes"]),
                metas[name]["mappings"]["_meta"]["gcl_search"],
                aliases=sorted(aliases.get(name, {}).get("aliases", {})),
                location=self.url,
                engine_version=version,
            )
            for name in names
        ]


def create_versioned_index(store: IndexT, alias: str, layout: IndexLayout) -> IndexT:
    """Create `<alias>-v<n+1>` (n = the highest existing version) for `layout` and return its store, on
    `store`'s connection (its retry settings, redacted URL and secrets)."""
    existing = store._call(
        store.client.indices.get, index=f"{alias}-v*", ignore_unavailable=True, allow_no_indices=True
    )
    versions = [int(name.rsplit("-v", 1)[1]) for name in existing if name.rsplit("-v", 1)[1].isdigit()]
    new = store.with_index(f"{alias}-v{max(versions, default=0) + 1}")
    new.create(layout)
    return new


def swap_alias(store: ClusterIndex, alias: str, new_index: str, delete_old: bool = False) -> list[str]:
    """Point `alias` at `new_index` only, in one atomic `_aliases` request; returns the indices it left.

    Searches through the alias see either the old or the new index, never neither.
    """
    try:
        old = list(store._call(store.client.indices.get_alias, name=alias))
    except IndexNotFound:
        old = []
    if alias in old:
        raise ConfigError(f"{alias!r} is a concrete index, not an alias; re-index into a new name first")
    actions = [{"remove": {"index": name, "alias": alias}} for name in old if name != new_index]
    actions.append({"add": {"index": new_index, "alias": alias}})
    store._update_aliases(actions)
    left = [name for name in old if name != new_index]
    if delete_old and left:
        store._call(store.client.indices.delete, index=",".join(left))
    return left
