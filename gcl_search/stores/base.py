"""The store interface both backends implement: `LocalStore` (a directory) and `OpenSearchStore`.

Search code talks only to `VectorStore`. The contract, shared by both stores and held to by parity tests:

- Documents are written with explicit ids; writing the same id again replaces the document (idempotent
  re-runs).
- `knn(query, k)` runs ONE (approximate in OpenSearch, exact in the local store) inner-product search on the
  concatenated vector and returns `(doc_id, raw inner product)`; with `query = layout.query_vector(q, w)` the
  raw inner product is exactly `sum_f w_f q_f . d_f` over the fields the document has.
- `vectors(ids)` returns every field vector a document has (absent fields are left out, never zeros), so the
  search client can re-score candidates exactly and report each field's true similarity.
- Filters (`Term`, `Range`; a sequence means AND) apply INSIDE the vector search (OpenSearch `knn.filter`;
  the local store masks before ranking), so a filtered search still returns k hits when k documents match.
- Rankings are sorted by score descending, ties broken by doc_id ascending.
- `candidates(...)` is what the search client calls: the dense candidates (one approximate search on the
  concatenated vector; a pool of `rescore_depth` when that search does not rank by the requested dense score,
  `IndexLayout.knn_exact`; the local store ranks exactly) and optionally the lexical ones, each with every
  field's exact raw similarity `q_f . d_f`, the pairwise dot products `d_f . d_g` of its weighted fields (for
  the fused score) and its attributes, in ONE backend request on OpenSearch (`_msearch` with a painless
  `script_fields` over the stored vector; see `opensearch_bodies.FIELD_SIMS_SCRIPT`); the local store builds
  the same answer from `knn`, `vectors`, `lexical` and `attributes` (`candidates_from_parts`).

Typical use by the search client::

    dense, lexical = store.candidates({"title": q, "description": q}, {"title": 0.7, "description": 0.3},
                                      depth=30, filters=[Range("price", lte=100)],
                                      lexical=LexicalQuery("usb cable", None, 30))
    # each Candidate: doc_id, field_scores {field: q_f . d_f}, attributes, bm25 (lexical list only)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol, Union, runtime_checkable

import numpy as np

from gcl_search.errors import ConfigError
from gcl_search.records import Document, IngestReport
from gcl_search.stores.derived import knn_exact, knn_plan
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
    "CONCAT", "PRESET", "AttributeField", "DenseField", "IndexLayout", "LayoutOptions",
    "layout_from_config",
    "Term", "Range", "Filter", "VectorStore", "check_filters", "Candidate", "LexicalQuery",
    "candidates_from_parts", "field_similarities", "scored_fields", "field_dots",
]

Scalar = Union[str, int, float, bool]  # noqa: UP007 - a runtime alias, py3.10 safe


@dataclass(frozen=True)
class Term:
    """Attribute equals one of `values` (OpenSearch `terms`): `Term("brand", ("HP", "Dell"))`.

    Args:
        field: a filterable attribute of the layout.
        values: one value or a tuple of accepted values.
    """

    field: str
    values: Scalar | tuple[Scalar, ...]

    @property
    def accepted(self) -> tuple[Scalar, ...]:
        """The accepted values as a tuple."""
        return self.values if isinstance(self.values, tuple) else (self.values,)


@dataclass(frozen=True)
class Range:
    """Numeric attribute within bounds (OpenSearch `range`); None means unbounded. A document without the
    attribute never matches.

    Args:
        field: a filterable float/integer attribute.
        gte, gt, lte, lt: the bounds.
    """

    field: str
    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None

    def __post_init__(self) -> None:
        if self.gte is None and self.gt is None and self.lte is None and self.lt is None:
            raise ConfigError(f"range filter on {self.field!r} has no bound; give gte, gt, lte or lt")


Filter = Union[Term, Range]  # noqa: UP007 - a runtime alias, py3.10 safe


def check_filters(layout: IndexLayout, filters: Sequence[Filter]) -> None:
    """Refuse filters on undeclared attributes, and ranges on non-numeric ones (ConfigError)."""
    for flt in filters:
        attr = layout.attribute(flt.field)
        if isinstance(flt, Range) and attr.type not in ("float", "integer"):
            raise ConfigError(f"range filter on {flt.field!r}, a {attr.type} attribute; use a Term filter or "
                              "declare it float/integer")


@dataclass(frozen=True)
class LexicalQuery:
    """The lexical half of `VectorStore.candidates`: BM25 of `text`, top `k`; `mode` "most_fields" sums the
    boosted per-field scores over `fields` (None: all text fields), "combined" scores the catch-all field plus
    the boosted fields (`gcl_search.stores.bm25`)."""

    text: str
    fields: tuple[str, ...] | None
    k: int
    mode: str = "most_fields"
    boosts: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """A document a search found, with what the client needs to score and show it.

    Attributes:
        doc_id: the document id.
        field_scores: field -> raw similarity `q_f . d_f` (float64) for every field the document has and the
            query has a non-zero vector for (weight-0 fields included); absent fields are left out.
        attributes: stored attributes ({} when not asked for).
        bm25: the BM25 score (lexical candidates only).
        dots: (f, g) -> `d_f . d_g` (f before or equal to g in layout order) over the fields the document has
            among those the request weights > 0; the diagonal tells which of them it has. None when the
            request's dense score does not need them ("sum").
    """

    doc_id: str
    field_scores: dict[str, float]
    attributes: dict[str, object]
    bm25: float | None = None
    dots: dict[tuple[str, str], float] | None = None


def scored_fields(query_vectors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The query vectors that get field scores: non-zero ones, as float64 (an all-zero vector means the
    query had nothing for that field, e.g. no image)."""
    return {name: np.asarray(q, dtype=np.float64) for name, q in query_vectors.items() if np.any(q)}


def field_similarities(doc_vectors: Mapping[str, np.ndarray], query_vectors: Mapping[str, np.ndarray]
                       ) -> dict[str, float]:
    """{field: q_f . d_f} in float64 over the fields both sides have (query vectors from `scored_fields`)."""
    return {name: float(np.dot(query_vectors[name], np.asarray(vec, dtype=np.float64)))
            for name, vec in doc_vectors.items() if name in query_vectors}


def field_dots(doc_vectors: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[tuple[str, str], float]:
    """{(f, g): d_f . d_g} in float64 for f <= g in `names` order over the fields the document has."""
    have = [(n, np.asarray(doc_vectors[n], dtype=np.float64)) for n in names if n in doc_vectors]
    return {(f, g): float(np.dot(a, b)) for i, (f, a) in enumerate(have) for g, b in have[i:]
            if a.shape == b.shape}


def dot_fields(layout: IndexLayout, weights: Mapping[str, float], dense_score: str) -> tuple[str, ...]:
    """The fields whose pairwise dot products a request needs: the weighted ones, for "fused"; none else."""
    if dense_score != "fused":
        return ()
    return tuple(n for n in layout.field_names if weights.get(n, 0.0) > 0)


@runtime_checkable
class VectorStore(Protocol):
    """One index (OpenSearch) or one directory (local). Both raise only `GclSearchError` subclasses.

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
        """A context for large loads: relaxes refresh/replicas (OpenSearch) or defers compaction (local) and
        restores them on exit, also when the block raises; refreshes at the end."""
        ...

    def knn(self, vector: np.ndarray, k: int, filters: Sequence[Filter] = (), target: str = CONCAT
            ) -> list[tuple[str, float]]:
        """Top-k documents by raw inner product with `vector`.

        Args:
            vector: float32 query for `target`: (concat_dim,) for CONCAT (see `IndexLayout.query_vector`),
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

    def candidates(self, query_vectors: Mapping[str, np.ndarray], weights: Mapping[str, float], depth: int,
                   filters: Sequence[Filter] = (), lexical: LexicalQuery | None = None,
                   attributes: bool = True, dense_score: str = "sum", pool: int | None = None
                   ) -> tuple[list[Candidate], list[Candidate]]:
        """The search client's one call: dense and lexical candidates with exact field similarities.

        Args:
            query_vectors: dense field -> UNWEIGHTED query vector `q_f` (dim,).
            weights: dense field -> weight; the dense candidates come from ONE knn (`IndexLayout.knn_plan`).
                No weight > 0: no dense search.
            depth: dense candidates wanted: the top `depth` by `dense_score`; exact in the local store; on
                OpenSearch the knn's top `depth`, or, when the knn score is not `dense_score`
                (`IndexLayout.knn_exact`), the best `depth` of its top `max(depth, pool)` (pool None: the
                layout's `rescore_depth`) by `dense_score`.
            dense_score: "fused" or "sum" (`gcl_search.fields.vectors.multi_field_scores`); "fused" also
                returns each candidate's `dots`.
            pool: rescoring pool override.
            filters: AND of Term/Range, applied inside both searches.
            lexical: also return the BM25 top `lexical.k`.
            attributes: include each candidate's stored attributes.

        Returns:
            (dense candidates best first, lexical candidates best first), each a `Candidate` whose
            field_scores hold the exact `q_f . d_f` for every field it has (`field_similarities`).
        """
        ...

    def lexical(self, text: str, fields: Sequence[str] | None, k: int, filters: Sequence[Filter] = (), *,
                mode: str = "most_fields", boosts: Mapping[str, float] | None = None
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


def candidates_from_parts(store: VectorStore, query_vectors: Mapping[str, np.ndarray],
                          weights: Mapping[str, float], depth: int, filters: Sequence[Filter] = (),
                          lexical: LexicalQuery | None = None, attributes: bool = True,
                          dense_score: str = "sum", pool: int | None = None,
                          dense_ids: Sequence[str] | None = None) -> tuple[list[Candidate], list[Candidate]]:
    """`VectorStore.candidates` from a store's `knn`, `vectors`, `lexical` and `attributes` (the reference the
    OpenSearch one-request version is tested against); `dense_ids` replaces the knn (the local store passes
    its exact ranking)."""
    layout = store.layout()
    if dense_ids is not None:
        dense_ids = list(dense_ids)
    elif any(w > 0 for w in weights.values()):
        target, q = knn_plan(layout, query_vectors, weights, dense_score)
        exact = knn_exact(layout, target, dense_score)
        k = depth if exact else max(depth, pool or layout.options.rescore_depth)
        dense_ids = [doc_id for doc_id, _ in store.knn(q, k, filters, target)]
    else:
        dense_ids = []
    bm25: dict[str, float] = {}
    if lexical is not None:
        fields = None if lexical.fields is None else list(lexical.fields)
        bm25 = dict(store.lexical(lexical.text, fields, lexical.k, filters, mode=lexical.mode,
                                  boosts=lexical.boosts))
    ids = list(dict.fromkeys([*dense_ids, *bm25]))
    vectors = store.vectors(ids)
    attrs = store.attributes(ids) if attributes and ids else {}
    qf = scored_fields(query_vectors)
    names = dot_fields(layout, weights, dense_score)
    found = {doc_id: Candidate(doc_id, field_similarities(vectors[doc_id], qf), attrs.get(doc_id, {}),
                               bm25.get(doc_id), field_dots(vectors[doc_id], names) if names else None)
             for doc_id in ids if doc_id in vectors}
    return [found[d] for d in dense_ids if d in found], [found[d] for d in bm25 if d in found]


def attribute_matches(value: object, flt: Filter) -> bool:
    """Whether one stored attribute value satisfies a filter (the local store's semantics, mirrored from
    OpenSearch: a list value matches if any element does; a missing value never matches)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return any(_one_matches(v, flt) for v in values if v is not None)


def _one_matches(value: object, flt: Filter) -> bool:
    if isinstance(flt, Term):
        return any(value == v and isinstance(value, bool) == isinstance(v, bool) for v in flt.accepted)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return ((flt.gte is None or value >= flt.gte) and (flt.gt is None or value > flt.gt)
            and (flt.lte is None or value <= flt.lte) and (flt.lt is None or value < flt.lt))


def rank(scores: Mapping[str, float], k: int) -> list[tuple[str, float]]:
    """The top k of doc_id -> score: score descending, ties by doc_id ascending (both stores use this)."""
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
