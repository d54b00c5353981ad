"""ElasticsearchIndex: the index side of `ElasticsearchStore` (connection, lifecycle, layout, errors and
retries of reads, catalogue); the store adds the searches and, through `elasticsearch_writes`, the writes.
What OpenSearch shares is `cluster_index.ClusterIndex`'s; this names the Elasticsearch client's pieces.

Index creation falls back to `elasticsearch_bodies.FALLBACK_ENGLISH_ANALYSIS` on a node without the
analysis-common module (docs/elasticsearch.md). Reads are retried a bounded number of times when the cluster
cannot answer them completely (429 / 5xx, also inside an `_msearch`, or failed shards).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from elasticsearch import ApiError, AuthenticationException, AuthorizationException, NotFoundError
from elasticsearch import TransportError as ConnectionFailure

from gcl_search.errors import ConfigError, GclSearchError, StoreUnavailable
from gcl_search.stores import elasticsearch_bodies as bodies
from gcl_search.stores.cluster import RETRY_STATUSES, reason_text
from gcl_search.stores.cluster_index import ClusterIndex
from gcl_search.stores.connection import scrub
from gcl_search.stores.elasticsearch_connection import check_connection, connect, server_version
from gcl_search.stores.layout import IndexLayout


class ElasticsearchIndex(ClusterIndex):
    """One Elasticsearch index (or alias): the base of `ElasticsearchStore`.

    Args:
        client_or_url: an `elasticsearch.Elasticsearch` client, or a URL (None: $ELASTICSEARCH_URL).
        index: the index or alias name.
        index_type: vector index of an index this store creates: "hnsw" (float, the default: exact knn
            scores) or "int8_hnsw" (a quarter of the vector memory; candidates still scored exactly here).
        ef_search: the knn's `num_candidates` (None: the layout's HNSW settings, `LayoutOptions.opensearch`,
            which Elasticsearch reads as well: m, ef_construction, ef_search, preset_ef_search).
        kwargs: `ClusterIndex`'s (shards, replicas) and the connection's (`ClusterConnection`: retries, bulk
            sizes, and the arguments of `elasticsearch_connection.connect` with a URL).
    """

    engine = "elasticsearch"
    engine_label = "Elasticsearch"
    _connect = staticmethod(connect)
    _check_connection = staticmethod(check_connection)

    def __init__(
        self,
        client_or_url: Any,
        index: str,
        *,
        index_type: str = "hnsw",
        ef_search: int | None = None,
        **kwargs: Any,
    ):
        if index_type not in bodies.INDEX_TYPES:
            raise ConfigError(f"index_type {index_type!r} is not one of {', '.join(bodies.INDEX_TYPES)}")
        super().__init__(client_or_url, index, **kwargs)
        self.index_type, self.ef_search = index_type, ef_search

    def _create_index(self, layout: IndexLayout) -> None:
        body = bodies.build_index_body(layout, self.shards, self.replicas, self.index_type)
        try:
            self._call(self.client.indices.create, index=self.index, **body)
        except GclSearchError as err:
            # A node without analysis-common (no stemmer filter) gets the documented fallback analyzer.
            if layout.options.analyzer != "english" or "filter type [stemmer]" not in str(err):
                raise
            body = bodies.build_index_body(layout, self.shards, self.replicas, self.index_type, True)
            self._call(self.client.indices.create, index=self.index, **body)

    def _server_version(self) -> str:
        return self._call(server_version, client=self.client)

    def _update_aliases(self, actions: list[dict[str, Any]]) -> None:
        self._call(self.client.indices.update_aliases, actions=actions)

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """refresh_interval -1 during the load; the previous value comes back on exit (also when the block
        raises), followed by a refresh."""
        current = self._call(self.client.indices.get_settings, index=self.index)
        saved = {"refresh_interval": None}
        for settings in current.values():
            saved["refresh_interval"] = settings["settings"]["index"].get("refresh_interval")
        self._call(self.client.indices.put_settings, index=self.index, settings={"refresh_interval": "-1"})
        try:
            yield
        finally:
            self._call(self.client.indices.put_settings, index=self.index, settings=saved)
            self.refresh()

    def _call(self, method: Any, **kwargs: Any) -> Any:
        try:
            response = method(**kwargs)
        except NotFoundError as err:
            raise self._not_found() from err
        except (AuthenticationException, AuthorizationException) as err:
            raise StoreUnavailable(
                f"Elasticsearch at {self.url} refused the credentials (HTTP {err.meta.status})"
            ) from err
        except ApiError as err:
            reason = scrub(reason_text(_root_cause(err.body)), self._secrets)
            if err.meta.status in RETRY_STATUSES:
                raise StoreUnavailable(
                    f"Elasticsearch at {self.url} answered {err.meta.status} ({reason}); retry later"
                ) from err
            raise GclSearchError(
                f"Elasticsearch refused a request on {self.index!r} (HTTP {err.meta.status}: {reason})"
            ) from err
        except ConnectionFailure as err:
            raise StoreUnavailable(
                f"cannot reach Elasticsearch at {self.url} "
                f"({scrub(str(err)[:200], self._secrets)}); check that the cluster is up"
            ) from err
        return getattr(response, "body", response)


def _root_cause(body: object) -> object:
    error = body.get("error", body) if isinstance(body, dict) else body
    return error.get("root_cause", [error])[0] if isinstance(error, dict) else error
