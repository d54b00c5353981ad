"""The write side of `ElasticsearchStore` (split out to keep modules small).

Bulk writes never raise per item: every item becomes a count or a FailedDoc, and only the items that failed
with 429 / 5xx / a connection error are re-sent (`cluster.ClusterConnection._bulk`, as on OpenSearch).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from elasticsearch import helpers

from gcl_search.records import Document
from gcl_search.stores.elasticsearch_bodies import VECTORS_FIELD, vectors_blob
from gcl_search.stores.layout import IndexLayout
from gcl_search.stores.opensearch_mapping import to_bulk_action


class BulkWrites:
    """The write side of `ElasticsearchStore` (`cluster_store.ClusterStore.upsert` and
    `cluster.ClusterConnection._bulk` do the rest)."""

    bulk_helpers = helpers  # what `ClusterConnection._send` calls `streaming_bulk` of
    index: str

    def _bulk_action(self, doc: Document, layout: IndexLayout) -> dict[str, Any]:
        action = to_bulk_action(doc, self.index, layout)
        action["_source"] = _plain(action["_source"])
        action["_source"][VECTORS_FIELD] = vectors_blob(layout, doc.vectors)
        return action


def _plain(value: Any) -> Any:
    """JSON-ready: float32 arrays as lists (their float64 widening, which Elasticsearch parses back to the
    same float32)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
