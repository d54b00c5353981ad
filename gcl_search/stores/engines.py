"""Which cluster engine a URL names, and the store for it: OpenSearch, or Elasticsearch 8.x for a URL that
`--elasticsearch-url` / $ELASTICSEARCH_URL gave (tagged by `elasticsearch_connection.tag_url`).

The commands and the ingest job open cluster stores and move aliases only through here, so they need no
engine-specific code.
"""

from __future__ import annotations

from typing import Any

from gcl_search.stores.elasticsearch_connection import is_tagged
from gcl_search.stores.layout import IndexLayout

# OpenSearchStore options that have no Elasticsearch counterpart (dropped for Elasticsearch).
_OPENSEARCH_ONLY = ("drop_replicas_during_load",)


def open_cluster_store(url: str | None, index: str, **kwargs: Any) -> Any:
    """`ElasticsearchStore` for a tagged URL, else `OpenSearchStore`; `kwargs` as OpenSearchStore takes them
    (timeout, max_retries, retry_on_timeout, ca_certs, verify_certs, shards, replicas, ...)."""
    if is_tagged(url):
        from gcl_search.stores.elasticsearch import ElasticsearchStore

        kept = {k: v for k, v in kwargs.items() if k not in _OPENSEARCH_ONLY}
        return ElasticsearchStore(url, index, **kept)
    from gcl_search.stores.opensearch import OpenSearchStore

    return OpenSearchStore(url, index, **kwargs)


def create_versioned_index(base: Any, alias: str, layout: IndexLayout) -> Any:
    """`<alias>-v<n+1>` on `base`'s cluster (see `opensearch_admin.create_versioned_index`)."""
    if getattr(base, "engine", None) == "elasticsearch":
        from gcl_search.stores import elasticsearch

        return elasticsearch.create_versioned_index(base, alias, layout)
    from gcl_search.stores import opensearch_admin

    return opensearch_admin.create_versioned_index(base, alias, layout)


def swap_alias(store: Any, alias: str, new_index: str, delete_old: bool = False) -> list[str]:
    """Point `alias` at `new_index` atomically on `store`'s cluster; returns the indices it left."""
    if getattr(store, "engine", None) == "elasticsearch":
        from gcl_search.stores import elasticsearch

        return elasticsearch.swap_alias(store, alias, new_index, delete_old)
    from gcl_search.stores import opensearch_admin

    return opensearch_admin.swap_alias(store, alias, new_index, delete_old)
