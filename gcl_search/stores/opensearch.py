"""OpenSearchStore: the VectorStore on an OpenSearch k-NN index (opensearch-py).

The index is `opensearch_mapping`, the search bodies `opensearch_bodies` (both pure, tested without a node);
retries and errors are `OpenSearchConnection`'s; `upsert`, `knn`, `lexical`, `attributes` and `texts` are
`cluster_store.ClusterStore`'s (shared with Elasticsearch). `candidates` (what the search client calls) is
ONE `_msearch`: the knn and the BM25 search, each returning its hits' exact field similarities (a painless
`script_fields` over the stored vector) and attributes. The index lifecycle is `opensearch_index`'s
(`OpenSearchIndex`, the base class); re-indexing behind an alias: `opensearch_admin`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from gcl_search.ranking import rank_key
from gcl_search.records import Document
from gcl_search.stores import opensearch_bodies as bodies
from gcl_search.stores import opensearch_mapping as mapping
from gcl_search.stores import opensearch_scripts as scripts
from gcl_search.stores.candidates import Candidate, LexicalQuery
from gcl_search.stores.cluster_store import ClusterStore
from gcl_search.stores.filters import Filter
from gcl_search.stores.layout import IndexLayout
from gcl_search.stores.opensearch_index import OpenSearchIndex

VECTORS_BATCH = 1000


class OpenSearchStore(OpenSearchIndex, ClusterStore):
    """One OpenSearch index (or alias). Implements `gcl_search.stores.base.VectorStore`.

    Args:
        client_or_url: an `opensearchpy.OpenSearch` client, or a URL (None: $OPENSEARCH_URL) for `connect`.
        index: the index or alias name.
        shards, replicas: of an index this store creates (the config's `[index]` table).
        drop_replicas_during_load: `bulk_load` sets 0 replicas until it ends (faster: one HNSW build per
            document instead of 1 + replicas) at the price of a load that stalls while a node is lost.
        ef_search: the HNSW beam of this store's searches (None: the layout's `OpenSearchOptions`).
        kwargs: the connection's (`OpenSearchConnection`: retries, bulk sizes, `connect` arguments).

    The index lifecycle (create, drop, layout, bulk_load, summaries, with_index) is `OpenSearchIndex`'s.
    """

    _bodies = bodies

    def __init__(self, client_or_url: Any, index: str, *, ef_search: int | None = None, **kwargs: Any):
        super().__init__(client_or_url, index, **kwargs)
        self.ef_search = ef_search

    def _bulk_action(self, doc: Document, layout: IndexLayout) -> dict[str, Any]:
        return mapping.to_bulk_action(doc, self.index, layout)

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._read(self.client.search, index=self.index, body=body)

    def vectors(self, doc_ids: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
        layout, out = self.layout(), {}
        for lo in range(0, len(doc_ids), VECTORS_BATCH):
            body = bodies.build_vectors_query(layout, doc_ids[lo : lo + VECTORS_BATCH])
            for hit in self._search(body)["hits"]["hits"]:
                found = hit.get("fields", {}).get(scripts.VECTORS, [{}])[0]
                out[hit["_id"]] = {name: np.asarray(v, dtype=np.float32) for name, v in found.items()}
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
        if len(searches) == 1:
            responses = [self._search(searches[0])]
        else:
            lines: list[dict[str, Any]] = []
            for body in searches:
                lines += [{}, body]
            responses = self._read(self.client.msearch, index=self.index, body=lines)["responses"]
        lex = self._candidates_of(responses[-1], bm25=True) if lexical is not None else []
        # Equal BM25 scores come back in shard order, which changes when a replica is promoted: ties by
        # doc_id, as `lexical` and the local store rank them.
        lex.sort(key=lambda c: rank_key(c.bm25 or 0.0, c.doc_id))
        if not any(w > 0 for w in weights.values()):
            return [], lex
        dense = self._candidates_of(responses[0], False)
        if not lex:
            return dense, lex
        bm25 = {c.doc_id: c.bm25 for c in lex}  # a dense candidate the BM25 search found too
        return [replace(c, bm25=bm25.get(c.doc_id)) for c in dense], lex

    def _candidates_of(self, response: dict[str, Any], bm25: bool) -> list[Candidate]:
        self._raise_for_error(response)
        out = []
        for hit in response["hits"]["hits"]:
            sims, dots = scripts.parse_field_sims(hit)
            out.append(
                Candidate(
                    hit["_id"],
                    sims,
                    dict((hit.get("_source") or {}).get("attr", {})),
                    float(hit["_score"]) if bm25 else None,
                    dots,
                )
            )
        return out

    def _mget(self, doc_ids: Sequence[str], includes: list[str]) -> dict[str, dict]:
        if not doc_ids:
            return {}
        response = self._call(
            self.client.mget, index=self.index, body={"ids": list(doc_ids)}, _source_includes=includes
        )
        return {d["_id"]: d.get("_source", {}) for d in response["docs"] if d.get("found")}
