"""The records that flow through the pipeline: catalogue line -> Document -> store -> Hit.

Frozen dataclasses shared by ingest, stores and search. Vectors are float32 and L2-normalised per field
(normalised in `gcl_search.fields`, nowhere else).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class CatalogueRecord:
    """One catalogue row after the column mapping.

    Attributes:
        doc_id: the document id (becomes the store `_id`).
        values: field name -> text, or an image path for image fields; absent fields are left out.
        attributes: stored, filterable values (price, brand, ...), returned with hits.
        location: where the row came from, "file:line", for error messages.
    """

    doc_id: str
    values: Mapping[str, object]
    attributes: Mapping[str, object] = field(default_factory=dict)
    location: str = ""


@dataclass(frozen=True)
class Document:
    """An encoded document, ready for a store.

    Attributes:
        doc_id: the document id.
        vectors: field name -> unit float32 vector (dim,); a field the record lacks is absent.
        texts: text fields kept for BM25 and display.
        attributes: stored, filterable values.
    """

    doc_id: str
    vectors: Mapping[str, np.ndarray]
    texts: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class FailedDoc:
    """A record that could not be ingested, and why.

    Attributes:
        doc_id: the id, when it could be read.
        location: "file:line" of the source row, when known.
        stage: "read", "validate", "encode" or "write".
        reason: what went wrong and what to do.
        status: the HTTP status for a store rejection (e.g. 400, 429), else None.
    """

    doc_id: str | None
    location: str | None
    stage: str
    reason: str
    status: int | None = None


@dataclass
class IngestReport:
    """What an ingest (or one `upsert` call) did. Partial failure is data, not an exception."""

    indexed: int = 0
    skipped: int = 0
    failed: list[FailedDoc] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def docs_per_second(self) -> float:
        return self.indexed / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Hit:
    """One ranked result.

    Attributes:
        doc_id: the document id.
        score: the combined score the ranking is sorted by.
        dense_score: sum_f w_f * (q_f . d_f) over the fields the document has.
        field_scores: field name -> raw similarity q_f . d_f (absent field -> not present in the mapping).
        lexical_score: the raw BM25 score, or None when no lexical component ran or it did not match.
        attributes: the stored attributes of the document.
    """

    doc_id: str
    score: float
    dense_score: float
    field_scores: Mapping[str, float] = field(default_factory=dict)
    lexical_score: float | None = None
    attributes: Mapping[str, object] = field(default_factory=dict)
