"""LocalStore: the embedded store, a directory on disk with the same semantics as OpenSearchStore.

Directory layout::

    <path>/meta.json            {"gcl_search": IndexLayout.to_meta()}
    <path>/manifest.json        {"segments": ["seg-000001", ...]}   (replaced atomically)
    <path>/seg-000001.npz       ids (n,), concat (n, concat_dim) float32, present (n, F) bool
    <path>/seg-000001.jsonl     one {"doc_id", "texts", "attributes"} per row, same order

Each `upsert` call writes one new segment (files first, then the manifest via `os.replace`), so a crash
never leaves a half-written state and everything acknowledged is on disk. A later segment wins for an id,
which makes re-running an ingest idempotent. Segments are merged into one at the end of `bulk_load()` and
when there are more than `MAX_SEGMENTS`. Vector search is exact (numpy brute force: `knn` on the
concatenated vectors, which is what the HNSW search approximates; `candidates` by the dense score itself);
BM25 is `gcl_search.stores.bm25` (Lucene's formula, exactly).
One writer at a time.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from gcl_search.errors import ConfigError, IndexNotFound, StoreUnavailable
from gcl_search.records import Document, IngestReport
from gcl_search.stores.base import (
    CONCAT,
    Candidate,
    Filter,
    IndexLayout,
    LexicalQuery,
    candidates_from_parts,
    check_filters,
)
from gcl_search.stores.bm25 import LexicalIndex, lexical_fields
from gcl_search.stores.local_state import LocalState, prepare_rows, top_k

MAX_SEGMENTS = 32


class LocalStore:
    """The embedded store. Implements `gcl_search.stores.base.VectorStore`.

    Args:
        path: the store directory (created by `create`).
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._layout: IndexLayout | None = None
        self._state: LocalState | None = None
        self._bm25: LexicalIndex | None = None
        self._deferred = False

    @property
    def name(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return (self.path / "meta.json").is_file()

    def create(self, layout: IndexLayout, *, exist_ok: bool = False) -> None:
        if self.exists():
            if not exist_ok:
                raise ConfigError(f"local store {self.path} exists already; pass exist_ok (or drop it first)")
            self.layout().check_compatible(layout, where=f"local store {self.path}")
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            _write_json(self.path / "manifest.json", {"segments": []})
            _write_json(self.path / "meta.json", {"gcl_search": layout.to_meta()})
        except OSError as err:
            raise StoreUnavailable(
                f"cannot create the local store {self.path} ({err.strerror}); check the "
                "path and its permissions"
            ) from err
        self._layout, self._state, self._bm25 = layout, None, None

    def drop(self) -> None:
        if self.path.exists():
            shutil.rmtree(self.path)
        self._layout, self._state, self._bm25 = None, None, None

    def layout(self) -> IndexLayout:
        if self._layout is None:
            meta_path = self.path / "meta.json"
            if not meta_path.is_file():
                raise IndexNotFound(
                    f"no local store at {self.path} (no meta.json); create it with `gcl-search ingest` first"
                )
            meta = _read_json(meta_path)
            self._layout = IndexLayout.from_meta(meta.get("gcl_search", {}), where=str(meta_path))
        return self._layout

    def upsert(self, docs: Iterable[Document]) -> IngestReport:
        layout = self.layout()
        report = IngestReport()
        rows, failed = prepare_rows(layout, docs)
        report.failed.extend(failed)
        if rows:
            self._write_segment(rows)
            report.indexed = len({row.doc_id for row in rows})
        if not self._deferred and len(self._segments()) > MAX_SEGMENTS:
            self.compact()
        return report

    def refresh(self) -> None:
        """Writes are visible at once; nothing to do."""

    def count(self) -> int:
        return len(self._loaded().ids)

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Defer segment merging until the load ends (merged also when the block raises)."""
        self._deferred = True
        try:
            yield
        finally:
            self._deferred = False
            if self.exists() and len(self._segments()) > 1:
                self.compact()

    def compact(self) -> None:
        """Merge all segments into one (the latest version of each document)."""
        state = self._loaded()
        old = self._segments()
        rows = list(state.rows())
        names = [self._write_segment_files(rows)] if rows else []
        _write_json(self.path / "manifest.json", {"segments": names})
        for name in old:
            for suffix in (".npz", ".jsonl"):
                (self.path / f"{name}{suffix}").unlink(missing_ok=True)

    def knn(
        self, vector: np.ndarray, k: int, filters: Sequence[Filter] = (), target: str = CONCAT
    ) -> list[tuple[str, float]]:
        """Exact inner-product top-k."""
        state, layout = self._loaded(), self.layout()
        check_filters(layout, filters)
        matrix = state.matrix(layout, target)
        vector = np.asarray(vector, dtype=np.float32)
        if vector.shape != (matrix.shape[1],):
            raise ConfigError(
                f"query vector for {target!r} has shape {vector.shape}, expected "
                f"({matrix.shape[1]},); build it with derived.query_vector"
            )
        scores = matrix @ vector
        mask = state.filter_mask(filters) & state.has_target(layout, target)
        return top_k(state.ids, scores, mask, k)

    def vectors(self, doc_ids: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
        state, layout = self._loaded(), self.layout()
        offsets = layout.offsets
        out = {}
        for doc_id in doc_ids:
            row = state.row_of.get(doc_id)
            if row is None:
                continue
            out[doc_id] = {
                name: state.concat[row, offsets[name]].copy()
                for j, name in enumerate(layout.field_names)
                if state.present[row, j]
            }
        return out

    def candidates(
        self,
        query_vectors: Mapping[str, np.ndarray],
        weights: Mapping[str, float],
        depth: int,
        filters: Sequence[Filter] = (),
        lexical: LexicalQuery | None = None,
        attributes: bool = True,
        dense_score: str = "sum",
        pool: int | None = None,
    ) -> tuple[list[Candidate], list[Candidate]]:
        """Exact: the dense candidates are the top `depth` by `dense_score` over every document (brute
        force, no pool needed)."""
        dense_ids: list[str] = []
        if any(w > 0 for w in weights.values()):
            state, layout = self._loaded(), self.layout()
            check_filters(layout, filters)
            scores = state.dense_scores(layout, query_vectors, weights, dense_score)
            dense_ids = [d for d, _ in top_k(state.ids, scores, state.filter_mask(filters), depth)]
        return candidates_from_parts(
            self, query_vectors, weights, depth, filters, lexical, attributes, dense_score, pool, dense_ids
        )

    def lexical(
        self,
        text: str,
        fields: Sequence[str] | None,
        k: int,
        filters: Sequence[Filter] = (),
        *,
        mode: str = "most_fields",
        boosts: Mapping[str, float] | None = None,
    ) -> list[tuple[str, float]]:
        state, layout = self._loaded(), self.layout()
        check_filters(layout, filters)
        fields = lexical_fields(
            layout, fields, mode, boosts, str(self.path), "`LocalStore.set_text_analysis`"
        )
        if not layout.text_fields:
            return []
        if self._bm25 is None:
            texts = {name: [t.get(name) for t in state.texts] for name in layout.text_fields}
            self._bm25 = LexicalIndex(texts, layout.options.analyzer, layout.options.catch_all)
        scores, matched = self._bm25.scores(text, mode, fields, boosts or {})
        return top_k(state.ids, scores, matched & state.filter_mask(filters), k)

    def set_text_analysis(self, analyzer: str, catch_all: bool) -> None:
        """Change the analyzer and catch-all field of this store's BM25 side (no re-encoding).

        The local store keeps the raw texts and builds its BM25 indexes in memory at load, so the index-time
        text choices are only the record in meta.json. (An OpenSearch index needs a re-ingest instead.)
        """
        layout = self.layout()
        options = dataclasses.replace(layout.options, analyzer=analyzer, catch_all=catch_all)
        layout = dataclasses.replace(layout, options=options)
        _write_json(self.path / "meta.json", {"gcl_search": layout.to_meta()})
        self._layout, self._bm25 = layout, None

    def attributes(self, doc_ids: Sequence[str]) -> dict[str, dict[str, object]]:
        state = self._loaded()
        return {d: dict(state.attrs[state.row_of[d]]) for d in doc_ids if d in state.row_of}

    def texts(self, doc_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        state = self._loaded()
        return {d: dict(state.texts[state.row_of[d]]) for d in doc_ids if d in state.row_of}

    # -- internals -------------------------------------------------------------------------------------------

    def _segments(self) -> list[str]:
        return list(_read_json(self.path / "manifest.json")["segments"])

    def _loaded(self) -> LocalState:
        if self._state is None:
            layout = self.layout()
            self._state = LocalState.load(self.path, self._segments(), layout)
            self._bm25 = None
        return self._state

    def _write_segment(self, rows: list) -> None:
        name = self._write_segment_files(rows)
        _write_json(self.path / "manifest.json", {"segments": [*self._segments(), name]})
        self._state, self._bm25 = None, None

    def _write_segment_files(self, rows: list) -> str:
        existing = [int(p.stem.split("-")[1]) for p in self.path.glob("seg-*.npz")]
        name = f"seg-{max(existing, default=0) + 1:06d}"
        LocalState.write_segment(self.path, name, rows, self.layout())
        return name


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError as err:
        raise IndexNotFound(
            f"no local store at {path.parent} ({path.name} missing); create it first"
        ) from err
    except (OSError, json.JSONDecodeError) as err:
        raise StoreUnavailable(
            f"cannot read {path} ({err}); the local store is damaged, re-create it"
        ) from err
