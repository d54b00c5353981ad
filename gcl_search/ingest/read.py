"""Read a catalogue (JSONL, CSV/TSV, Parquet or the bundled Icecat sample) as a stream of records.

`read_catalogue` maps source columns onto document fields and yields, in file order, one `CatalogueRecord` per
good row and one `FailedDoc` (stage "read" or "validate") per bad row, so one bad line never stops the rest of
the catalogue and nothing is dropped silently. Problems with the mapping itself (a column the file does not
have) raise `CatalogueError` before any record is yielded.

Memory is bounded by one source batch plus the set of ids seen so far (kept to report duplicate ids).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gcl_search.config import Config
from gcl_search.errors import CatalogueError
from gcl_search.ingest.formats import RawRow, detect_format, display_path, open_rows, sample_columns
from gcl_search.records import CatalogueRecord, FailedDoc

_REMOTE = ("http://", "https://")


@dataclass(frozen=True)
class ColumnMap:
    """How source columns become a record.

    Attributes:
        id_column: the column holding the document id.
        columns: field name -> source column.
        image_fields: fields whose values are image paths (resolved against `base_dir`).
        required: fields that must have a non-empty value.
        attributes: columns kept as stored attributes; None keeps every column not mapped to a field or id.
        base_dir: directory relative image paths resolve against.
    """

    id_column: str
    columns: Mapping[str, str]
    image_fields: frozenset[str]
    required: frozenset[str]
    attributes: tuple[str, ...] | None
    base_dir: Path

    def mapped_columns(self) -> list[str]:
        named = [self.id_column, *self.columns.values(), *(self.attributes or ())]
        return list(dict.fromkeys(named))


def read_catalogue(
    path: str | Path,
    id_column: str,
    columns: Mapping[str, str],
    base_dir: str | Path | None = None,
    fmt: str | None = None,
    *,
    image_fields: Collection[str] = (),
    required: Collection[str] = (),
    attributes: Sequence[str] | None = None,
) -> Iterator[CatalogueRecord | FailedDoc]:
    """Stream a catalogue as records, one per source row, in file order.

    Args:
        path: a .jsonl/.ndjson, .csv, .tsv or .parquet file, an Icecat sample directory, or `icecat` for the
            bundled sample.
        id_column: the column holding each record's id (the store `_id`).
        columns: field name -> source column.
        base_dir: directory that relative image paths resolve against (default: the catalogue's directory).
        fmt: `jsonl`, `csv`, `tsv`, `parquet` or `icecat`; default: from the suffix.
        image_fields: fields holding image paths; a local path that does not exist is a per-record error.
        required: fields that must be non-empty in every record.
        attributes: columns kept as attributes (None: every column not mapped to a field or the id).

    Yields:
        `CatalogueRecord(doc_id, values, attributes, location="file:line")` for a good row, or
        `FailedDoc(doc_id, location, stage, reason)`: stage "read" for a line that cannot be parsed
        (malformed JSON/CSV, bad UTF-8), "validate" for a missing id, a duplicate id (the first occurrence
        wins), an empty required field, a record with no field values, a value that is not text, or a missing
        image file.

    Raises:
        CatalogueError: the file cannot be opened, its format is unknown, or a mapped column is not in the
            file (raised before the first record; JSONL files are checked against their first 1000 records).
    """
    path = Path(path)
    kind = detect_format(path, fmt)
    unknown_fields = sorted(set(image_fields) - set(columns)) + sorted(set(required) - set(columns))
    if unknown_fields:
        raise CatalogueError(
            path, None, f"fields {unknown_fields} are not in the column mapping ({', '.join(columns)})"
        )
    default_base = path.parent if kind != "icecat" else Path.cwd()
    mapping = ColumnMap(
        id_column,
        dict(columns),
        frozenset(image_fields),
        frozenset(required),
        None if attributes is None else tuple(attributes),
        Path(base_dir) if base_dir is not None else default_base,
    )
    known, rows = open_rows(path, kind)
    rows = _checked(path, mapping, known, rows)
    return _records(display_path(path), mapping, rows)


def read_for_config(
    path: str | Path,
    config: Config,
    id_column: str = "doc_id",
    base_dir: str | Path | None = None,
    fmt: str | None = None,
    attributes: Sequence[str] | None = None,
) -> Iterator[CatalogueRecord | FailedDoc]:
    """`read_catalogue` with the column mapping taken from a config's document fields.

    `base_dir` defaults to the config's `[images] root`, then the catalogue's directory.
    """
    if base_dir is None and config.images.root is not None:
        base_dir = config.images.root
    return read_catalogue(
        path,
        id_column,
        {spec.name: spec.source for spec in config.fields},
        base_dir,
        fmt,
        image_fields=[s.name for s in config.fields if s.modality == "image"],
        required=[s.name for s in config.fields if s.required],
        attributes=attributes,
    )


def _checked(
    path: Path, mapping: ColumnMap, known: Sequence[str] | None, rows: Iterator[RawRow]
) -> Iterator[RawRow]:
    """Raise for mapped columns the source lacks, before any row is handed on."""
    head: list[RawRow] = []
    if known is None:
        sampled, head = sample_columns(rows)
        known_set, where = sampled, f"the first {len(head)} records"
    else:
        known_set, where = set(known), "the header/schema"
    missing = [c for c in mapping.mapped_columns() if c not in known_set]
    if missing and (known is not None or any(r.values is not None for r in head)):
        shown = ", ".join(sorted(known_set)[:20]) or "none"
        names = ", ".join(map(repr, missing))
        raise CatalogueError(
            path,
            None,
            f"mapped column(s) {names} not found in {where} "
            f"(columns: {shown}); fix the field sources / id column",
        )
    return itertools.chain(head, rows)


def _records(
    source: str, mapping: ColumnMap, rows: Iterator[RawRow]
) -> Iterator[CatalogueRecord | FailedDoc]:
    seen: dict[str, int] = {}
    for row in rows:
        location = f"{source}:{row.line}"
        if row.values is None:
            yield FailedDoc(None, location, "read", row.error or "unreadable row")
            continue
        yield _record(row, location, mapping, seen)


def _record(
    row: RawRow, location: str, mapping: ColumnMap, seen: dict[str, int]
) -> CatalogueRecord | FailedDoc:
    values = row.values or {}
    doc_id = _id_of(values.get(mapping.id_column))
    if doc_id is None:
        return FailedDoc(
            None, location, "validate", f"missing id: column {mapping.id_column!r} is absent or empty"
        )
    if doc_id in seen:
        return FailedDoc(
            doc_id,
            location,
            "validate",
            f"duplicate id {doc_id!r} (first seen at line/row "
            f"{seen[doc_id]}); the first occurrence was kept, make ids unique",
        )
    seen[doc_id] = row.line
    fields: dict[str, object] = {}
    for name, column in mapping.columns.items():
        value, problem = _field_value(name, column, values.get(column), mapping)
        if problem is not None:
            return FailedDoc(doc_id, location, "validate", problem)
        if value is not None:
            fields[name] = value
    problem = _completeness(fields, mapping)
    if problem is not None:
        return FailedDoc(doc_id, location, "validate", problem)
    return CatalogueRecord(doc_id, fields, _attributes(values, mapping), location)


def _id_of(value: object) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _field_value(name: str, column: str, value: object, mapping: ColumnMap) -> tuple[object, str | None]:
    """(the field's value or None when empty, a problem or None)."""
    if isinstance(value, dict):
        return None, f"column {column!r} (field {name!r}) holds an object, not text; map a text column"
    if isinstance(value, (list, tuple)):
        if any(isinstance(v, (dict, list, tuple)) for v in value):
            return None, f"column {column!r} (field {name!r}) holds nested values; map a text column"
        value = " ".join(str(v) for v in value if v is not None)
    text = "" if value is None else str(value).strip()
    if not text:
        return None, None
    if name in mapping.image_fields:
        return _image_path(name, column, text, mapping.base_dir)
    return text, None


def _image_path(name: str, column: str, text: str, base_dir: Path) -> tuple[object, str | None]:
    if text.lower().startswith(_REMOTE):
        return text, None
    resolved = Path(text).expanduser()
    if not resolved.is_absolute():
        resolved = base_dir / resolved
    if not resolved.is_file():
        return None, (
            f"image file not found: {resolved} (column {column!r}, field {name!r}, relative paths "
            f"resolve against {base_dir}); fix the path or set the image base directory"
        )
    return str(resolved), None


def _completeness(fields: Mapping[str, object], mapping: ColumnMap) -> str | None:
    empty_required = [name for name in mapping.columns if name in mapping.required and name not in fields]
    if empty_required:
        return ", ".join(
            f"required field {n!r} (column {mapping.columns[n]!r}) is empty" for n in empty_required
        )
    if not fields:
        return (
            f"empty record: no field has a value (columns {', '.join(mapping.columns.values())} are all "
            "missing or empty); nothing to encode"
        )
    return None


def _attributes(values: Mapping[str, object], mapping: ColumnMap) -> dict[str, object]:
    if mapping.attributes is not None:
        return {c: values[c] for c in mapping.attributes if c in values}
    skip = {mapping.id_column, *mapping.columns.values()}
    return {c: v for c, v in values.items() if c not in skip}
