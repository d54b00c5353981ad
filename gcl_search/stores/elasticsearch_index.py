"""ElasticsearchIndex: the index side of `ElasticsearchStore` (connection, lifecycle, layout, errors and
retries of reads, catalogue); the store adds the searches and, through `elasticsearch_writes`, the writes.

Index creation falls back to `elasticsearch_bodies.FALLBACK_ENGLISH_ANALYSIS` on a node without the
analysis-common module (docs/elasticsearch.md). Reads are retried a bounded number of times when the cluster
cannot answer them completely (429 / 5xx, also inside an `_msearch`, or failed shards).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from elasticsearch import ApiError, AuthenticationException, AuthorizationException, NotFoundError
from elasticsearch import TransportError as ConnectionFailure

from gcl_search.errors import ConfigError, GclSearchError, StoreUnavailable
from gcl_search.stores import elasticsearch_bodies as bodies
from gcl_search.stores.catalog import IndexSummary
from gcl_search.stores.cluster import RETRY_STATUSES, ClusterConnection, reason_text
from gcl_search.stores.connection import scrub
from gcl_search.stores.elasticsearch_connection import check_connection, connect, server_version
from gcl_search.stores.layout import IndexLayout


class ElasticsearchIndex(ClusterConnection):
    """One Elasticsearch index (or alias): the base of `ElasticsearchStore`.

    Args:
        client_or_url: an `elasticsearch.Elasticsearch` client, or a URL (None: $ELASTICSEARCH_URL).
        index: the index or alias name.
        index_type: vector index of an index this store creates: "hnsw" (float, the default: exact knn
            scores) or "int8_hnsw" (a quarter of the vector memory; candidates still scored exactly here).
        ef_search: the knn's `num_candidates` (None: the layout's HNSW settings, `LayoutOptions.opensearch`,
            which Elasticsearch reads as well: m, ef_construction, ef_search, preset_ef_search).
        shards, replicas: of an index this store creates.
        kwargs: the connection's (`cluster.ClusterConnection`: retries, bulk sizes, and the arguments of
            `elasticsearch_connection.connect` with a URL).
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
        shards: int = 1,
        replicas: int = 0,
        **kwargs: Any,
    ):
        if index_type not in bodies.INDEX_TYPES:
            raise ConfigError(f"index_type {index_type!r} is not one of {', '.join(bodies.INDEX_TYPES)}")
        super().__init__(client_or_url, index, **kwargs)
        self.index_type, self.ef_search = index_type, ef_search
        self.shards, self.replicas = shards, replicas
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
        body = bodies.build_index_body(layout, self.shards, self.replicas, self.index_type)
        try:
            self._call(self.client.indices.create, index=self.index, **body)
        except GclSearchError as err:
            # A node without analysis-common (no stemmer filter) gets the documented fallback analyzer.
            if layout.options.analyzer != "english" or "filter type [stemmer]" not in str(err):
                raise
            body = bodies.build_index_body(layout, self.shards, self.replicas, self.index_type, True)
            self._call(self.client.indices.create, index=self.index, **body)
        self._layout = layout

    def drop(self) -> None:
        self._call(self.client.indices.delete, index=self.index, ignore_unavailable=True)
        self._layout = None

    def layout(self) -> IndexLayout:
        if self._layout is None:
            meta = self.engine_meta()
            if "gcl_search" not in meta:
                raise ConfigError(
                    f"index {self.index!r} has no gcl_search layout in its _meta; it was not "
                    "created by gcl-search (use another index name)"
                )
            self._layout = IndexLayout.from_meta(meta["gcl_search"], where=f"index {self.index!r}")
        return self._layout

    def engine_meta(self) -> dict[str, Any]:
        """The index's `_meta`: the layout (`gcl_search`), this engine's choices (`gcl_search_es`)."""
        mapping = self._call(self.client.indices.get_mapping, index=self.index)
        return dict(next(iter(mapping.values()))["mappings"].get("_meta", {}))

    def refresh(self) -> None:
        self._call(self.client.indices.refresh, index=self.index)

    def count(self) -> int:
        return int(self._call(self.client.count, index=self.index)["count"])

    # -- reads -----------------------------------------------------------------------------------------------

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

    def with_index(self, index: str) -> ElasticsearchIndex:
        """A store for another index on this store's connection and settings."""
        other = copy.copy(self)
        other.index, other._layout = index, None
        return other

    def with_ef_search(self, ef_search: int | None) -> ElasticsearchIndex:
        """This store with another knn beam (None: the layout's); the search client's `ef_search`."""
        other = copy.copy(self)
        other.ef_search = ef_search
        return other

    def summaries(self) -> list[IndexSummary]:
        """The gcl-search indices this store's name matches (an index, an alias or a pattern such as `*`)."""
        metas = self._call(
            self.client.indices.get_mapping, index=self.index, filter_path="*.mappings._meta.gcl_search"
        )
        names = sorted(metas or {})
        if not names:
            return []
        joined = ",".join(names)
        stats = self._call(self.client.indices.stats, index=joined, metric="store")["indices"]
        aliases = self._call(self.client.indices.get_alias, index=joined)
        version = self._call(server_version, client=self.client)
        return [
            IndexSummary(
                name,
                "elasticsearch",
                int(self._call(self.client.count, index=name)["count"]),
                int(stats[name]["total"]["store"]["size_in_bytes"]),
                metas[name]["mappings"]["_meta"]["gcl_search"],
                aliases=sorted(aliases.get(name, {}).get("aliases", {})),
                location=self.url,
                engine_version=version,
            )
            for name in names
        ]

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
