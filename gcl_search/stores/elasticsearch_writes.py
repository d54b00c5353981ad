"""The write side of `ElasticsearchStore` and its alias helpers (split out to keep modules small).

Bulk writes never raise per item: every item becomes a count or a FailedDoc, and only the items that failed
with 429 / 5xx / a connection error are re-sent, with tenacity's exponential backoff (as on OpenSearch).
`create_versioned_index` + `swap_alias` give zero-downtime re-indexing: build `<alias>-v<n>`, then move the
alias in one atomic `_aliases` request.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from elasticsearch import helpers
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from gcl_search.errors import ConfigError, DimensionMismatch, IndexNotFound, StoreUnavailable
from gcl_search.records import Document, FailedDoc, IngestReport
from gcl_search.stores.connection import scrub
from gcl_search.stores.elasticsearch_bodies import VECTORS_FIELD, vectors_blob
from gcl_search.stores.layout import IndexLayout
from gcl_search.stores.opensearch_mapping import to_bulk_action

if TYPE_CHECKING:
    from gcl_search.stores.elasticsearch import ElasticsearchStore

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class _RetryBatch(Exception):
    def __init__(self, failures: list[tuple[dict, object, str]]):
        super().__init__(f"{len(failures)} documents to retry")
        self.failures = failures


class BulkWrites:
    """`upsert` for `ElasticsearchStore` (uses its client, index, layout and retry settings)."""

    client: Any
    index: str
    url: str
    _secrets: list[str]
    max_attempts: int
    initial_backoff: float
    max_backoff: float
    chunk_size: int
    max_chunk_bytes: int

    def layout(self) -> IndexLayout: ...
    def _call(self, method: Any, **kwargs: Any) -> Any: ...

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

    def _bulk(self, actions: list[dict], report: IngestReport) -> None:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            reraise=True,
            wait=wait_exponential_jitter(
                multiplier=self.initial_backoff, max=self.max_backoff, jitter=self.initial_backoff
            ),
            retry=retry_if_exception_type(_RetryBatch),
        )
        pending = actions
        try:
            for attempt in retrying:
                with attempt:
                    failures = self._send(pending, report)
                    if failures:
                        pending = [action for action, _, _ in failures]
                        raise _RetryBatch(failures)
        except _RetryBatch as gave_up:
            if all(not isinstance(status, int) for _, status, _ in gave_up.failures) and report.indexed == 0:
                raise StoreUnavailable(
                    f"cannot write to {self.index!r} at {self.url} after "
                    f"{self.max_attempts} attempts ({gave_up.failures[0][2]}); "
                    "check the cluster"
                ) from gave_up
            for action, status, reason in gave_up.failures:
                report.failed.append(
                    FailedDoc(
                        action["_id"],
                        None,
                        "write",
                        f"{reason} (gave up after {self.max_attempts} attempts)",
                        status if isinstance(status, int) else None,
                    )
                )

    def _send(self, actions: list[dict], report: IngestReport) -> list[tuple[dict, object, str]]:
        by_id = {action["_id"]: action for action in actions}
        retry = []
        for ok, item in helpers.streaming_bulk(
            self.client,
            actions,
            chunk_size=self.chunk_size,
            max_chunk_bytes=self.max_chunk_bytes,
            raise_on_error=False,
            raise_on_exception=False,
            max_retries=0,
        ):
            info = next(iter(item.values()))
            if ok:
                report.indexed += 1
                continue
            status, reason = info.get("status"), scrub(_reason(info.get("error")), self._secrets)
            if not isinstance(status, int) or status in RETRY_STATUSES:
                retry.append((by_id[info["_id"]], status, reason))
            else:
                report.failed.append(FailedDoc(info["_id"], None, "write", reason, status))
        return retry


def _reason(error: object) -> str:
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
    return str(error)


def _plain(value: Any) -> Any:
    """JSON-ready: float32 arrays as lists (their float64 widening, which Elasticsearch parses back to the
    same float32)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def create_versioned_index(store: ElasticsearchStore, alias: str, layout: IndexLayout) -> ElasticsearchStore:
    """Create `<alias>-v<n+1>` (n = the highest existing version) for `layout` on `store`'s connection."""
    existing = store._call(
        store.client.indices.get, index=f"{alias}-v*", ignore_unavailable=True, allow_no_indices=True
    )
    versions = [int(name.rsplit("-v", 1)[1]) for name in existing if name.rsplit("-v", 1)[1].isdigit()]
    new = store.with_index(f"{alias}-v{max(versions, default=0) + 1}")
    new.create(layout)
    return new


def swap_alias(store: ElasticsearchStore, alias: str, new_index: str, delete_old: bool = False) -> list[str]:
    """Point `alias` at `new_index` only, in one atomic `_aliases` request; returns the indices it left."""
    try:
        old = list(store._call(store.client.indices.get_alias, name=alias))
    except IndexNotFound:
        old = []
    if alias in old:
        raise ConfigError(f"{alias!r} is a concrete index, not an alias; re-index into a new name first")
    actions = [{"remove": {"index": name, "alias": alias}} for name in old if name != new_index]
    actions.append({"add": {"index": new_index, "alias": alias}})
    store._call(store.client.indices.update_aliases, actions=actions)
    left = [name for name in old if name != new_index]
    if delete_old and left:
        store._call(store.client.indices.delete, index=",".join(left))
    return left
