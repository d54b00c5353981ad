"""Reading each field's value out of a record, the per-record step of `encode_records`.

A text field takes a string, a number or a list of them (joined with spaces); an image field takes a path, a
PIL image or a URL. A missing or blank value is absent; a value of the wrong type, or an absent required
field, becomes a `RecordError` for that record instead of failing the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gcl_search.config import FieldSpec


@dataclass(frozen=True)
class RecordError:
    """Why one record (or one of its fields) was not embedded.

    Args:
        record_id: the record's id (`#<index>` when it has none).
        field: the field at fault, or None for the whole record.
        reason: what is wrong and what to do.
        file: the image file or URL involved, if any.
    """

    record_id: str
    field: str | None
    reason: str
    file: str | None = None

    def __str__(self) -> str:
        where = f"record {self.record_id}" + (f", field {self.field}" if self.field else "")
        return f"{where}: " + (f"{self.file}: " if self.file else "") + self.reason


def extract_values(
    records: Sequence[Mapping[str, object]], specs: Sequence[FieldSpec], id_key: str | None
) -> tuple[list[str], dict[str, list[object]], dict[int, list[RecordError]]]:
    """Record ids, each field's usable value (None when absent), and per-record errors so far."""
    ids: list[str] = []
    values: dict[str, list[object]] = {s.name: [] for s in specs}
    errors: dict[int, list[RecordError]] = {}
    for i, record in enumerate(records):
        rid = _record_id(record, i, id_key)
        ids.append(rid)
        if not isinstance(record, Mapping):
            problem = f"not a mapping ({type(record).__name__})"
            errors.setdefault(i, []).append(RecordError(rid, None, problem))
        for spec in specs:
            raw = record.get(spec.source) if isinstance(record, Mapping) else None
            value, problem = _value(raw, spec)
            values[spec.name].append(value)
            if problem:
                errors.setdefault(i, []).append(RecordError(rid, spec.name, problem))
    return ids, values, errors


def _record_id(record: object, i: int, id_key: str | None) -> str:
    if id_key is None:
        return str(i)
    value = record.get(id_key) if isinstance(record, Mapping) else None
    return f"#{i}" if value is None or value == "" else str(value)


def _value(raw: object, spec: FieldSpec) -> tuple[object, str | None]:
    """(usable value or None, problem or None) for one field of one record."""
    if spec.modality == "text":
        value, problem = _as_text(raw)
    elif raw is None or (isinstance(raw, str) and not raw.strip()):
        value, problem = None, None
    elif isinstance(raw, str) or hasattr(raw, "__fspath__") or hasattr(raw, "getpixel"):
        value, problem = (raw.strip() if isinstance(raw, str) else raw), None
    else:
        value, problem = (
            None,
            (f"expected an image path or PIL image in {spec.source!r}, got {type(raw).__name__}"),
        )
    if value is None and problem is None and spec.required:
        problem = f"{spec.source!r} is missing or empty, and the field is required"
    return value, problem


def _as_text(raw: object) -> tuple[str | None, str | None]:
    if raw is None:
        return None, None
    if isinstance(raw, (list, tuple)):
        parts = [_as_text(item) for item in raw]
        bad = next((p for _, p in parts if p), None)
        joined = " ".join(t for t, _ in parts if t)
        return (None, bad) if bad else (joined or None, None)
    if isinstance(raw, (str, int, float)):
        text = str(raw).strip()
        return text or None, None
    return None, f"expected text, got {type(raw).__name__}"
