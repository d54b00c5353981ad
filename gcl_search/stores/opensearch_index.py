"""OpenSearchIndex: one OpenSearch index's lifecycle (create with its layout, drop, refresh, count, the
settings of a bulk load) and its catalogue entry; `OpenSearchStore` (`gcl_search.stores.opensearch`) adds the
documents' writes and searches.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from gcl_search.errors import ConfigError
from gcl_search.stores import opensearch_mapping as mapping
from gcl_search.stores.catalog import IndexSummary
from gcl_search.stores.layout import IndexLayout
from gcl_search.stores.opensearch_connection import OpenSearchConnection

IndexT = TypeVar("IndexT", bound="OpenSearchIndex")


class OpenSearchIndex(OpenSearchConnection):
    """One OpenSearch index (or alias) and its recorded layout.

    Args:
        client_or_url, index: as for `OpenSearchConnection`.
        shards, replicas: of an index this creates (the config's `[index]` table).
        drop_replicas_during_load: `bulk_load` sets 0 replicas until it ends.
        kwargs: the connection's (`OpenSearchConnection`: retries, bulk sizes, `connect` arguments).
    """

    def __init__(
        self,
        client_or_url: Any,
        index: str,
        *,
        shards: int = 1,
        replicas: int = 0,
        drop_replicas_during_load: bool = False,
        **kwargs: Any,
    ):
        super().__init__(client_or_url, index, **kwargs)
        self.shards, self.replicas = shards, replicas
        self.drop_replicas_during_load = drop_replicas_during_load
        self._layout: IndexLayout | None = None

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
        body = mapping.build_index_body(layout, self.shards, self.replicas)
        if int(self._call(self.client.info)["version"]["number"].split(".")[0]) >= 3:
            # OpenSearch 3 scores BM25 without Lucene's old (k1 + 1) factor; keep the 2.x (and local store)
            # scale so BM25 scores and tuned constants mean the same on every version.
            body["settings"]["index"]["similarity"] = {"default": {"type": "LegacyBM25"}}
        self._call(self.client.indices.create, index=self.index, body=body)
        self._layout = layout

    def drop(self) -> None:
        self._call(self.client.indices.delete, index=self.index, ignore_unavailable=True)
        self._layout = None

    def layout(self) -> IndexLayout:
        if self._layout is None:
            mapping = self._call(self.client.indices.get_mapping, index=self.index)
            concrete = next(iter(mapping.values()))["mappings"]
            meta = concrete.get("_meta", {}).get("gcl_search")
            if meta is None:
                raise ConfigError(
                    f"index {self.index!r} has no gcl_search layout in its _meta; it was not "
                    "created by gcl-search (use another index name)"
                )
            self._layout = IndexLayout.from_meta(meta, where=f"index {self.index!r}")
        return self._layout

    def refresh(self) -> None:
        self._call(self.client.indices.refresh, index=self.index)

    def count(self) -> int:
        return int(self._call(self.client.count, index=self.index)["count"])

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """refresh_interval -1 during the load (and 0 replicas with `drop_replicas_during_load`); the previous
        values come back on exit, also when the block raises, followed by a refresh. Replicas are kept by
        default so that losing a node mid-load neither stalls the load nor loses acknowledged writes."""
        current = self._call(self.client.indices.get_settings, index=self.index, include_defaults=False)
        saved = {}
        for settings in current.values():
            index_settings = settings["settings"]["index"]
            saved = {
                "refresh_interval": index_settings.get("refresh_interval"),
                "number_of_replicas": index_settings.get("number_of_replicas"),
            }
        relaxed: dict[str, Any] = {"refresh_interval": "-1"}
        if self.drop_replicas_during_load:
            relaxed["number_of_replicas"] = 0
        else:
            saved.pop("number_of_replicas", None)
        self._put_settings(relaxed)
        try:
            yield
        finally:
            # None resets a setting that was not set explicitly before.
            self._put_settings(saved)
            self.refresh()

    def _put_settings(self, settings: dict[str, Any]) -> None:
        self._call(self.client.indices.put_settings, index=self.index, body={"index": settings})

    def with_index(self: IndexT, index: str) -> IndexT:
        """A store for another index on this store's connection: the same client, redacted URL, secrets to
        scrub from messages, and retry and bulk settings."""
        other = copy.copy(self)
        other.index, other._layout = index, None
        return other

    # -- catalogue (gcl-search index list / info) --------------------------------------------------------

    def summaries(self) -> list[IndexSummary]:
        """The gcl-search indices this store's name matches (an index, an alias, or a pattern such as `*`):
        layout metadata as stored, document count, size (primaries and replicas), aliases, server version."""
        metas = self._call(
            self.client.indices.get_mapping, index=self.index, filter_path="*.mappings._meta.gcl_search"
        )
        names = sorted(metas)
        if not names:
            return []
        joined = ",".join(names)
        stats = self._call(self.client.indices.stats, index=joined, metric="store")["indices"]
        aliases = self._call(self.client.indices.get_alias, index=joined)
        version = self._call(self.client.info)["version"]["number"]
        return [
            IndexSummary(
                name,
                "opensearch",
                int(self._call(self.client.count, index=name)["count"]),
                int(stats[name]["total"]["store"]["size_in_bytes"]),
                metas[name]["mappings"]["_meta"]["gcl_search"],
                aliases=sorted(aliases.get(name, {}).get("aliases", {})),
                location=self.url,
                engine_version=version,
            )
            for name in names
        ]
