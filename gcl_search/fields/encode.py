"""`encode_records`: a batch of records -> per-field unit vectors.

Three steps: read every field's value out of every record (`values.extract_values`); run each distinct
(encoder, modality) once per batch over the distinct values of all its fields; then drop the failed records
and stack the columns. Weights play no part here: they are applied at search time (and by the layout's
preset vector when the store writes a document).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from gcl_search.config import FieldSpec, ImageSpec
from gcl_search.encoders.base import Encoder
from gcl_search.encoders.images import describe, open_images
from gcl_search.errors import ConfigError, InputFileError
from gcl_search.fields.values import RecordError, extract_values

ON_ERROR = ("skip_record", "skip_field")


@dataclass(frozen=True)
class EncodedRecords:
    """A batch of embedded records, column-wise.

    Attributes:
        ids: ids of the records that were embedded, in input order (failed records are left out).
        field_names: the fields, in spec order (the order of the concatenated layout).
        vectors: field -> float32 (n, dim_f); unit rows, zero rows where the record lacks the field.
        present: field -> bool (n,); which records have the field.
        errors: one entry per failed record or field.
    """

    ids: list[str]
    field_names: tuple[str, ...]
    vectors: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    errors: list[RecordError] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def field_vectors(self, i: int) -> dict[str, np.ndarray]:
        """Record i's present fields -> unit vector (dim_f,)."""
        return {name: self.vectors[name][i] for name in self.field_names if self.present[name][i]}


def encode_records(
    records: Sequence[Mapping[str, object]],
    specs: Sequence[FieldSpec],
    encoders: Mapping[str, Encoder],
    *,
    id_key: str | None = "doc_id",
    images: ImageSpec | None = None,
    on_error: str = "skip_record",
    batch_size: int | None = None,
    progress: bool = False,
) -> EncodedRecords:
    """Embed records field by field.

    Args:
        records: dicts holding each field's `source` column (text, or an image path / PIL image / URL).
        specs: the fields (document fields or query fields) from the config.
        encoders: encoder name -> loaded Encoder (see `encoders.registry.load_encoders`).
        id_key: the record's id column; None numbers records `0..n-1`.
        images: how image fields are read (remote URLs off unless `allow_remote`).
        on_error: `skip_record` drops a record with any bad field; `skip_field` keeps it without that field.
        batch_size: inputs per forward pass (default: each encoder's own).
        progress: show tqdm bars on stderr.

    Returns:
        EncodedRecords; a record with no usable field is an error (one whose present fields all weigh 0 is
        kept: weight 0 keeps a field indexed).

    Raises:
        ConfigError: an unknown `on_error`, or a field whose encoder is not loaded.
    """
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error = {on_error!r}; use one of: {', '.join(ON_ERROR)}")
    ids, values, errors = extract_values(records, specs, id_key)
    columns: dict[str, list[np.ndarray | None]] = {s.name: [None] * len(records) for s in specs}
    for (enc_name, modality), group in _groups(specs).items():
        encoder = _encoder(encoders, enc_name)
        run = _encode_texts if modality == "text" else _encode_images
        run(encoder, group, values, columns, errors, ids, images or ImageSpec(), batch_size, progress)
    return _assemble(specs, ids, columns, errors, on_error, encoders)


def _encoder(encoders: Mapping[str, Encoder], name: str) -> Encoder:
    if name not in encoders:
        raise ConfigError(
            f"encoder {name!r} is not loaded; loaded: {', '.join(sorted(encoders)) or 'none'} "
            "(load them with gcl_search.encoders.registry.load_encoders(config))"
        )
    return encoders[name]


def _groups(specs: Sequence[FieldSpec]) -> dict[tuple[str, str], list[FieldSpec]]:
    groups: dict[tuple[str, str], list[FieldSpec]] = {}
    for spec in specs:
        groups.setdefault((spec.encoder, spec.modality), []).append(spec)
    return groups


def _encode_texts(
    encoder: Encoder,
    group: list[FieldSpec],
    values: dict[str, list[object]],
    columns: dict[str, list[np.ndarray | None]],
    errors: dict[int, list[RecordError]],
    ids: list[str],
    images: ImageSpec,
    batch_size: int | None,
    progress: bool,
) -> None:
    # Distinct values only: brands and repeated titles are embedded once per batch.
    unique = list(dict.fromkeys(v for s in group for v in values[s.name] if isinstance(v, str)))
    if not unique:
        return
    matrix = encoder.encode_texts(unique, batch_size=batch_size, progress=progress)
    row = {text: j for j, text in enumerate(unique)}
    for spec in group:
        for i, value in enumerate(values[spec.name]):
            if isinstance(value, str):
                columns[spec.name][i] = matrix[row[value]]


def _encode_images(
    encoder: Encoder,
    group: list[FieldSpec],
    values: dict[str, list[object]],
    columns: dict[str, list[np.ndarray | None]],
    errors: dict[int, list[RecordError]],
    ids: list[str],
    images: ImageSpec,
    batch_size: int | None,
    progress: bool,
) -> None:
    keyed = {_image_key(v): v for s in group for v in values[s.name] if v is not None}
    keys = list(keyed)
    step = batch_size or getattr(encoder, "batch_size", 64)
    found: dict[object, np.ndarray | InputFileError] = {}
    # Open and encode chunk by chunk, so at most one batch of decoded images is held in memory.
    for start in range(0, len(keys), step):
        chunk = keys[start : start + step]
        opened = open_images(
            [keyed[k] for k in chunk],
            allow_remote=images.allow_remote,
            root=images.root,
            timeout_s=images.timeout_s,
        )
        good = [(k, im) for k, im in zip(chunk, opened) if not isinstance(im, InputFileError)]
        found.update((k, im) for k, im in zip(chunk, opened) if isinstance(im, InputFileError))
        if good:
            matrix = encoder.encode_images([im for _, im in good], batch_size=step, progress=progress)
            found.update((k, matrix[j]) for j, (k, _) in enumerate(good))
    for spec in group:
        for i, value in enumerate(values[spec.name]):
            if value is None:
                continue
            result = found[_image_key(value)]
            if isinstance(result, InputFileError):
                error = RecordError(ids[i], spec.name, result.reason, describe(value))
                errors.setdefault(i, []).append(error)
            else:
                columns[spec.name][i] = result


def _image_key(value: object) -> object:
    return str(value) if isinstance(value, str) or hasattr(value, "__fspath__") else id(value)


def _assemble(
    specs: Sequence[FieldSpec],
    ids: list[str],
    columns: dict[str, list[np.ndarray | None]],
    errors: dict[int, list[RecordError]],
    on_error: str,
    encoders: Mapping[str, Encoder],
) -> EncodedRecords:
    names = tuple(s.name for s in specs)
    failed = [e for i in sorted(errors) for e in errors[i]]
    # A required field's error drops its record even under skip_field: that is what required means.
    required = {s.name for s in specs if s.required}
    keep: list[int] = []
    for i, rid in enumerate(ids):
        if i in errors and (
            on_error == "skip_record" or any(e.field is None or e.field in required for e in errors[i])
        ):
            continue
        present = [k for k in names if columns[k][i] is not None]
        if not present:
            failed.append(
                RecordError(rid, None, f"no field present (all of {', '.join(names)} are missing or empty)")
            )
        else:
            keep.append(i)
    dims = {k: encoders[s.encoder].dim for k, s in zip(names, specs)}
    vectors = {k: _stack([columns[k][i] for i in keep], dims[k]) for k in names}
    present_mask = {k: np.array([columns[k][i] is not None for i in keep], dtype=bool) for k in names}
    return EncodedRecords([ids[i] for i in keep], names, vectors, present_mask, failed)


def _stack(rows: list[np.ndarray | None], dim: int) -> np.ndarray:
    out = np.zeros((len(rows), dim), dtype=np.float32)
    for i, row in enumerate(rows):
        if row is not None:
            out[i] = row
    return out
