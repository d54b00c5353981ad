"""What the OpenSearch and Elasticsearch stores share above the index: `upsert`, `knn`, `lexical`,
`attributes` and `texts` (the `VectorStore` calls whose logic is the same on both engines).

An engine's store adds how one document becomes a bulk action (`_bulk_action`), how a `_search` body is
sent (`_search`: opensearch-py takes `body=`, the Elasticsearch client the body's keys), how documents are
fetched (`_mget`), and its bodies module (`_bodies`); `candidates` and `vectors` stay its own (the
engines return field similarities differently: painless script fields vs stored doc values).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from gcl_search.errors import ConfigError, DimensionMismatch
from gcl_search.ranking import ranked
from gcl_search.records import Document, FailedDoc, IngestReport
from gcl_search.stores.bm25 import lexical_fields
from gcl_search.stores.candidates import LexicalQuery
from gcl_search.stores.cluster_index import ClusterIndex
from gcl_search.stores.filters import Filter, check_filters
from gcl_search.stores.knn import similarity_from_score
from gcl_search.stores.layout import CONCAT, IndexLayout
from gcl_search.stores.opensearch_bodies import build_lexical_query


class ClusterStore(ClusterIndex):
    """The engine-neutral `VectorStore` calls of a cluster store (see the module docstring)."""

    def _bulk_action(self, doc: Document, layout: IndexLayout) -> dict[str, Any]:
        raise NotImplementedError

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _mget(self, doc_ids: Sequence[str], includes: list[str]) -> dict[str, dict]:
        raise NotImplementedError

    # The engine's bodies module: build_knn_query and build_candidate_searches, with the same arguments.
    _bodies: ClassVar[Any]
    ef_search: int | None

    # -- writes ----------------------------------------------------------------------------------------------

    def upsert(self, docs: Iterable[Document]) -> IngestReport:
        layout, report, start = self.layout(), IngestReport(), time.perf_counter()
        actions: dict[str, dict] = {}
        for doc in docs:
            try:
                actions.pop(doc.doc_id, None)  # the last version of a repeated id wins, counted once
                actions[doc.doc_id] = self._bulk_action(doc, layout)
            except (ConfigError, DimensionMismatch) as err:
                report.failed.append(FailedDoc(doc.doc_id or None, None, "write", str(err)))
        if actions:
            self._bulk(list(actions.values()), report)
        report.seconds = time.perf_counter() - start
        return report

    # -- reads -----------------------------------------------------------------------------------------------

    def knn(
        self, vector: np.ndarray, k: int, filters: Sequence[Filter] = (), target: str = CONCAT
    ) -> list[tuple[str, float]]:
        """Raw inner products from the knn `_score` (`knn.similarity_from_score`)."""
        layout = self.layout()
        check_filters(layout, filters)
        body = self._bodies.build_knn_query(layout, vector, k, filters, target, self.ef_search)
        hits = self._search(body)["hits"]["hits"]
        raw = np.array([h["_score"] for h in hits], dtype=np.float64)
        scores = similarity_from_score(raw, "innerproduct") if len(raw) else raw
        return ranked({h["_id"]: float(s) for h, s in zip(hits, np.atleast_1d(scores))}, k)

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
        layout = self.layout()
        check_filters(layout, filters)
        checked = self._check_lexical(layout, fields, mode, boosts)
        body = build_lexical_query(
            text, checked, k, filters, mode, boosts, id_tiebreak=layout.options.id_tiebreak
        )
        hits = self._search(body)["hits"]["hits"]
        return ranked({h["_id"]: float(h["_score"]) for h in hits}, k)

    def _candidate_searches(
        self,
        layout: IndexLayout,
        query_vectors: Mapping[str, np.ndarray],
        weights: Mapping[str, float],
        depth: int,
        filters: Sequence[Filter],
        lexical: LexicalQuery | None,
        attributes: bool,
        dense_score: str,
        pool: int | None,
    ) -> list[dict[str, Any]]:
        """The checked `_search` bodies of one `candidates` call (the engine's `build_candidate_searches`)."""
        check_filters(layout, filters)
        if lexical is not None:
            self._check_lexical(layout, lexical.fields, lexical.mode, lexical.boosts)
        return self._bodies.build_candidate_searches(
            layout,
            query_vectors,
            weights,
            depth,
            filters,
            self.ef_search,
            lexical,
            attributes,
            dense_score,
            pool,
        )

    def _check_lexical(
        self, layout: IndexLayout, fields: Sequence[str] | None, mode: str, boosts: Mapping[str, float] | None
    ) -> list[str]:
        """The text fields a lexical request searches (`bm25.lexical_fields`, the check every store makes)."""
        return lexical_fields(
            layout, fields, mode, boosts, f"index {self.index!r}", "re-ingest into a new index"
        )

    def attributes(self, doc_ids: Sequence[str]) -> dict[str, dict[str, object]]:
        return {d: dict(s.get("attr", {})) for d, s in self._mget(doc_ids, ["attr"]).items()}

    def texts(self, doc_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        return {d: dict(s.get("text", {})) for d, s in self._mget(doc_ids, ["text"]).items()}
