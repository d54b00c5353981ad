"""Training data: (query, doc_id, score) triples plus the catalogue they point into.

Readers for JSONL / CSV / Parquet triples and catalogues (through ingest's catalogue reader), the bundled
Icecat sample (score = the three raters' mean rating) and the Marqo-GS-10M layout
(`query_{a}_product_id_{b}.csv`, the GCL paper's dataset), validation that names the file and row of every bad
input, and seeded query-level train/dev splits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gcl_search.errors import ConfigError, InputFileError
from gcl_search.ingest.formats import detect_format, open_rows


@dataclass(frozen=True)
class Triple:
    """One graded pair: scores above the positive threshold are positives, 0 (judged irrelevant) negatives.

    Attributes:
        query: the query text (also its id).
        doc_id: the catalogue document.
        score: relevance (finite, >= 0).
        location: "file:row" for error messages.
    """

    query: str
    doc_id: str
    score: float
    location: str = ""


@dataclass
class TrainingData:
    """Triples and the catalogue rows they reference.

    Attributes:
        triples: the graded pairs.
        catalogue: doc_id -> {field source column: text or image path}; empty values are left out.
        source: a short description of where it came from (for the model card).
        extra: rows always trained on, never split into dev (`[train.data] extra_triples`).
    """

    triples: list[Triple]
    catalogue: dict[str, dict[str, str]]
    source: str = ""
    catalogue_locations: dict[str, str] = field(default_factory=dict)
    extra: list[Triple] = field(default_factory=list)


def table_rows(path: str | Path) -> Iterator[tuple[int, dict[str, object]]]:
    """(line / row number, row dict) of a JSONL, CSV/TSV or Parquet file (or an Icecat directory), read by
    ingest's catalogue reader (`gcl_search.ingest.formats`). Training data must be clean: the first bad row
    is an error, not a skipped record.

    A row holds every column of the file's header (an empty CSV cell is "", a Parquet null None).

    Raises:
        InputFileError: an unknown suffix, a missing or unreadable file, or a malformed row (file and line
            named).
    """
    path = Path(path)
    fmt = detect_format(path, None)
    columns, rows = open_rows(path, fmt)
    empty = "" if fmt in ("csv", "tsv") else None
    try:
        for row in rows:
            if row.values is None:
                raise InputFileError(path, row.line, row.error or "unreadable row")
            yield row.line, {**dict.fromkeys(columns or (), empty), **row.values}
    except OSError as err:
        raise InputFileError(path, None, f"cannot read the file ({err.strerror or err})") from err


def read_triples(
    path: str | Path, query_column: str = "query", doc_id_column: str = "doc_id", score_column: str = "score"
) -> list[Triple]:
    """Read (query, doc_id, score) triples from JSONL, CSV/TSV or Parquet.

    Raises:
        InputFileError: a missing column, an empty query or doc id, or a NaN / negative / non-numeric
            score; the message names the file and row.
    """
    path = Path(path)
    triples = []
    for row_no, row in table_rows(path):
        missing = [c for c in (query_column, doc_id_column, score_column) if c not in row]
        if missing:
            raise InputFileError(
                path,
                row_no,
                f"no column {missing[0]!r} (columns: {', '.join(row)}); pass the column names or rename them",
            )
        triples.append(_triple(path, row_no, row[query_column], row[doc_id_column], row[score_column]))
    if not triples:
        raise InputFileError(path, None, "no triples in the file")
    return triples


def _triple(path: Path, row_no: int, query: object, doc_id: object, score: object) -> Triple:
    query_text, doc = str(query or "").strip(), str(doc_id if doc_id is not None else "").strip()
    if not query_text or not doc:
        raise InputFileError(path, row_no, "empty query or doc id; every row needs both")
    try:
        value = float(score)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise InputFileError(path, row_no, f"score {score!r} is not a number") from err
    if not math.isfinite(value) or value < 0:
        raise InputFileError(
            path,
            row_no,
            f"score {score!r} must be a finite number >= 0 (0 = judged irrelevant); fix or drop the row",
        )
    return Triple(query_text, doc, value, f"{path}:{row_no}")


def read_catalogue_columns(
    path: str | Path, columns: Sequence[str], id_column: str = "doc_id"
) -> TrainingData:
    """Read the catalogue columns the training fields use (JSONL / CSV / Parquet), keyed by doc id.

    Raises:
        InputFileError: a row without a doc id, or a duplicate doc id (file and row named).
        ConfigError: a configured column appears in no row (a catalogue / config mismatch).
    """
    path = Path(path)
    catalogue: dict[str, dict[str, str]] = {}
    locations: dict[str, str] = {}
    seen_columns: set[str] = set()
    for row_no, row in table_rows(path):
        doc_id = str(row.get(id_column) or "").strip()
        if not doc_id:
            raise InputFileError(path, row_no, f"no {id_column!r}; every catalogue row needs a document id")
        if doc_id in catalogue:
            raise InputFileError(path, row_no, f"duplicate doc id {doc_id!r} (first at {locations[doc_id]})")
        seen_columns.update(row)
        catalogue[doc_id] = {c: str(row[c]).strip() for c in columns if _non_empty(row.get(c))}
        locations[doc_id] = f"{path}:{row_no}"
    _check_columns(path, columns, seen_columns)
    return TrainingData([], catalogue, source=str(path), catalogue_locations=locations)


def _non_empty(value: object) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return str(value).strip() != ""


def _check_columns(path: object, columns: Sequence[str], seen: set[str]) -> None:
    absent = [c for c in columns if c not in seen]
    if absent:
        raise ConfigError(
            f"{path}: the config's field source column {absent[0]!r} is in no catalogue row "
            f"(columns: {', '.join(sorted(seen)[:20])}); fix the field's source in the config"
        )


def load_pairs(
    triples_path: str | Path, catalogue_path: str | Path, columns: Sequence[str], **column_names: str
) -> TrainingData:
    """Triples file + catalogue file -> validated TrainingData (see `validate`)."""
    data = read_catalogue_columns(catalogue_path, columns)
    data.triples = read_triples(triples_path, **column_names)
    data.source = f"{triples_path} + {catalogue_path}"
    validate(data, columns)
    return data


def validate(data: TrainingData, columns: Sequence[str]) -> None:
    """Check every triple's document exists and every positive document has at least one field value.

    Raises:
        InputFileError: an unknown doc id, or a positive document whose fields are all empty; the message
            names the triple's file and row (and the catalogue row).
    """
    for triple in data.triples:
        path, _, row = triple.location.rpartition(":")
        row_no = int(row) if row.isdigit() else None
        record = data.catalogue.get(triple.doc_id)
        if record is None:
            raise InputFileError(
                path or "triples",
                row_no,
                f"doc id {triple.doc_id!r} is not in the "
                f"catalogue ({data.source}); drop the row or add the document",
            )
        if triple.score > 0 and not any(record.get(c) for c in columns):
            where = data.catalogue_locations.get(triple.doc_id, triple.doc_id)
            raise InputFileError(
                path or "triples",
                row_no,
                f"doc {triple.doc_id!r} ({where}) has no value "
                f"in any training field ({', '.join(columns)}); fill one or drop the pair",
            )


def split_by_query(
    triples: Sequence[Triple], dev_fraction: float, seed: int
) -> tuple[list[Triple], list[Triple]]:
    """Split triples into train and dev by query (no query in both), seeded and independent of input order.

    Args:
        triples: all triples.
        dev_fraction: share of queries held out, in [0, 1).
        seed: the split's seed.

    Returns:
        (train triples, dev triples).
    """
    if not 0.0 <= dev_fraction < 1.0:
        raise ConfigError(f"dev_fraction = {dev_fraction} must be in [0, 1)")
    queries = sorted({t.query for t in triples})
    order = np.random.default_rng(seed).permutation(len(queries))
    n_dev = int(round(dev_fraction * len(queries)))
    dev_queries = {queries[i] for i in order[:n_dev]}
    train = [t for t in triples if t.query not in dev_queries]
    dev = [t for t in triples if t.query in dev_queries]
    return train, dev


def query_folds(
    triples: Sequence[Triple], folds: int, seed: int, positive_threshold: float = 0.0
) -> list[set[str]]:
    """Partition the queries into `folds` seeded folds (K-fold cross-validation by query).

    Queries with a positive pair are dealt round-robin first, then the rest, so every fold holds about the
    same number of scorable queries; each query is in exactly one fold.
    """
    if folds < 2:
        raise ConfigError(f"folds = {folds} must be >= 2 (0 = one dev_fraction split)")
    queries = sorted({t.query for t in triples})
    if folds > len(queries):
        raise ConfigError(f"folds = {folds} but the triples hold only {len(queries)} queries")
    positive = {t.query for t in triples if t.score > positive_threshold}
    order = [queries[i] for i in np.random.default_rng(seed).permutation(len(queries))]
    dealt = [q for q in order if q in positive] + [q for q in order if q not in positive]
    return [set(dealt[i::folds]) for i in range(folds)]


def split_by_fold(
    triples: Sequence[Triple], folds: int, fold: int, seed: int, positive_threshold: float = 0.0
) -> tuple[list[Triple], list[Triple]]:
    """(train, dev) triples where dev is fold `fold` of `query_folds` (0-based) and train the other folds."""
    if not 0 <= fold < folds:
        raise ConfigError(f"fold = {fold} must be in [0, folds = {folds})")
    dev_queries = query_folds(triples, folds, seed, positive_threshold)[fold]
    train = [t for t in triples if t.query not in dev_queries]
    return train, [t for t in triples if t.query in dev_queries]


def judgments_from(triples: Iterable[Triple]) -> dict[str, dict[str, int]]:
    """Integer-graded judgments for the evaluation module (score rounded to the nearest integer grade)."""
    judgments: dict[str, dict[str, int]] = {}
    for t in triples:
        judgments.setdefault(t.query, {})[t.doc_id] = int(round(t.score))
    return judgments
