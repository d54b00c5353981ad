"""`VectorStore`: what a store implements, so the search client, ingest and evaluation work on it unchanged.

A store is one index (OpenSearch) or one directory (local). What every store must hold to (parity tests run
the same checks on each; a new store should pass them):

- Layout: `create(layout)` records `IndexLayout.to_meta()` in the index and `layout()` reads it back; the
  vectors it stores are those of `gcl_search.stores.derived` (the concatenated vector, and the preset vector
  when `preset_weights` is set).
- Writes: explicit ids; writing an id again replaces the document (re-runs are idempotent); a bad document
  is a `FailedDoc`, never an exception; nothing acknowledged is lost.
- `knn` returns the RAW inner product with the target vector (not a backend's transformed `_score`), so that
  `derived.query_vector` gives `sum_f w_f q_f . d_f` exactly.
- `vectors(ids)` returns every field vector a document has, absent fields left out (never zeros): the
  search client rescores and reports each field's similarity from them.
- Filters (`gcl_search.stores.filters`) apply INSIDE the search: a filtered search still returns k hits when
  k documents match.
- Rankings: score descending, ties by doc_id ascending (`gcl_search.ranking`), so stores agree exactly.
- `candidates` is the search client's one call per request; `candidates.candidates_from_parts` implements it
  from the other methods (a store may answer it in fewer backend requests, as OpenSearch does).
- Errors: only `GclSearchError` subclasses; `IndexNotFound` for a missing index, `StoreUnavailable` (URL
  redacted of credentials) when the backend cannot be reached.

Backend-specific search settings (OpenSearch's HNSW beam `ef_search`) belong to the store object, not to these
methods: the search client passes the same arguments to every store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

import numpy as np

from gcl_search.records import Document, IngestReport
from gcl_search.stores.candidates import (
    Candidate,
    LexicalQuery,
    candidates_from_parts,
    dot_fields,
    field_dots,
    field_similarities,
    scored_fields,
)
from gcl_search.stores.filters import Filter, Range, Term, attribute_matches, check_filters
from gcl_search.stores.layout import (
    CONCAT,
    PRESET,
    AttributeField,
    DenseField,
    IndexLayout,
    LayoutOptions,
    layout_from_config,
)

__all__ = [
    "CONCAT",
    "PRESET",
    "AttributeField",
    "DenseField",
    "IndexLayout",
    "LayoutOptions",
    "layout_from_config",
    "Term",
    "Range",
    "Filter",
    "VectorStore",
    "check_filters",
    "attribute_matches",
    "Candidate",
    "LexicalQuery",
    "candidates_from_parts",
    "field_similarities",
    "scored_fields",
    "field_dots",
    "dot_fields",
]


@runtime_checkable
class VectorStore(Protocol):
    """The methods a store implements (the module docstring has the rules they share).

    Errors common to all methods: `IndexNotFound` when the index does not exist (except `create`/`exists`/
    `drop`), `StoreUnavailable` when the backend cannot be reached (the URL redacted of credentials).
    """

    @property
    def name(self) -> str:
        """The index name or directory path (credentials never included)."""
        ...

    def exists(self) -> bool:
        """Whether the index/directory exists."""
        ...

    def create(self, layout: IndexLayout, *, exist_ok: bool = False) -> None:
        """Create the index for `layout`.

        Args:
            layout: the layout to record in the index.
            exist_ok: if it exists already, check the layout is compatible (`IndexLayout.check_compatible`)
                and keep it; otherwise an existing index is an error.

        Raises:
            ConfigError / DimensionMismatch: it exists with an incompatible layout (or exist_ok is False).
        """
        ...

    def drop(self) -> None:
        """Delete the index and everything in it; a missing index is not an error."""
        ...

    def layout(self) -> IndexLayout:
        """The layout recorded in the index."""
        ...

    def upsert(self, docs: Iterable[Document]) -> IngestReport:
        """Write documents by id (replacing any with that id); a bad document is a FailedDoc, not an error.

        Returns:
            IngestReport with `indexed` and `failed` (stage "write", the HTTP status when there is one).

        Raises:
            StoreUnavailable: the backend stayed unreachable after retries (nothing is silently dropped).
        """
        ...

    def refresh(self) -> None:
        """Make everything written so far visible to search."""
        ...

    def count(self) -> int:
        """Number of documents (after a refresh)."""
        ...

    def bulk_load(self) -> AbstractContextManager[None]:
        """A context for large loads: the store may relax what makes writes slow (OpenSearch: refresh;
        local: compaction) and must restore it on exit, also when the block raises; refreshes at the end.
        A store with nothing to relax returns a context that only refreshes."""
        ...

    def knn(
        self, vector: np.ndarray, k: int, filters: Sequence[Filter] = (), target: str = CONCAT
    ) -> list[tuple[str, float]]:
        """Top-k documents by raw inner product with `vector`.

        Args:
            vector: float32 query for `target`: (concat_dim,) for CONCAT (see `derived.query_vector`),
                (dim,) for a dense field name (needs `per_field_vectors`) or PRESET (needs `preset_weights`;
                see `derived.knn_plan`).
            k: number of hits (exact or approximate: the store's own search settings decide).
            filters: AND of Term/Range on declared attributes, applied inside the search.
            target: CONCAT, PRESET or a dense field name.

        Returns:
            [(doc_id, raw inner product)], best first, ties by doc_id.
        """
        ...

    def vectors(self, doc_ids: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
        """doc_id -> {field: unit float32 vector} for the fields each document has; unknown ids left out."""
        ...

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
        """The search client's one call: dense and lexical candidates with exact field similarities.

        Args:
            query_vectors: dense field -> UNWEIGHTED query vector `q_f` (dim,).
            weights: dense field -> weight; the dense candidates come from ONE knn (`derived.knn_plan`).
                No weight > 0: no dense search.
            depth: dense candidates wanted: the top `depth` by `dense_score`; exact in the local store; in
                an approximate store the knn's top `depth`, or, when the knn score is not `dense_score`
                (`derived.knn_exact`), the best `depth` of its top `max(depth, pool)` (pool None: the
                layout's `rescore_depth`) by `dense_score`.
            dense_score: "fused" or "sum" (`gcl_search.fields.vectors.multi_field_scores`); "fused" also
                returns each candidate's `dots`.
            pool: rescoring pool override.
            filters: AND of Term/Range, applied inside both searches.
            lexical: also return the BM25 top `lexical.k`.
            attributes: include each candidate's stored attributes.

        Returns:
            (dense candidates best first, lexical candidates best first, ties by doc_id), each a `Candidate`
            whose field_scores hold the exact `q_f . d_f` for every field it has (`field_similarities`); a
            dense candidate the lexical search found too carries its `bm25`.
        """
        ...

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
        """BM25 (Lucene variant, k1=1.2, b=0.75, the index's analyzer; `gcl_search.stores.bm25`).

        Args:
            text: the query text (analysed with the index's analyzer).
            fields: text fields of a most_fields search (None: all of the layout's text fields).
            mode: "most_fields" (`sum_f b_f BM25_f`) or "combined" (the catch-all field, plus the boosted
                fields; needs an index laid out with `catch_all`).
            boosts: field -> b_f > 0 (most_fields: 1 for a field left out; combined: only the fields named).
            k: number of hits; only documents that match at least one term are returned.
            filters: as for `knn`.

        Returns:
            [(doc_id, bm25 score)], best first, ties by doc_id.
        """
        ...

    def attributes(self, doc_ids: Sequence[str]) -> dict[str, dict[str, object]]:
        """doc_id -> stored attributes (all of them, declared or not); unknown ids are left out."""
        ...

    def texts(self, doc_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """doc_id -> stored text fields; unknown ids are left out."""
        ...
