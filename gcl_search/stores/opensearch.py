"""OpenSearchStore: the VectorStore on an OpenSearch k-NN index (opensearch-py).

The index is `opensearch_mapping`, the search bodies `opensearch_bodies` (both pure, tested without a node);
retries and errors are `OpenSearchConnection`'s. Scores of the single `knn` clause are inverted to raw inner
products with `knn.similarity_from_score`. `candidates` (what the search client calls) is ONE `_msearch`: the
knn and the BM25 search, each returning its hits' exact field similarities (a painless `script_fields` over
the stored vector) and attributes. Re-indexing behind an alias: `opensearch_admin`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np

from gcl_search.errors import ConfigError, DimensionMismatch
from gcl_search.ranking import rank_key, ranked
from gcl_search.records import Document, FailedDoc, IngestReport
from gcl_search.stores import opensearch_bodies as bodies
from gcl_search.stores import opensearch_mapping as mapping
from gcl_search.stores import opensearch_scripts as scripts
from gcl_search.stores.bm25 import lexical_fields
from gcl_search.stores.candidates import Candidate, LexicalQuery
from gcl_search.stores.catalog import IndexSummary
from gcl_search.stores.filters import Filter, check_filters
from gcl_search.stores.knn import similarity_from_score
from gcl_search.stores.layout import CONCAT, IndexLayout
from gcl_search.stores.opensearch_connection import OpenSearchConnection

VECTORS_BATCH = 1000


class OpenSearchStore(OpenSearchConnection):
    """One OpenSearch index (or alias). Implements `gcl_search.stores.base.VectorStore`.

    Args:
        client_or_url: an `opensearchpy.OpenSearch` client, or a URL (None: $OPENSEARCH_URL) for `connect`.
        index: the index or alias name.
        shards, replicas: of an index this store creates (the config's `[index]` table).
        drop_replicas_during_load: `bulk_load` sets 0 replicas until it ends (faster: one HNSW build per
            document instead of 1 + replicas) at the price of a load that stalls while a node is lost.
        ef_search: the HNSW beam of this store's searches (None: the layout's `OpenSearchOptions`).
        kwargs: the connection's (`OpenSearchConnection`: retries, bulk sizes, `connect` arguments).
    """

    def __init__(
        self,
        client_or_url: Any,
        index: str,
        *,
        shards: int = 1,
        replicas: int = 0,
        drop_replicas_during_load: bool = False,
        ef_search: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(client_or_url, index, **kwargs)
        self.shards, self.replicas = shards, replicas
        self.drop_replicas_during_load = drop_replicas_during_load
        self.ef_search = ef_search
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
                raise ConfigError(
                    f"index {self.index!r} exists already at {self.url}; pass exist_ok, "
                    "drop it, or build a new version behind an alias"
                )
            self.layout().check_compatible(layout, where=f"index {self.index!r}")
            return
        body = mapping.build_index_body(layout, self.shards, self.replicas)
        if int(self._call(self.client.info)["version"]["number"].split(".")[0]) >= 3:
            # OpenSearch 3 scores BM25 without Lucene's old (k1 + 1) factor; keep the 2.x (and local store)
            # scale so BM25 scores and tuned constants mean the same on every version.
            body["settings"]["index"]["similarity"] = {"default": {"type": "LegacyBM25"}}
        self._call(self.client.indices.create, index=self.index, body=body)
        self._layout = layout

    def drop(self) -> None:
        self._call(self.client.indices.delete, index=self.index, ignore_unavailable=True)
        self._layout = None

    def layout(self) -> IndexLayout:
        if self._layout is None:
            mapping = self._call(self.client.indices.get_mapping, index=self.index)
            concrete = next(iter(mapping.values()))["mappings"]
            meta = concrete.get("_meta", {}).get("gcl_search")
            if meta is None:
                raise ConfigError(
                    f"index {self.index!r} has no gcl_search layout in its _meta; it was not "
                    "created by gcl-search (use another index name)"
                )
            self._layout = IndexLayout.from_meta(meta, where=f"index {self.index!r}")
        return self._layout

    def refresh(self) -> None:
        self._call(self.client.indices.refresh, index=self.index)

    def count(self) -> int:
        return int(self._call(self.client.count, index=self.index)["count"])

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """refresh_interval -1 during the load (and 0 replicas with `drop_replicas_during_load`); the previous
        values come back on exit, also when the block raises, followed by a refresh. Replicas are kept by
        default so that losing a node mid-load neither stalls the load nor loses acknowledged writes."""
        current = self._call(self.client.indices.get_settings, index=self.index, include_defaults=False)
        saved = {}
        for settings in current.values():
            index_settings = settings["settings"]["index"]
            saved = {
                "refresh_interval": index_settings.get("refresh_interval"),
                "number_of_replicas": index_settings.get("number_of_replicas"),
            }
        relaxed: dict[str, Any] = {"refresh_interval": "-1"}
        if self.drop_replicas_during_load:
            relaxed["number_of_replicas"] = 0
        else:
            saved.pop("number_of_replicas", None)
        self._put_settings(relaxed)
        try:
            yield
        finally:
            # None resets a setting that was not set explicitly before.
            self._put_settings(saved)
            self.refresh()

    def _put_settings(self, settings: dict[str, Any]) -> None:
        self._call(self.client.indices.put_settings, index=self.index, body={"index": settings})

    # -- writes ----------------------------------------------------------------------------------------------

    def upsert(self, docs: Iterable[Document]) -> IngestReport:
        layout, report, start = self.layout(), IngestReport(), time.perf_counter()
        actions: dict[str, dict] = {}
        for doc in docs:
            try:
                actions.pop(doc.doc_id, None)  # the last version of a repeated id wins, counted once
                actions[doc.doc_id] = mapping.to_bulk_action(doc, self.index, layout)
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
        layout = self.layout()
        check_filters(layout, filters)
        body = bodies.build_knn_query(layout, vector, k, filters, target, self.ef_search)
        hits = self._read(self.client.search, index=self.index, body=body)["hits"]["hits"]
        raw = np.array([h["_score"] for h in hits], dtype=np.float64)
        scores = similarity_from_score(raw, "innerproduct") if len(raw) else raw
        return ranked({h["_id"]: float(s) for h, s in zip(hits, np.atleast_1d(scores))}, k)

    def vectors(self, doc_ids: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
        layout, out = self.layout(), {}
        for lo in range(0, len(doc_ids), VECTORS_BATCH):
            body = bodies.build_vectors_query(layout, doc_ids[lo : lo + VECTORS_BATCH])
            for hit in self._read(self.client.search, index=self.index, body=body)["hits"]["hits"]:
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
        check_filters(layout, filters)
        if lexical is not None:
            self._check_lexical(layout, lexical.fields, lexical.mode, lexical.boosts)
        searches = bodies.build_candidate_searches(
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
        if not searches:
            return [], []
        if len(searches) == 1:
            responses = [self._read(self.client.search, index=self.index, body=searches[0])]
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
        body = bodies.build_lexical_query(text, checked, k, filters, mode, boosts)
        hits = self._read(self.client.search, index=self.index, body=body)["hits"]["hits"]
        return ranked({h["_id"]: float(h["_score"]) for h in hits}, k)

    def _check_lexical(
        self, layout: IndexLayout, fields: Sequence[str] | None, mode: str, boosts: Mapping[str, float] | None
    ) -> list[str]:
        return lexical_fields(
            layout, fields, mode, boosts, f"index {self.index!r}", "re-ingest into a new index"
        )

    def attributes(self, doc_ids: Sequence[str]) -> dict[str, dict[str, object]]:
        return {d: dict(s.get("attr", {})) for d, s in self._mget(doc_ids, ["attr"]).items()}

    def texts(self, doc_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        return {d: dict(s.get("text", {})) for d, s in self._mget(doc_ids, ["text"]).items()}

    def _mget(self, doc_ids: Sequence[str], includes: list[str]) -> dict[str, dict]:
        if not doc_ids:
            return {}
        response = self._call(
            self.client.mget, index=self.index, body={"ids": list(doc_ids)}, _source_includes=includes
        )
        return {d["_id"]: d.get("_source", {}) for d in response["docs"] if d.get("found")}

    def with_index(self, index: str) -> OpenSearchStore:
        """A store for another index on this store's connection: the same client, redacted URL, secrets to
        scrub from messages, and retry and bulk settings."""
        other = copy.copy(self)
        other.index, other._layout = index, None
        return other

    def with_ef_search(self, ef_search: int | None) -> OpenSearchStore:
        """This store with another HNSW beam (None: the layout's); the search client's `ef_search`."""
        other = copy.copy(self)
        other.ef_search = ef_search
        return other

    # -- catalogue (gcl-search index list / info) --------------------------------------------------------

    def summaries(self) -> list[IndexSummary]:
        """The gcl-search indices this store's name matches (an index, an alias, or a pattern such as `*`):
        layout metadata as stored, document count, size (primaries and replicas), aliases, server version."""
        metas = self._call(
            self.client.indices.get_mapping, index=self.index, filter_path="*.mappings._meta.gcl_search"
        )
        names = sorted(metas)
        if not names:
            return []
        joined = ",".join(names)
        stats = self._call(self.client.indices.stats, index=joined, metric="store")["indices"]
        aliases = self._call(self.client.indices.get_alias, index=joined)
        version = self._call(self.client.info)["version"]["number"]
        return [
            IndexSummary(
                name,
                "opensearch",
                int(self._call(self.client.count, index=name)["count"]),
                int(stats[name]["total"]["store"]["size_in_bytes"]),
                metas[name]["mappings"]["_meta"]["gcl_search"],
                aliases=sorted(aliases.get(name, {}).get("aliases", {})),
                location=self.url,
                engine_version=version,
            )
            for name in names
        ]
