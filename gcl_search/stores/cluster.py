"""What the OpenSearch and Elasticsearch stores share: one index on a cluster, reached with bounded retries.

`ClusterConnection` holds a client, its redacted URL and secrets, one index name and the retry and bulk
settings. Every bulk write goes through `_bulk`: the client library's `helpers.streaming_bulk(
raise_on_error=False, raise_on_exception=False)` turns every item into a count or a FailedDoc, and only the
items that failed with 429 / 5xx / a connection error are re-sent, with tenacity's exponential backoff. Every
search goes through `_read` (retried while the cluster cannot answer it completely). An engine's subclass
names the engine (`engine_label`), its client's `helpers` module, `connect` / `check_connection`, and `_call`
(which turns that client's exceptions into `IndexNotFound` / `StoreUnavailable`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from gcl_search.errors import GclSearchError, IndexNotFound, StoreUnavailable
from gcl_search.records import FailedDoc, IngestReport
from gcl_search.stores.connection import scrub

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class _RetryBatch(Exception):
    def __init__(self, failures: list[tuple[dict, object, str]]):
        super().__init__(f"{len(failures)} documents to retry")
        self.failures = failures


def reason_text(error: object) -> str:
    """`type: reason` of an error the cluster answered (a dict), else the error as text."""
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
    return str(error)


class ClusterConnection:
    """A client, its redacted URL and secrets, one index name, and the retry and bulk settings.

    Args:
        client_or_url: the engine's client, or a URL (None: the engine's environment variable) for `connect`.
        index: the index or alias name.
        max_attempts: bulk attempts per document for retryable failures (429, 5xx, connection errors).
        initial_backoff, max_backoff: seconds, for tenacity's exponential backoff with jitter.
        chunk_size, max_chunk_bytes: bulk request size (docs / bytes).
        connect_kwargs: passed to `connect` when a URL is given (username, password, api_key, ca_certs, ...).
    """

    engine_label: ClassVar[str]  # "OpenSearch" / "Elasticsearch", in messages
    # The client library's `helpers` module, looked up at each bulk (tests patch its `streaming_bulk`).
    bulk_helpers: ClassVar[Any]

    @staticmethod
    def _connect(url: str | None, **kwargs: Any) -> tuple[Any, str, list[str]]:
        raise NotImplementedError

    @staticmethod
    def _check_connection(client: Any, where: str, secrets: list[str]) -> Any:
        raise NotImplementedError

    def __init__(
        self,
        client_or_url: Any,
        index: str,
        *,
        max_attempts: int = 5,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        chunk_size: int = 500,
        max_chunk_bytes: int = 20 * 1024 * 1024,
        **connect_kwargs: Any,
    ):
        if client_or_url is None or isinstance(client_or_url, str):
            self.client, self.url, self._secrets = self._connect(client_or_url, **connect_kwargs)
            self._check_connection(self.client, self.url, self._secrets)
        else:
            self.client, self.url, self._secrets = client_or_url, "the given client", []
        self.index = index
        self.max_attempts, self.initial_backoff, self.max_backoff = max_attempts, initial_backoff, max_backoff
        self.chunk_size, self.max_chunk_bytes = chunk_size, max_chunk_bytes
        self.read_attempts = 3

    def _call(self, method: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    # -- writes ----------------------------------------------------------------------------------------------

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
        for ok, item in self.bulk_helpers.streaming_bulk(
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
            status, reason = info.get("status"), scrub(reason_text(info.get("error")), self._secrets)
            if not isinstance(status, int) or status in RETRY_STATUSES:
                retry.append((by_id[info["_id"]], status, reason))
            else:
                report.failed.append(FailedDoc(info["_id"], None, "write", reason, status))
        return retry

    # -- reads -----------------------------------------------------------------------------------------------

    def _raise_for_error(self, response: dict[str, Any]) -> None:
        """Raise for a search (or `_msearch` item) that answered with an error."""
        if "error" in response:
            error, status = response["error"], response.get("status")
            cause = error.get("root_cause", [error])[0] if isinstance(error, dict) else error
            reason = scrub(reason_text(cause), self._secrets)
            if status == 404:
                raise self._not_found()
            if status in RETRY_STATUSES:
                raise StoreUnavailable(
                    f"{self.engine_label} at {self.url} answered {status} ({reason}); retry later"
                )
            raise GclSearchError(
                f"{self.engine_label} refused the search on {self.index!r} (HTTP {status}: {reason})"
            )

    def _not_found(self) -> IndexNotFound:
        return IndexNotFound(
            f"index {self.index!r} not found at {self.url}; create it with `gcl-search ingest`"
        )

    def _read(self, method: Any, **kwargs: Any) -> Any:
        """A search or _msearch, retried (bounded: `read_attempts`, short backoff) when the cluster cannot
        answer it completely: no node reachable, a 429/5xx item, or failed shards (a node lost mid-request
        answers HTTP 200 with fewer hits; that is retried, never returned as a complete result)."""
        retrying = Retrying(
            stop=stop_after_attempt(self.read_attempts),
            reraise=True,
            wait=wait_exponential_jitter(multiplier=0.2, max=2.0, jitter=0.2),
            retry=retry_if_exception_type(StoreUnavailable),
        )
        for attempt in retrying:
            with attempt:
                response = self._call(method, **kwargs)
                for item in response.get("responses", [response]):
                    if "error" in item and item.get("status") in RETRY_STATUSES:
                        self._raise_for_error(item)  # raises StoreUnavailable, naming the cause
                    if item.get("_shards", {}).get("failed", 0):
                        raise StoreUnavailable(
                            f"{self.engine_label} at {self.url} answered from fewer than all "
                            f"shards of {self.index!r} ({item['_shards']['failed']} "
                            "failed); retry later"
                        )
        return response
