"""OpenSearchIndex: one OpenSearch index's lifecycle (create with its layout, drop, refresh, count, the
settings of a bulk load) and its catalogue entry; `OpenSearchStore` (`gcl_search.stores.opensearch`) adds the
documents' writes and searches. What Elasticsearch shares is `cluster_index.ClusterIndex`'s; this adds the
OpenSearch index body and the bulk-load settings (with `drop_replicas_during_load`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gcl_search.stores import opensearch_mapping as mapping
from gcl_search.stores.cluster_index import ClusterIndex
from gcl_search.stores.layout import IndexLayout
from gcl_search.stores.opensearch_connection import OpenSearchConnection


class OpenSearchIndex(OpenSearchConnection, ClusterIndex):
    """One OpenSearch index (or alias) and its recorded layout (the shared lifecycle: `ClusterIndex`).

    Args:
        client_or_url, index: as for `OpenSearchConnection`.
        shards, replicas: of an index this creates (the config's `[index]` table).
        drop_replicas_during_load: `bulk_load` sets 0 replicas until it ends.
        kwargs: the connection's (`ClusterConnection`: retries, bulk sizes, `connect` arguments).
    """

    engine = "opensearch"

    def __init__(
        self, client_or_url: Any, index: str, *, drop_replicas_during_load: bool = False, **kwargs: Any
    ):
        super().__init__(client_or_url, index, **kwargs)
        self.drop_replicas_during_load = drop_replicas_during_load

    def _create_index(self, layout: IndexLayout) -> None:
        body = mapping.build_index_body(layout, self.shards, self.replicas)
        if int(self._server_version().split(".")[0]) >= 3:
            # OpenSearch 3 scores BM25 without Lucene's old (k1 + 1) factor; keep the 2.x (and local store)
            # scale so BM25 scores and tuned constants mean the same on every version.
            body["settings"]["index"]["similarity"] = {"default": {"type": "LegacyBM25"}}
        self._call(self.client.indices.create, index=self.index, body=body)

    def _server_version(self) -> str:
        return self._call(self.client.info)["version"]["number"]

    def _update_aliases(self, actions: list[dict[str, Any]]) -> None:
        self._call(self.client.indices.update_aliases, body={"actions": actions})

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
