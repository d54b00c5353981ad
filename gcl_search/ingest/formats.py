"""Streaming row sources for catalogue files: JSONL, CSV/TSV, Parquet and the bundled Icecat sample.

Each source yields `RawRow`s (1-based line/row number plus either a dict of column values or the reason the
row could not be parsed), holding at most one batch of rows in memory. `open_rows` also returns the columns a
source is known to have, so a mapping naming a missing column fails before any record is read.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from gcl_search.errors import CatalogueError, GclSearchError

FORMATS = ("jsonl", "csv", "tsv", "parquet", "icecat")
_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# JSONL has no header: a mapped column must appear in one of the first SCHEMA_SAMPLE records (or the whole
# file, if shorter) to count as known. Buffering more would break the bounded-memory promise.
SCHEMA_SAMPLE = 1000
PARQUET_BATCH_ROWS = 1024
ICECAT_NAME = "icecat"


@dataclass(frozen=True)
class RawRow:
    """One source row: `values` when it parsed, else `error` (the reason)."""

    line: int
    values: dict | None = None
    error: str | None = None


def detect_format(path: Path, fmt: str | None) -> str:
    """The format to read `path` with: `fmt` when given, else from the suffix (or an Icecat directory)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise CatalogueError(path, None, f"format {fmt!r} is not known; use one of: {', '.join(FORMATS)}")
        return fmt
    if str(path) == ICECAT_NAME or (path.is_dir() and (path / "1.json.zip").is_file()):
        return "icecat"
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise CatalogueError(
            path,
            None,
            f"cannot tell the format from the suffix {path.suffix!r}; name the "
            "file .jsonl/.csv/.tsv/.parquet or pass the format explicitly",
        )
    return found


def open_rows(path: Path, fmt: str) -> tuple[Sequence[str] | None, Iterator[RawRow]]:
    """Open a source: (columns known before reading, or None when only a sample can tell; row iterator).

    Raises:
        CatalogueError: the file cannot be opened or has no usable header/schema.
    """
    if fmt == "icecat":
        return _icecat_rows(path)
    if not path.is_file():
        raise CatalogueError(path, None, "no such catalogue file; check the path")
    if fmt == "parquet":
        return _parquet_rows(path)
    if fmt in ("csv", "tsv"):
        return _csv_rows(path, "\t" if fmt == "tsv" else ",")
    return None, _jsonl_rows(path)


def count_rows(path: Path, fmt: str) -> int | None:
    """How many items `open_rows` will yield (the progress bar's total), or None when it cannot tell.

    Parquet reads the footer; JSONL counts non-blank lines and CSV/TSV parses rows (both a pass over the file
    at disk speed, far below the cost of encoding it); Icecat parses its zips (docs/ingest.md).
    """
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        if fmt == "icecat":
            from gcl_search.datasets.icecat import DEFAULT_DIR, icecat_dir, iter_products

            directory = icecat_dir(DEFAULT_DIR if str(path) == ICECAT_NAME else path)
            return sum(1 for _ in iter_products(directory))
        if fmt in ("csv", "tsv"):
            return _count_csv(path, "\t" if fmt == "tsv" else ",")
        with open(path, "rb") as handle:
            return sum(1 for raw in handle if raw.strip())
    except (OSError, ValueError, GclSearchError):  # only a progress total; the reader reports the problem
        return None


def _count_csv(path: Path, delimiter: str) -> int:
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader, None)  # the header
        count = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return count
            except csv.Error:
                count += 1  # the reader yields a per-row error for it
                continue
            count += any(cell.strip() for cell in cells)


def sample_columns(rows: Iterator[RawRow]) -> tuple[set[str], list[RawRow]]:
    """Read up to SCHEMA_SAMPLE rows: (union of their keys, the rows, to be yielded again)."""
    head = list(islice(rows, SCHEMA_SAMPLE))
    keys: set[str] = set()
    for row in head:
        if row.values is not None:
            keys.update(row.values)
    return keys, head


def _jsonl_rows(path: Path) -> Iterator[RawRow]:
    # Binary mode so one undecodable line is a per-record error rather than the end of the file.
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            yield _parse_json_line(line_no, raw)


def _parse_json_line(line_no: int, raw: bytes) -> RawRow:
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        return RawRow(
            line_no, error=f"not valid UTF-8 ({err.reason} at byte {err.start}); re-encode the file"
        )
    except json.JSONDecodeError as err:
        return RawRow(
            line_no, error=f"malformed JSON ({err.msg}, column {err.colno}); fix or remove the line"
        )
    if not isinstance(value, dict):
        return RawRow(line_no, error=f"expected a JSON object per line, got {type(value).__name__}")
    return RawRow(line_no, values=value)


def _csv_rows(path: Path, delimiter: str) -> tuple[Sequence[str], Iterator[RawRow]]:
    # surrogateescape keeps undecodable bytes visible per row (lone surrogates) instead of aborting the file.
    handle = open(path, newline="", encoding="utf-8-sig", errors="surrogateescape")
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        handle.close()
        raise CatalogueError(path, 1, "empty file; a CSV catalogue needs a header row") from None
    except csv.Error as err:
        handle.close()
        raise CatalogueError(path, 1, f"unreadable header ({err})") from err
    header = [name.strip() for name in header]
    return header, _csv_body(handle, reader, header)


def _csv_body(handle, reader, header: list[str]) -> Iterator[RawRow]:
    with handle:
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield RawRow(reader.line_num, error=f"malformed CSV row ({err})")
                continue
            if not any(cell.strip() for cell in cells):
                continue
            yield _csv_row(reader.line_num, cells, header)


def _csv_row(line_no: int, cells: list[str], header: list[str]) -> RawRow:
    if len(cells) != len(header):
        return RawRow(
            line_no,
            error=f"malformed CSV row: {len(cells)} fields but the header has "
            f"{len(header)} (check quoting and delimiters)",
        )
    if any(_has_surrogate(cell) for cell in cells):
        return RawRow(line_no, error="not valid UTF-8; re-encode the file")
    return RawRow(line_no, values={name: cell for name, cell in zip(header, cells) if cell != ""})


def _has_surrogate(text: str) -> bool:
    try:
        codecs.encode(text, "utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _parquet_rows(path: Path) -> tuple[Sequence[str], Iterator[RawRow]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # pre_buffer (the default) caches every column chunk it touches: ~the whole file by the end.
        parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    except (OSError, pa.ArrowException) as err:
        raise CatalogueError(path, None, f"not a readable Parquet file ({err})") from err
    return list(parquet.schema_arrow.names), _parquet_body(parquet)


def _parquet_body(parquet) -> Iterator[RawRow]:
    row_no = 0
    # iter_batches streams record batches, so memory is one batch regardless of file or row-group size.
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        for values in batch.to_pylist():
            row_no += 1
            yield RawRow(row_no, values={k: v for k, v in values.items() if v is not None})


def _icecat_rows(path: Path) -> tuple[Sequence[str], Iterator[RawRow]]:
    from gcl_search.datasets.icecat import DEFAULT_DIR, icecat_dir, iter_catalogue

    directory = icecat_dir(DEFAULT_DIR if str(path) == ICECAT_NAME else path)
    columns = ["doc_id", "title", "name", "brand", "description", "price", "ean", "image_url", "colour"]

    def rows() -> Iterator[RawRow]:
        for row_no, record in enumerate(iter_catalogue(directory), start=1):
            yield RawRow(row_no, values={k: v for k, v in record.items() if v not in (None, "", [])})

    return columns, rows()


def display_path(path: Path) -> str:
    """How a source is named in locations: the path, or `icecat` for the bundled sample."""
    return ICECAT_NAME if str(path) == ICECAT_NAME else str(path)
