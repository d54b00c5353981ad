"""Multi-field embedding (design brief sections 2-3).

A record with fields k = 1..K is embedded as

    e = normalize( sum_k a_k * normalize(f_k(x_k)) )

where `f_k` is the encoder for field k's modality and the weights `a_k` are renormalised over the fields the
record has (a missing field gets weight 0). The per-field unit vectors are kept too: the index stores their
concatenation `D = [d_1; ...; d_F]` (absent field = zero block), searched with
`Q = [w_1 q_1; ...; w_F q_F]`, so `Q . D = sum_f w_f q_f . d_f` for any weights chosen at query time.

`encode_records` embeds a batch of records (dicts): each distinct (encoder, modality) runs once per batch over
the distinct values of all its fields, and a bad record (corrupt image, missing required field) becomes a
`RecordError` instead of failing the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from gcl_search.config import FieldSpec, ImageSpec
from gcl_search.encoders.base import Encoder, l2_normalise
from gcl_search.encoders.images import describe, open_images
from gcl_search.errors import ConfigError, InputFileError

ON_ERROR = ("skip_record", "skip_field")


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


@dataclass(frozen=True)
class EncodedRecords:
    """A batch of embedded records, column-wise.

    Attributes:
        ids: ids of the records that were embedded, in input order (failed records are left out).
        field_names: the fields, in spec order (the order of the concatenated layout).
        vectors: field -> float32 (n, dim_f); unit rows, zero rows where the record lacks the field.
        present: field -> bool (n,); which records have the field.
        fused: float32 (n, dim) fused unit vectors, or None when the fields' dimensions differ.
        errors: one entry per failed record or field.
    """

    ids: list[str]
    field_names: tuple[str, ...]
    vectors: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    fused: np.ndarray | None
    errors: list[RecordError] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def field_vectors(self, i: int) -> dict[str, np.ndarray]:
        """Record i's present fields -> unit vector (dim_f,)."""
        return {name: self.vectors[name][i] for name in self.field_names if self.present[name][i]}

    def concatenated(self, weights: Mapping[str, float] | None = None) -> np.ndarray:
        """The concatenated layout (n, sum dim_f); see `concatenate`."""
        return concatenate(self.vectors, self.field_names, weights)


def renormalised_weights(weights: Sequence[float], present: np.ndarray) -> np.ndarray:
    """Weights renormalised over each record's present fields.

    Args:
        weights: one weight per field, (F,).
        present: bool (n, F).

    Returns:
        float (n, F): `a_k * present_k / sum_j a_j * present_j`; all-zero rows where no present field has a
        positive weight (the fused vector is undefined there).
    """
    masked = np.asarray(weights, dtype=np.float64)[None, :] * np.asarray(present, dtype=bool)
    totals = masked.sum(axis=1, keepdims=True)
    return np.divide(masked, totals, out=np.zeros_like(masked), where=totals > 0)


def fuse_fields(vectors: Mapping[str, np.ndarray], weights: Mapping[str, float],
                present: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """`normalize(sum_k a_k normalize(v_k))` row by row, weights renormalised over present fields.

    Args:
        vectors: field -> (n, dim) vectors (all the same dim).
        weights: field -> weight >= 0 (every field in `vectors` needs one).
        present: field -> bool (n,); default: every row present.

    Returns:
        float32 (n, dim) unit rows; a zero row where no present field has a positive weight.
    """
    names = list(vectors)
    if not names:
        raise ValueError("fuse_fields needs at least one field")
    n = len(vectors[names[0]])
    mask = np.stack([np.ones(n, bool) if present is None else present[k] for k in names], axis=1)
    a = renormalised_weights([weights[k] for k in names], mask)
    total = sum(a[:, [j]] * l2_normalise(vectors[k]).astype(np.float64) for j, k in enumerate(names))
    return l2_normalise(total)


def fuse(vectors: Mapping[str, np.ndarray | None], weights: Mapping[str, float]) -> np.ndarray:
    """Fuse one record: field -> unit vector (dim,) or None for an absent field. Returns (dim,) float32.

    Raises:
        ValueError: no present field has a positive weight.
    """
    present = {k: v for k, v in vectors.items() if v is not None}
    if not any(weights[k] > 0 for k in present):
        raise ValueError(f"no present field has a positive weight (present: {', '.join(present) or 'none'})")
    return fuse_fields({k: np.asarray(v)[None, :] for k, v in present.items()}, weights)[0]


def concatenate(vectors: Mapping[str, np.ndarray], names: Sequence[str],
                weights: Mapping[str, float] | None = None) -> np.ndarray:
    """Per-field blocks side by side in `names` order: `[w_1 v_1; ...; w_F v_F]`, float32 (n, sum dim_f).

    Documents use no weights (`D`); a query scales each block by its request weight (`Q`), so that
    `Q . D = sum_f w_f q_f . d_f`.
    """
    blocks = [vectors[k] * (1.0 if weights is None else weights.get(k, 0.0)) for k in names]
    return np.concatenate(blocks, axis=1).astype(np.float32, copy=False)


def query_vectors_for_fields(query: EncodedRecords, query_fields: Sequence[FieldSpec],
                             doc_fields: Sequence[FieldSpec]) -> dict[str, np.ndarray]:
    """For each document field f, the query's vector `q_f` in f's encoder space.

    `q_f` fuses the query fields that use f's encoder (their weights renormalised over present ones), so a
    query is embedded once per encoder and shared by every document field of that encoder.

    Raises:
        ConfigError: a document field's encoder is used by no query field.
    """
    out: dict[str, np.ndarray] = {}
    for doc in doc_fields:
        names = [q.name for q in query_fields if q.encoder == doc.encoder]
        if not names:
            raise ConfigError(f"document field {doc.name!r} uses encoder {doc.encoder!r} but no query field "
                              f"does; add a [[query_fields]] table with encoder = {doc.encoder!r}")
        weights = {q.name: q.weight for q in query_fields}
        out[doc.name] = fuse_fields({k: query.vectors[k] for k in names}, weights,
                                    {k: query.present[k] for k in names})
    return out


def encode_records(records: Sequence[Mapping[str, object]], specs: Sequence[FieldSpec],
                   encoders: Mapping[str, Encoder], *, id_key: str | None = "doc_id",
                   weights: Mapping[str, float] | None = None, images: ImageSpec | None = None,
                   on_error: str = "skip_record", batch_size: int | None = None,
                   progress: bool = False) -> EncodedRecords:
    """Embed records field by field and fuse them (see the module docstring).

    Args:
        records: dicts holding each field's `source` column (text, or an image path / PIL image / URL).
        specs: the fields (document fields or query fields) from the config.
        encoders: encoder name -> loaded Encoder (see `encoders.registry.load_encoders`).
        id_key: the record's id column; None numbers records `0..n-1`.
        weights: field -> weight overriding the specs' default weights (for the fused vector).
        images: how image fields are read (remote URLs off unless `allow_remote`).
        on_error: `skip_record` drops a record with any bad field; `skip_field` keeps it without that field.
        batch_size: inputs per forward pass (default: each encoder's own).
        progress: show tqdm bars on stderr.

    Returns:
        EncodedRecords; a record with no usable field, or whose present fields all weigh 0, is an error.

    Raises:
        ConfigError: an unknown `on_error`, a field whose encoder is not loaded, or a bad `weights` entry.
    """
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error = {on_error!r}; use one of: {', '.join(ON_ERROR)}")
    fused_weights = _weights(specs, weights)
    ids, values, errors = _extract(records, specs, id_key)
    columns: dict[str, list[np.ndarray | None]] = {s.name: [None] * len(records) for s in specs}
    for (enc_name, modality), group in _groups(specs).items():
        encoder = _encoder(encoders, enc_name)
        run = _encode_texts if modality == "text" else _encode_images
        run(encoder, group, values, columns, errors, ids, images or ImageSpec(), batch_size, progress)
    return _assemble(specs, ids, columns, errors, fused_weights, on_error, encoders)


def _weights(specs: Sequence[FieldSpec], override: Mapping[str, float] | None) -> dict[str, float]:
    names = [s.name for s in specs]
    for key, value in (override or {}).items():
        if key not in names:
            raise ConfigError(f"weights: unknown field {key!r}; fields: {', '.join(names)}")
        if not np.isfinite(value) or value < 0:
            raise ConfigError(f"weights: {key} = {value} must be a finite number >= 0")
    return {s.name: float((override or {}).get(s.name, s.weight)) for s in specs}


def _encoder(encoders: Mapping[str, Encoder], name: str) -> Encoder:
    if name not in encoders:
        raise ConfigError(f"encoder {name!r} is not loaded; loaded: {', '.join(sorted(encoders)) or 'none'} "
                          "(load them with gcl_search.encoders.registry.load_encoders(config))")
    return encoders[name]


def _groups(specs: Sequence[FieldSpec]) -> dict[tuple[str, str], list[FieldSpec]]:
    groups: dict[tuple[str, str], list[FieldSpec]] = {}
    for spec in specs:
        groups.setdefault((spec.encoder, spec.modality), []).append(spec)
    return groups


def _extract(records: Sequence[Mapping[str, object]], specs: Sequence[FieldSpec], id_key: str | None
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
        value, problem = None, (f"expected an image path or PIL image in {spec.source!r}, "
                                f"got {type(raw).__name__}")
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


def _encode_texts(encoder: Encoder, group: list[FieldSpec], values: dict[str, list[object]],
                  columns: dict[str, list[np.ndarray | None]], errors: dict[int, list[RecordError]],
                  ids: list[str], images: ImageSpec, batch_size: int | None, progress: bool) -> None:
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


def _encode_images(encoder: Encoder, group: list[FieldSpec], values: dict[str, list[object]],
                   columns: dict[str, list[np.ndarray | None]], errors: dict[int, list[RecordError]],
                   ids: list[str], images: ImageSpec, batch_size: int | None, progress: bool) -> None:
    keyed = {_image_key(v): v for s in group for v in values[s.name] if v is not None}
    keys = list(keyed)
    step = batch_size or getattr(encoder, "batch_size", 64)
    found: dict[object, np.ndarray | InputFileError] = {}
    # Open and encode chunk by chunk, so at most one batch of decoded images is held in memory.
    for start in range(0, len(keys), step):
        chunk = keys[start:start + step]
        opened = open_images([keyed[k] for k in chunk], allow_remote=images.allow_remote, root=images.root,
                             timeout_s=images.timeout_s)
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


def _assemble(specs: Sequence[FieldSpec], ids: list[str], columns: dict[str, list[np.ndarray | None]],
              errors: dict[int, list[RecordError]], weights: dict[str, float], on_error: str,
              encoders: Mapping[str, Encoder]) -> EncodedRecords:
    names = tuple(s.name for s in specs)
    failed = [e for i in sorted(errors) for e in errors[i]]
    # A required field's error drops its record even under skip_field: that is what required means.
    required = {s.name for s in specs if s.required}
    keep: list[int] = []
    for i, rid in enumerate(ids):
        if i in errors and (on_error == "skip_record" or any(e.field is None or e.field in required
                                                             for e in errors[i])):
            continue
        present = [k for k in names if columns[k][i] is not None]
        if not present:
            failed.append(RecordError(rid, None, f"no field present (all of {', '.join(names)} are "
                                                 "missing or empty)"))
        elif not any(weights[k] > 0 for k in present):
            failed.append(RecordError(rid, None, f"only zero-weight fields present ({', '.join(present)}); "
                                                 "give one of them a weight > 0 or make a field required"))
        else:
            keep.append(i)
    dims = {k: encoders[s.encoder].dim for k, s in zip(names, specs)}
    vectors = {k: _stack([columns[k][i] for i in keep], dims[k]) for k in names}
    present_mask = {k: np.array([columns[k][i] is not None for i in keep], dtype=bool) for k in names}
    fused = fuse_fields(vectors, weights, present_mask) if len(set(dims.values())) == 1 else None
    return EncodedRecords([ids[i] for i in keep], names, vectors, present_mask, fused, failed)


def _stack(rows: list[np.ndarray | None], dim: int) -> np.ndarray:
    out = np.zeros((len(rows), dim), dtype=np.float32)
    for i, row in enumerate(rows):
        if row is not None:
            out[i] = row
    return out
