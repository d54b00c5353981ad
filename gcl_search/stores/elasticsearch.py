"""ElasticsearchStore: the VectorStore on an Elasticsearch 8.x index (the `elasticsearch` 8 client).

Same semantics as `OpenSearchStore` (base.py's contract), reached differently (docs/elasticsearch.md):
bodies come from `elasticsearch_bodies`; `candidates` is ONE `_msearch` whose hits bring their stored vectors
from doc values, and the field similarities, the fused score's dot products and the rescoring of the pool
are computed here, exactly, with the functions the local store uses (no painless). Writes go through
`helpers.streaming_bulk` without raising; items that failed with 429 / 5xx / a connection error are re-sent
with tenacity's exponential backoff, reads are retried a bounded number of times. Alias helpers
(`create_versioned_index`, `swap_alias`) are the ones OpenSearch uses (`cluster_index`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from gcl_search.stores import elasticsearch_bodies as bodies
from gcl_search.stores.base import (
    Candidate,
    Filter,
    IndexLayout,
    LexicalQuery,
    dot_fields,
    field_dots,
    field_similarities,
    scored_fields,
)
from gcl_search.stores.cluster_index import create_versioned_index, swap_alias
from gcl_search.stores.cluster_store import ClusterStore
from gcl_search.stores.elasticsearch_index import ElasticsearchIndex
from gcl_search.stores.elasticsearch_pool import best_of_pool
from gcl_search.stores.elasticsearch_writes import BulkWrites

VECTORS_BATCH = 500


class ElasticsearchStore(ElasticsearchIndex, BulkWrites, ClusterStore):
    """One Elasticsearch index (or alias). Implements `gcl_search.stores.base.VectorStore`; the arguments are
    `ElasticsearchIndex`'s (connection, index type, beam, bulk and retry settings). The knn `_score` is exact
    with float `hnsw`, the quantized estimate with `int8_hnsw` (`candidates` recomputes every similarity)."""

    _bodies = bodies

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._read(self.client.search, index=self.index, **body)

    def vectors(self, doc_ids: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
        layout, out = self.layout(), {}
        for lo in range(0, len(doc_ids), VECTORS_BATCH):
            body = bodies.build_vectors_query(layout, doc_ids[lo : lo + VECTORS_BATCH])
            for hit in self._search(body)["hits"]["hits"]:
                out[hit["_id"]] = bodies.hit_vectors(layout, hit)
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
        layout = self.layout()
        searches = self._candidate_searches(
            layout, query_vectors, weights, depth, filters, lexical, attributes, dense_score, pool
        )
        if not searches:
            return [], []
        lines: list[dict[str, Any]] = []
        for body in searches:
            lines += [{}, body]
        responses = self._read(self.client.msearch, index=self.index, searches=lines)["responses"]
        qf, names = scored_fields(query_vectors), dot_fields(layout, weights, dense_score)
        lex = self._candidates_of(layout, responses[-1], qf, names, True) if lexical is not None else []
        lex.sort(key=lambda c: (-(c.bm25 or 0.0), c.doc_id))
        if not any(w > 0 for w in weights.values()):
            return [], lex
        self._raise_for_error(responses[0])
        hits = responses[0]["hits"]["hits"]
        if len(hits) > depth:  # the pool: its best `depth` by the exact dense score
            hits = best_of_pool(layout, hits, query_vectors, weights, dense_score, depth)
        dense = self._candidates_of(layout, {"hits": {"hits": hits}}, qf, names, False)
        bm25 = {c.doc_id: c.bm25 for c in lex}  # a dense candidate the BM25 search found too
        return [replace(c, bm25=bm25.get(c.doc_id)) for c in dense], lex

    def _candidates_of(
        self,
        layout: IndexLayout,
        response: dict[str, Any],
        qf: Mapping[str, np.ndarray],
        names: Sequence[str],
        bm25: bool,
    ) -> list[Candidate]:
        self._raise_for_error(response)
        out = []
        for hit in response["hits"]["hits"]:
            vectors = bodies.hit_vectors(layout, hit)
            out.append(
                Candidate(
                    hit["_id"],
                    field_similarities(vectors, qf),
                    dict((hit.get("_source") or {}).get("attr", {})),
                    float(hit["_score"]) if bm25 else None,
                    field_dots(vectors, names) if names else None,
                )
            )
        return out

    def _mget(self, doc_ids: Sequence[str], includes: list[str]) -> dict[str, dict]:
        if not doc_ids:
            return {}
        response = self._call(self.client.mget, index=self.index, ids=list(doc_ids), source_includes=includes)
        return {d["_id"]: d.get("_source", {}) for d in response["docs"] if d.get("found")}


__all__ = ["ElasticsearchStore", "create_versioned_index", "swap_alias"]
