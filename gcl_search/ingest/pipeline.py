"""The ingest pipeline: records -> encode in batches -> store.upsert, resumable and loss-free.

Three stages run at once so the encoder is never left waiting: a reader thread parses and batches the next
records, the calling thread encodes a batch, and a writer thread upserts the previous batch and commits it
(failures file, then checkpoint; see `gcl_search.ingest.checkpoint`). Every catalogue item ends up exactly
once as indexed, skipped (handled by an earlier, interrupted run) or failed (its reason in the failures file).
"""

from __future__ import annotations

import dataclasses
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from gcl_search.config import Config
from gcl_search.encoders.base import Encoder
from gcl_search.fields import encode_records
from gcl_search.ingest.checkpoint import Checkpoint, FailureLog
from gcl_search.records import CatalogueRecord, Document, FailedDoc, IngestReport
from gcl_search.stores.base import IndexLayout, VectorStore, layout_from_config

DEFAULT_BATCH_SIZE = 512
PREFETCH_BATCHES = 2
# Records handed to `encode_records` are keyed by field name; this id key cannot clash with a field name.
_ID_KEY = "\x00doc_id"

Item = tuple[int, "CatalogueRecord | FailedDoc"]


def ingest(
    records: Iterable[CatalogueRecord | FailedDoc],
    config: Config,
    encoders: Mapping[str, Encoder],
    store: VectorStore,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    failures_file: str | Path | None = None,
    checkpoint: Checkpoint | None = None,
    layout: IndexLayout | None = None,
    progress: bool = True,
    total: int | None = None,
    after_commit: Callable[[int], None] | None = None,
) -> IngestReport:
    """Encode and write a catalogue into a store.

    Args:
        records: `read_catalogue` output: records and per-record errors, in a stable order (resuming skips
            the first `checkpoint.position` items without encoding them).
        config: the config whose document fields are encoded (values keyed by field name).
        encoders: encoder name -> loaded Encoder, for every encoder the fields use.
        store: the target store; created from the config's layout if it does not exist, else its recorded
            layout must match the config (same fields, order, encoders and dimensions).
        batch_size: catalogue items per batch (one encode call per encoder and one `upsert` per batch).
        failures_file: JSONL file receiving every failure (doc_id, location, stage, reason, status, position);
            appended to on resume, rewritten otherwise.
        checkpoint: resume state (see `Checkpoint.open`); None: no resume support.
        layout: the layout for a new store (default: `layout_from_config` with the encoders' dimensions).
        progress: show a tqdm bar on stderr.
        total: number of catalogue items, if known (for the progress bar).
        after_commit: called with the committed position after each batch (tests use it to crash mid-way).

    Returns:
        IngestReport: `indexed` (this run), `skipped` (items an earlier run already handled), `failed` (every
        failure of the catalogue so far, earlier runs included, so the caller can exit non-zero), `seconds`.
        The checkpoint is removed when the whole catalogue was handled.

    Raises:
        ConfigError / DimensionMismatch: the store's layout does not match the config, or the checkpoint
            belongs to another run.
        StoreUnavailable: the store stayed unreachable; everything committed before stays committed.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size = {batch_size} must be >= 1")
    started = time.perf_counter()
    layout = prepare_index(store, config, encoders, layout)
    skip = checkpoint.position if checkpoint is not None else 0
    resuming = checkpoint is not None and checkpoint.resuming
    log = FailureLog(failures_file, keep_before=skip if resuming else None)
    report = IngestReport(skipped=skip, failed=list(log.earlier))
    bar = _progress_bar(progress, total, skip)
    commit = _Committer(store, log, checkpoint, report, bar, after_commit)
    batches = _prefetch(_batches(records, batch_size, skip), PREFETCH_BATCHES)
    try:
        with store.bulk_load(), ThreadPoolExecutor(1, thread_name_prefix="ingest-write") as writer:
            pending: Future[None] | None = None
            for batch in batches:
                encoded = encode_batch(batch, config, encoders, layout.text_fields)
                if pending is not None:
                    pending.result()  # at most one write in flight; its errors surface here
                pending = writer.submit(commit, batch, *encoded)
            if pending is not None:
                pending.result()
    finally:
        batches.close()
        bar.close()
    if checkpoint is not None:
        checkpoint.clear()
    report.seconds = time.perf_counter() - started
    return report


def prepare_index(
    store: VectorStore, config: Config, encoders: Mapping[str, Encoder], layout: IndexLayout | None = None
) -> IndexLayout:
    """Create the store's index from the config, or check an existing one matches it; returns its layout."""
    dims = {name: encoder.dim for name, encoder in encoders.items()}
    if store.exists():
        existing = store.layout()
        wanted = layout or layout_from_config(
            config,
            dims,
            text_fields=existing.text_fields,
            attributes=existing.attributes,
            options=existing.options,
        )
        existing.check_compatible(wanted, where=f"index {store.name}")
        return existing
    wanted = layout or layout_from_config(config, dims)
    store.create(wanted)
    return wanted


def encode_batch(
    batch: Sequence[Item], config: Config, encoders: Mapping[str, Encoder], text_fields: Sequence[str]
) -> tuple[list[Document], list[tuple[int, FailedDoc]]]:
    """Encode the records of one batch: (documents, (position, failure) for read and encode failures)."""
    failures = [(pos, item) for pos, item in batch if isinstance(item, FailedDoc)]
    records = [(pos, item) for pos, item in batch if isinstance(item, CatalogueRecord)]
    if not records:
        return [], failures
    specs = [dataclasses.replace(spec, source=spec.name) for spec in config.fields]
    rows = [{**record.values, _ID_KEY: record.doc_id} for _, record in records]
    encoded = encode_records(rows, specs, encoders, id_key=_ID_KEY, images=config.images)
    by_id = {record.doc_id: (pos, record) for pos, record in records}
    reasons: dict[str, list[str]] = {}
    for error in encoded.errors:
        reasons.setdefault(error.record_id, []).append(str(error))
    for doc_id, messages in reasons.items():
        pos, record = by_id[doc_id]
        failures.append((pos, FailedDoc(doc_id, record.location, "encode", "; ".join(messages))))
    docs = []
    for i, doc_id in enumerate(encoded.ids):
        record = by_id[doc_id][1]
        values = record.values
        # a BM25-only text field ([index] text_fields) is a catalogue column, kept among the attributes
        texts = {name: values.get(name, record.attributes.get(name)) for name in text_fields}
        texts = {name: text for name, text in texts.items() if isinstance(text, str)}
        docs.append(Document(doc_id, encoded.field_vectors(i), texts, dict(record.attributes)))
    return docs, sorted(failures, key=lambda pair: pair[0])


class _Committer:
    """The writer stage: upsert one batch, then record its failures and advance the checkpoint."""

    def __init__(
        self,
        store: VectorStore,
        log: FailureLog,
        checkpoint: Checkpoint | None,
        report: IngestReport,
        bar,
        after_commit: Callable[[int], None] | None,
    ):
        self.store, self.log, self.checkpoint, self.report = store, log, checkpoint, report
        self.bar, self.after_commit = bar, after_commit

    def __call__(
        self, batch: Sequence[Item], docs: list[Document], failures: list[tuple[int, FailedDoc]]
    ) -> None:
        written = self.store.upsert(docs) if docs else IngestReport()
        where = {item.doc_id: (pos, item) for pos, item in batch if isinstance(item, CatalogueRecord)}
        end = batch[-1][0] + 1
        for failed in written.failed:
            pos, record = where.get(failed.doc_id, (end - 1, None))
            location = failed.location or (record.location if record is not None else None)
            failures.append((pos, dataclasses.replace(failed, location=location)))
        self.log.append(failures)
        if self.checkpoint is not None:
            self.checkpoint.commit(end, written.indexed)
        self.report.indexed += written.indexed
        self.report.failed.extend(f for _, f in failures)
        self.bar.update(len(batch))
        if self.after_commit is not None:
            self.after_commit(end)


def _batches(
    records: Iterable[CatalogueRecord | FailedDoc], batch_size: int, skip: int
) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for pos, item in enumerate(records):
        if pos < skip:
            continue
        batch.append((pos, item))
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _prefetch(iterator: Iterator[list[Item]], depth: int) -> Iterator[list[Item]]:
    """Run `iterator` in a background thread, `depth` items ahead; its exceptions re-raise here."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(message: tuple[str, object]) -> None:
        while not stop.is_set():
            try:
                slots.put(message, timeout=0.1)
                return
            except queue.Full:
                continue

    def run() -> None:
        try:
            for item in iterator:
                put(("item", item))
                if stop.is_set():
                    return
            put(("end", None))
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put(("error", err))

    threading.Thread(target=run, name="ingest-read", daemon=True).start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stop.set()


def _progress_bar(enabled: bool, total: int | None, initial: int):
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="doc",
        desc="ingest",
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
    )
