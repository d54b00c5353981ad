"""The write side of `ElasticsearchStore` (split out to keep modules small).

Bulk writes never raise per item: every item becomes a count or a FailedDoc, and only the items that failed
with 429 / 5xx / a connection error are re-sent (`cluster.ClusterConnection._bulk`, as on OpenSearch).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np
from elasticsearch import helpers

from gcl_search.errors import ConfigError, DimensionMismatch
from gcl_search.records import Document, FailedDoc, IngestReport
from gcl_search.stores.elasticsearch_bodies import VECTORS_FIELD, vectors_blob
from gcl_search.stores.layout import IndexLayout
from gcl_search.stores.opensearch_mapping import to_bulk_action


class BulkWrites:
    """`upsert` for `ElasticsearchStore` (its index, layout and `ClusterConnection._bulk`)."""

    bulk_helpers = helpers  # what `ClusterConnection._send` calls `streaming_bulk` of
    index: str

    def layout(self) -> IndexLayout: ...
    def _bulk(self, actions: list[dict], report: IngestReport) -> None: ...

    # -- writes ----------------------------------------------------------------------------------------------

    def upsert(self, docs: Iterable[Document]) -> IngestReport:
        layout, report, start = self.layout(), IngestReport(), time.perf_counter()
        actions: dict[str, dict] = {}
        for doc in docs:
            try:
                actions.pop(doc.doc_id, None)  # the last version of a repeated id wins, counted once
                action = to_bulk_action(doc, self.index, layout)
                action["_source"] = _plain(action["_source"])
                action["_source"][VECTORS_FIELD] = vectors_blob(layout, doc.vectors)
                actions[doc.doc_id] = action
            except (ConfigError, DimensionMismatch) as err:
                report.failed.append(FailedDoc(doc.doc_id or None, None, "write", str(err)))
        if actions:
            self._bulk(list(actions.values()), report)
        report.seconds = time.perf_counter() - start
        return report


def _plain(value: Any) -> Any:
    """JSON-ready: float32 arrays as lists (their float64 widening, which Elasticsearch parses back to the
    same float32)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
