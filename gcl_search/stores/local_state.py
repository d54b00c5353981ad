"""The local store's in-memory state (and the filter masks and top-k on it) and segment files (see
`gcl_search.stores.local` for the layout)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gcl_search.errors import ConfigError, DimensionMismatch, StoreUnavailable
from gcl_search.fields.vectors import multi_field_scores
from gcl_search.ranking import ranked
from gcl_search.records import Document, FailedDoc
from gcl_search.stores.derived import concat_document, preset_vector
from gcl_search.stores.filters import Filter, attribute_matches
from gcl_search.stores.layout import CONCAT, PRESET, IndexLayout

_TYPE_CHECKS = {
    "keyword": lambda v: isinstance(v, str),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


@dataclass(frozen=True)
class Row:
    """One stored document."""

    doc_id: str
    concat: np.ndarray
    present: tuple[bool, ...]
    texts: Mapping[str, str]
    attrs: Mapping[str, object]


def prepare_rows(layout: IndexLayout, docs: Iterable[Document]) -> tuple[list[Row], list[FailedDoc]]:
    """Validate documents into rows; a bad document becomes a FailedDoc (stage "write") with the reason.

    Within one batch a repeated id keeps its last version, as a second write to OpenSearch would.
    """
    rows: dict[str, Row] = {}
    failed = []
    for doc in docs:
        try:
            rows.pop(doc.doc_id, None)
            rows[doc.doc_id] = _to_row(layout, doc)
        except (ConfigError, DimensionMismatch) as err:
            failed.append(FailedDoc(doc.doc_id or None, None, "write", str(err)))
    return list(rows.values()), failed


def _to_row(layout: IndexLayout, doc: Document) -> Row:
    if not isinstance(doc.doc_id, str) or not doc.doc_id:
        raise ConfigError(f"document id {doc.doc_id!r} must be a non-empty string")
    concat, present = concat_document(layout, doc)
    for attr in layout.attributes:
        value = doc.attributes.get(attr.name)
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(v is not None and not _TYPE_CHECKS[attr.type](v) for v in values):
            raise ConfigError(
                f"document {doc.doc_id!r}: attribute {attr.name!r} = {value!r} is not a "
                f"{attr.type}; fix the catalogue value or the attribute type"
            )
    texts = {name: text for name, text in doc.texts.items() if isinstance(text, str) and text}
    try:
        json.dumps([texts, dict(doc.attributes)])
    except (TypeError, ValueError) as err:
        raise ConfigError(f"document {doc.doc_id!r}: texts/attributes are not JSON values ({err})") from err
    return Row(
        doc.doc_id, concat, tuple(name in present for name in layout.field_names), texts, dict(doc.attributes)
    )


@dataclass
class LocalState:
    """All documents, latest version per id, as arrays for search."""

    ids: list[str]
    concat: np.ndarray  # (n, concat_dim) float32
    present: np.ndarray  # (n, F) bool
    texts: list[dict[str, str]]
    attrs: list[dict[str, object]]
    row_of: dict[str, int] = field(default_factory=dict)
    _matrices: dict[str, np.ndarray] = field(default_factory=dict)
    _gram: np.ndarray | None = None

    @classmethod
    def load(cls, path: Path, segments: list[str], layout: IndexLayout) -> LocalState:
        row_of: dict[str, int] = {}
        parts: list[tuple[np.ndarray, np.ndarray, list[dict]]] = []
        for name in segments:
            parts.append(_read_segment(path, name))
        ids: list[str] = []
        chosen: list[tuple[int, int]] = []
        for p, (seg_ids, _, _, _) in enumerate(parts):
            for r, doc_id in enumerate(seg_ids):
                if doc_id in row_of:
                    chosen[row_of[doc_id]] = (p, r)
                else:
                    row_of[doc_id] = len(ids)
                    ids.append(doc_id)
                    chosen.append((p, r))
        n = len(ids)
        concat = np.zeros((n, layout.concat_dim), dtype=np.float32)
        present = np.zeros((n, len(layout.dense_fields)), dtype=bool)
        texts: list[dict] = [{}] * n
        attrs: list[dict] = [{}] * n
        for i, (p, r) in enumerate(chosen):
            _, seg_concat, seg_present, seg_docs = parts[p]
            concat[i], present[i] = seg_concat[r], seg_present[r]
            texts[i], attrs[i] = seg_docs[r]["texts"], seg_docs[r]["attributes"]
        return cls(ids, concat, present, texts, attrs, row_of)

    @staticmethod
    def write_segment(path: Path, name: str, rows: list[Row], layout: IndexLayout) -> None:
        concat = np.stack([row.concat for row in rows]).astype(np.float32)
        present = np.array([row.present for row in rows], dtype=bool).reshape(len(rows), -1)
        ids = np.array([row.doc_id for row in rows], dtype=str)
        tmp_npz, tmp_jsonl = path / f"tmp-{name}.npz", path / f"tmp-{name}.jsonl"
        np.savez(tmp_npz, ids=ids, concat=concat, present=present)
        with open(tmp_jsonl, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps({"doc_id": row.doc_id, "texts": row.texts, "attributes": row.attrs}))
                handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_npz, path / f"{name}.npz")
        os.replace(tmp_jsonl, path / f"{name}.jsonl")

    def rows(self) -> Iterator[Row]:
        for i, doc_id in enumerate(self.ids):
            yield Row(doc_id, self.concat[i], tuple(self.present[i]), self.texts[i], self.attrs[i])

    def matrix(self, layout: IndexLayout, target: str) -> np.ndarray:
        """The (n, dim) matrix a `knn` on `target` searches."""
        if target == CONCAT:
            return self.concat
        if target not in self._matrices:
            if target == PRESET:
                if layout.options.preset_weights is None:
                    raise ConfigError("this store has no preset vector (layout preset_weights is not set)")
                self._matrices[target] = self._derived(layout, preset_vector, layout.preset_dim)
            elif target in layout.field_names:
                self._matrices[target] = np.ascontiguousarray(self.concat[:, layout.offsets[target]])
            else:
                raise ConfigError(
                    f"unknown knn target {target!r}; use {CONCAT!r}, {PRESET!r} or "
                    f"a dense field ({', '.join(layout.field_names)})"
                )
        return self._matrices[target]

    def gram(self, layout: IndexLayout) -> np.ndarray:
        """(n, F, F) float32 `d_f . d_g` of every document (0 where a field is absent or dims differ)."""
        if self._gram is None:
            fields, offsets = layout.dense_fields, layout.offsets
            out = np.zeros((len(self.ids), len(fields), len(fields)), dtype=np.float32)
            for i, f in enumerate(fields):
                for j in range(i, len(fields)):
                    if fields[j].dim == f.dim:
                        dots = np.einsum(
                            "nd,nd->n",
                            self.concat[:, offsets[f.name]],
                            self.concat[:, offsets[fields[j].name]],
                        )
                        out[:, i, j] = out[:, j, i] = dots * self.present[:, i] * self.present[:, j]
            self._gram = out
        return self._gram

    def dense_scores(
        self,
        layout: IndexLayout,
        query_vectors: Mapping[str, np.ndarray],
        weights: Mapping[str, float],
        method: str,
    ) -> np.ndarray:
        """(n,) exact dense score of every document (`multi_field_scores`; float32 similarities)."""
        sims = np.zeros(self.present.shape, dtype=np.float32)
        w = np.array([float(weights.get(name, 0.0)) for name in layout.field_names])
        for j, name in enumerate(layout.field_names):
            q = query_vectors.get(name)
            if w[j] > 0 and q is not None and np.any(q):
                sims[:, j] = self.concat[:, layout.offsets[name]] @ np.asarray(q, dtype=np.float32)
        dots = self.gram(layout) if method == "fused" else None
        return multi_field_scores(sims, dots, self.present, w, method)

    def has_target(self, layout: IndexLayout, target: str) -> np.ndarray:
        """bool (n,): which rows have a vector for `target` (a field search skips documents without it)."""
        if target in (CONCAT, PRESET):  # like the concatenated vector, every document has a preset vector
            return np.ones(len(self.ids), dtype=bool)
        return self.present[:, layout.field_names.index(target)]

    def filter_mask(self, filters: Sequence[Filter]) -> np.ndarray:
        """bool (n,): which rows match every filter (`attribute_matches`, OpenSearch's semantics)."""
        mask = np.ones(len(self.ids), dtype=bool)
        for flt in filters:
            mask &= np.fromiter(
                (attribute_matches(a.get(flt.field), flt) for a in self.attrs),
                dtype=bool,
                count=len(self.ids),
            )
        return mask

    def _derived(self, layout: IndexLayout, per_document, dim: int) -> np.ndarray:
        """(n, dim) matrix of `per_document(field vectors)` (a zero row where it gives None)."""
        out = np.zeros((len(self.ids), dim), dtype=np.float32)
        for i in range(len(self.ids)):
            vecs = {
                name: self.concat[i, layout.offsets[name]]
                for j, name in enumerate(layout.field_names)
                if self.present[i, j]
            }
            vec = per_document(layout, vecs)
            if vec is not None:
                out[i] = vec
        return out


def top_k(ids: list[str], scores: np.ndarray, mask: np.ndarray, k: int) -> list[tuple[str, float]]:
    """The k best (doc_id, score) of the rows in `mask`, score descending, ties by doc_id."""
    idx = np.flatnonzero(mask)
    if k <= 0 or not len(idx):
        return []
    if len(idx) > k:
        # Keep everything tied with the k-th score so the doc_id tie-break is exact at the boundary.
        kth = np.partition(scores[idx], len(idx) - k)[len(idx) - k]
        idx = idx[scores[idx] >= kth]
    return ranked({ids[i]: float(scores[i]) for i in idx}, k)


def _read_segment(path: Path, name: str) -> tuple[list[str], np.ndarray, np.ndarray, list[dict]]:
    try:
        with np.load(path / f"{name}.npz", allow_pickle=False) as data:
            ids, concat, present = [str(x) for x in data["ids"]], data["concat"], data["present"]
        with open(path / f"{name}.jsonl", encoding="utf-8") as handle:
            docs = [json.loads(line) for line in handle]
    except (OSError, ValueError, KeyError) as err:
        raise StoreUnavailable(
            f"cannot read segment {name} of the local store {path} ({err}); the store is "
            "damaged, re-create it"
        ) from err
    if len(docs) != len(ids):
        raise StoreUnavailable(
            f"segment {name} of {path} is inconsistent ({len(ids)} vectors, {len(docs)} "
            "records); re-create the store"
        )
    return ids, concat, present, docs
