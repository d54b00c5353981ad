"""ElasticsearchStore: the VectorStore on an Elasticsearch 8.x index (the `elasticsearch` 8 client).

Same semantics as `OpenSearchStore` (base.py's contract), reached differently (docs/elasticsearch.md):
bodies come from `elasticsearch_bodies`; `candidates` is ONE `_msearch` whose hits bring their stored vectors
from doc values, and the field similarities, the fused score's dot products and the rescoring of the pool
are computed here, exactly, with the functions the local store uses (no painless). Writes go through
`helpers.streaming_bulk` without raising; items that failed with 429 / 5xx / a connection error are re-sent
with tenacity's exponential backoff, reads are retried a bounded number of times. Alias helpers
(`create_versioned_index`, `swap_alias`) mirror OpenSearch's.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from elasticsearch import ApiError, AuthenticationException, AuthorizationException, NotFoundError
from elasticsearch import TransportError as ConnectionFailure
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from gcl_search.errors import ConfigError, GclSearchError, IndexNotFound, StoreUnavailable
from gcl_search.ranking import ranked
from gcl_search.stores import elasticsearch_bodies as bodies
from gcl_search.stores.base import (
    CONCAT,
    Candidate,
    Filter,
    IndexLayout,
    LexicalQuery,
    check_filters,
    dot_fields,
    field_dots,
    field_similarities,
    scored_fields,
)
from gcl_search.stores.catalog import IndexSummary
from gcl_search.stores.connection import scrub
from gcl_search.stores.elasticsearch_connection import check_connection, connect, server_version
from gcl_search.stores.elasticsearch_pool import best_of_pool
from gcl_search.stores.elasticsearch_writes import (
    RETRY_STATUSES,
    BulkWrites,
    _reason,
    create_versioned_index,
    swap_alias,
)
from gcl_search.stores.knn import similarity_from_score
from gcl_search.stores.opensearch_bodies import build_lexical_query

VECTORS_BATCH = 500


class ElasticsearchStore(BulkWrites):
    """One Elasticsearch index (or alias). Implements `gcl_search.stores.base.VectorStore`.

    Args:
        client_or_url: an `elasticsearch.Elasticsearch` client, or a URL (None: $ELASTICSEARCH_URL).
        index: the index or alias name.
        index_type: vector index of an index this store creates: "hnsw" (float, the default: exact knn
            scores) or "int8_hnsw" (a quarter of the vector memory; candidates still scored exactly here).
        ef_search: the knn's `num_candidates` (None: the layout's HNSW settings, `LayoutOptions.opensearch`,
            which Elasticsearch reads as well: m, ef_construction, ef_search, preset_ef_search).
        max_attempts, initial_backoff, max_backoff: bulk retries of 429 / 5xx / connection failures.
        chunk_size, max_chunk_bytes: bulk request size. shards, replicas: of an index this store creates.
        connect_kwargs: passed to `elasticsearch_connection.connect` with a URL.
    """

    engine = "elasticsearch"

    def __init__(self, client_or_url: Any, index: str, *, index_type: str = "hnsw",
                 ef_search: int | None = None, max_attempts: int = 5,
                 initial_backoff: float = 0.5, max_backoff: float = 30.0, chunk_size: int = 500,
                 max_chunk_bytes: int = 20 * 1024 * 1024, shards: int = 1, replicas: int = 0,
                 **connect_kwargs: Any):
        if index_type not in bodies.INDEX_TYPES:
            raise ConfigError(f"index_type {index_type!r} is not one of {', '.join(bodies.INDEX_TYPES)}")
        if client_or_url is None or isinstance(client_or_url, str):
            self.client, self.url, self._secrets = connect(client_or_url, **connect_kwargs)
            check_connection(self.client, self.url, self._secrets)
        else:
            self.client, self.url, self._secrets = client_or_url, "the given client", []
        self.index, self.index_type, self.ef_search = index, index_type, ef_search
        self.max_attempts, self.initial_backoff, self.max_backoff = max_attempts, initial_backoff, max_backoff
        self.chunk_size, self.max_chunk_bytes = chunk_size, max_chunk_bytes
        self.shards, self.replicas = shards, replicas
        self.read_attempts = 3
        self._layout: IndexLayout | None = None

    @property
    def name(self) -> str:
        return f"{self.url}/{self.index}"

    # -- index lifecycle -------------------------------------------------------------------------------------

    def exists(self) -> bool:
        return bool(self._call(self.client.indices.exists, index=self.index))

    def create(self, layout: IndexLayout, *, exist_ok: bool = False) -> None:
        if self.exists():
            if not exist_ok:
                raise ConfigError(f"index {self.index!r} exists already at {self.url}; pass exist_ok, "
                                  "drop it, or build a new version behind an alias")
            self.layout().check_compatible(layout, where=f"index {self.index!r}")
            return
        body = bodies.build_index_body(layout, self.shards, self.replicas, self.index_type)
        try:
            self._call(self.client.indices.create, index=self.index, **body)
        except GclSearchError as err:
            # A node without analysis-common (no stemmer filter) gets the documented fallback analyzer.
            if layout.options.analyzer != "english" or "filter type [stemmer]" not in str(err):
                raise
            body = bodies.build_index_body(layout, self.shards, self.replicas, self.index_type, True)
            self._call(self.client.indices.create, index=self.index, **body)
        self._layout = layout

    def drop(self) -> None:
        self._call(self.client.indices.delete, index=self.index, ignore_unavailable=True)
        self._layout = None

    def layout(self) -> IndexLayout:
        if self._layout is None:
            meta = self.engine_meta()
            if "gcl_search" not in meta:
                raise ConfigError(f"index {self.index!r} has no gcl_search layout in its _meta; it was not "
                                  "created by gcl-search (use another index name)")
            self._layout = IndexLayout.from_meta(meta["gcl_search"], where=f"index {self.index!r}")
        return self._layout

    def engine_meta(self) -> dict[str, Any]:
        """The index's `_meta`: the layout (`gcl_search`), this engine's choices (`gcl_search_es`)."""
        mapping = self._call(self.client.indices.get_mapping, index=self.index)
        return dict(next(iter(mapping.values()))["mappings"].get("_meta", {}))

    def refresh(self) -> None:
        self._call(self.client.indices.refresh, index=self.index)

    def count(self) -> int:
        return int(self._call(self.client.count, index=self.index)["count"])

    # -- reads -----------------------------------------------------------------------------------------------

    def knn(self, vector: np.ndarray, k: int, filters: Sequence[Filter] = (), target: str = CONCAT
            ) -> list[tuple[str, float]]:
        """Raw inner products from the knn `_score` (exact with float `hnsw`; `int8_hnsw` scores are the
        quantized estimate: `candidates` recomputes every similarity it reports)."""
        layout = self.layout()
        check_filters(layout, filters)
        body = bodies.build_knn_query(layout, vector, k, filters, target, self.ef_search)
        hits = self._read(self.client.search, index=self.index, **body)["hits"]["hits"]
        raw = np.array([h["_score"] for h in hits], dtype=np.float64)
        scores = similarity_from_score(raw, "innerproduct") if len(raw) else raw
        return ranked({h["_id"]: float(s) for h, s in zip(hits, np.atleast_1d(scores))}, k)

    def vectors(self, doc_ids: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
        layout, out = self.layout(), {}
        for lo in range(0, len(doc_ids), VECTORS_BATCH):
            body = bodies.build_vectors_query(layout, doc_ids[lo:lo + VECTORS_BATCH])
            for hit in self._read(self.client.search, index=self.index, **body)["hits"]["hits"]:
                out[hit["_id"]] = bodies.hit_vectors(layout, hit)
        return out

    def candidates(self, query_vectors: Mapping[str, np.ndarray], weights: Mapping[str, float], depth: int,
                   filters: Sequence[Filter] = (), lexical: LexicalQuery | None = None,
                   attributes: bool = True, dense_score: str = "sum", pool: int | None = None
                   ) -> tuple[list[Candidate], list[Candidate]]:
        layout = self.layout()
        check_filters(layout, filters)
        if lexical is not None:
            bodies.check_lexical_request(layout, self.index, lexical.fields, lexical.mode, lexical.boosts)
        searches = bodies.build_candidate_searches(layout, query_vectors, weights, depth, filters,
                                                   self.ef_search, lexical, attributes, dense_score, pool)
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
        self._raise_item_error(responses[0])
        hits = responses[0]["hits"]["hits"]
        if len(hits) > depth:  # the pool: its best `depth` by the exact dense score
            hits = best_of_pool(layout, hits, query_vectors, weights, dense_score, depth)
        dense = self._candidates_of(layout, {"hits": {"hits": hits}}, qf, names, False)
        bm25 = {c.doc_id: c.bm25 for c in lex}  # a dense candidate the BM25 search found too
        return [replace(c, bm25=bm25.get(c.doc_id)) for c in dense], lex

    def _candidates_of(self, layout: IndexLayout, response: dict[str, Any], qf: Mapping[str, np.ndarray],
                       names: Sequence[str], bm25: bool) -> list[Candidate]:
        self._raise_item_error(response)
        out = []
        for hit in response["hits"]["hits"]:
            vectors = bodies.hit_vectors(layout, hit)
            out.append(Candidate(hit["_id"], field_similarities(vectors, qf),
                                 dict((hit.get("_source") or {}).get("attr", {})),
                                 float(hit["_score"]) if bm25 else None,
                                 field_dots(vectors, names) if names else None))
        return out

    def _raise_item_error(self, item: dict[str, Any]) -> None:
        if "error" not in item:
            return
        error, status = item["error"], item.get("status")
        cause = error.get("root_cause", [error])[0] if isinstance(error, dict) else error
        reason = scrub(_reason(cause), self._secrets)
        if status == 404:
            raise self._not_found()
        if status in RETRY_STATUSES:
            raise StoreUnavailable(f"Elasticsearch at {self.url} answered {status} ({reason}); retry later")
        raise GclSearchError(f"Elasticsearch refused the search on {self.index!r} (HTTP {status}: {reason})")

    def lexical(self, text: str, fields: Sequence[str] | None, k: int, filters: Sequence[Filter] = (), *,
                mode: str = "most_fields", boosts: Mapping[str, float] | None = None
                ) -> list[tuple[str, float]]:
        layout = self.layout()
        check_filters(layout, filters)
        checked = bodies.check_lexical_request(layout, self.index, fields, mode, boosts)
        body = build_lexical_query(text, checked, k, filters, mode, boosts)
        hits = self._read(self.client.search, index=self.index, **body)["hits"]["hits"]
        return ranked({h["_id"]: float(h["_score"]) for h in hits}, k)

    def attributes(self, doc_ids: Sequence[str]) -> dict[str, dict[str, object]]:
        return {d: dict(s.get("attr", {})) for d, s in self._mget(doc_ids, ["attr"]).items()}

    def texts(self, doc_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        return {d: dict(s.get("text", {})) for d, s in self._mget(doc_ids, ["text"]).items()}

    def _mget(self, doc_ids: Sequence[str], includes: list[str]) -> dict[str, dict]:
        if not doc_ids:
            return {}
        response = self._call(self.client.mget, index=self.index, ids=list(doc_ids),
                              source_includes=includes)
        return {d["_id"]: d.get("_source", {}) for d in response["docs"] if d.get("found")}

    def with_index(self, index: str) -> ElasticsearchStore:
        """A store for another index on this store's connection and settings."""
        other = copy.copy(self)
        other.index, other._layout = index, None
        return other

    def with_ef_search(self, ef_search: int | None) -> ElasticsearchStore:
        """This store with another knn beam (None: the layout's); the search client's `ef_search`."""
        other = copy.copy(self)
        other.ef_search = ef_search
        return other

    def summaries(self) -> list[IndexSummary]:
        """The gcl-search indices this store's name matches (an index, an alias or a pattern such as `*`)."""
        metas = self._call(self.client.indices.get_mapping, index=self.index,
                           filter_path="*.mappings._meta.gcl_search")
        names = sorted(metas or {})
        if not names:
            return []
        joined = ",".join(names)
        stats = self._call(self.client.indices.stats, index=joined, metric="store")["indices"]
        aliases = self._call(self.client.indices.get_alias, index=joined)
        version = self._call(server_version, client=self.client)
        return [IndexSummary(name, "elasticsearch", int(self._call(self.client.count, index=name)["count"]),
                             int(stats[name]["total"]["store"]["size_in_bytes"]),
                             metas[name]["mappings"]["_meta"]["gcl_search"],
                             aliases=sorted(aliases.get(name, {}).get("aliases", {})), location=self.url,
                             engine_version=version)
                for name in names]

    def _not_found(self) -> IndexNotFound:
        return IndexNotFound(f"index {self.index!r} not found at {self.url}; create it with "
                             "`gcl-search ingest`")

    def _read(self, method: Any, **kwargs: Any) -> Any:
        """A search or _msearch, retried (bounded) when the cluster cannot answer it completely: no node
        reachable, a 429/5xx (also inside an _msearch), or failed shards."""
        retrying = Retrying(stop=stop_after_attempt(self.read_attempts), reraise=True,
                            wait=wait_exponential_jitter(multiplier=0.2, max=2.0, jitter=0.2),
                            retry=retry_if_exception_type(StoreUnavailable))
        for attempt in retrying:
            with attempt:
                response = self._call(method, **kwargs)
                for item in response.get("responses", [response]):
                    if "error" in item and item.get("status") in RETRY_STATUSES:
                        self._raise_item_error(item)
                    if item.get("_shards", {}).get("failed", 0):
                        raise StoreUnavailable(f"Elasticsearch at {self.url} answered from fewer than all "
                                               f"shards of {self.index!r}; retry later")
        return response

    def _call(self, method: Any, **kwargs: Any) -> Any:
        try:
            response = method(**kwargs)
        except NotFoundError as err:
            raise self._not_found() from err
        except (AuthenticationException, AuthorizationException) as err:
            raise StoreUnavailable(f"Elasticsearch at {self.url} refused the credentials (HTTP "
                                   f"{err.meta.status})") from err
        except ApiError as err:
            reason = scrub(_reason(_root_cause(err.body)), self._secrets)
            if err.meta.status in RETRY_STATUSES:
                raise StoreUnavailable(f"Elasticsearch at {self.url} answered {err.meta.status} ({reason}); "
                                       "retry later") from err
            raise GclSearchError(f"Elasticsearch refused a request on {self.index!r} (HTTP "
                                 f"{err.meta.status}: {reason})") from err
        except ConnectionFailure as err:
            raise StoreUnavailable(f"cannot reach Elasticsearch at {self.url} "
                                   f"({scrub(str(err)[:200], self._secrets)}); check that the cluster is up"
                                   ) from err
        return getattr(response, "body", response)


def _root_cause(body: object) -> object:
    error = body.get("error", body) if isinstance(body, dict) else body
    return error.get("root_cause", [error])[0] if isinstance(error, dict) else error


__all__ = ["ElasticsearchStore", "create_versioned_index", "swap_alias"]
