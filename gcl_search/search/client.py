"""SearchClient: weighted multi-field dense retrieval, optionally fused with BM25, on any VectorStore.

One request (docs/search.md, "Scoring"), ONE store call (`VectorStore.candidates`; on OpenSearch one HTTP
request):

1. the query is embedded once per encoder (`QueryEmbedder`), giving `q_f` for every document field;
2. ONE approximate inner-product search on the concatenated vector with `Q = [w_1 q_1; ...; w_F q_F]` (or on
   the preset vector, when the index has one for these weights: `derived.knn_plan`) returns `offset + k`
   candidates, `ceil((offset + k) * oversample)` with a lexical component; when that search's score is not
   the requested dense score (`derived.knn_exact`), it returns a pool of `rescore_depth` (200) instead,
   and the best of the pool by the exact dense score are kept (OpenSearch searches with a beam of
   `max(ef_search, k)`; the local store ranks exactly);
3. with a lexical component, BM25 over the chosen text fields returns its candidates in the same call;
4. every candidate of either search comes back with each field's exact raw similarity `q_f . d_f` (and, for
   the fused score, the pairwise dot products `d_f . d_g` of its weighted fields), computed by the store from
   the stored vectors, so its dense score is exact (`gcl_search.fields.vectors.multi_field_scores`):
   "fused" (default) `sum_f a_f q_f . d_f / ||sum_f a_f d_f||` with the weights renormalised over the fields
   the document has, or "sum" `sum_f w_f q_f . d_f`. Approximation only decides WHICH documents are found,
   and no candidate is ever scored 0 on a field because a per-field search missed it (the bool-of-knn error);
5. without a lexical component the dense score is the score; with one, the two lists are fused over the
   candidate set by the named method (`gcl_search.search.fusion`);
6. hits are sorted by score descending, ties by doc_id, and `[offset, offset + k)` is returned, each with its
   combined score, dense score, every field's raw similarity, the raw BM25 score and its attributes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from gcl_search.config import LEXICAL_MODES, MAX_K, Config
from gcl_search.encoders.base import Encoder, ImageInput
from gcl_search.errors import ConfigError, StoreUnavailable
from gcl_search.ranking import rank_key
from gcl_search.records import Hit
from gcl_search.search.checks import check_dense_score, check_layout, check_page
from gcl_search.search.embed import QueryEmbedder, check_field_weights
from gcl_search.search.lexical import LexicalSpec, lexical_text
from gcl_search.search.scoring import candidate_scores, rank_hits
from gcl_search.stores.base import Filter, IndexLayout, LexicalQuery, VectorStore
from gcl_search.stores.derived import query_vector

__all__ = ["CandidatePool", "LexicalSpec", "SearchClient", "candidate_scores", "lexical_text", "rank_hits"]

T = TypeVar("T")


@dataclass(frozen=True)
class CandidatePool:
    """One query's candidates with everything needed to score them at any weights without a store call.

    Attributes:
        query_vectors: document field -> `q_f` (dim,).
        doc_ids: the pool, in the order the searches found it (dense searches first, then each mode's BM25).
        vectors: doc_id -> field -> stored `d_f` (the fields the document has).
        lexical: lexical mode -> doc_id -> raw BM25, for the documents that mode's search returned.
    """

    query_vectors: dict[str, np.ndarray]
    doc_ids: list[str]
    vectors: dict[str, dict[str, np.ndarray]]
    lexical: dict[str, dict[str, float]]


class SearchClient:
    """Weighted hybrid retrieval over one index (OpenSearch or the local store).

    Args:
        store: the index to search (`LocalStore`, `OpenSearchStore`, or any `VectorStore`).
        config: the config the index was built with (fields, encoders, default weights, query fields).
        encoders: encoder name -> loaded Encoder (default: loaded from the config).
        oversample: candidates per requested hit of each search when a lexical component is fused (default:
            the index's `LayoutOptions.oversample`).
        ef_search: HNSW query beam (default: the index's).
        dense_score: the default dense score of requests, "fused" or "sum" (default: the config's
            `[search] dense_score`).
        rescore_depth: candidates rescored exactly when the ANN score is not the dense score (default: the
            config's `[search] rescore_depth`, else the index's).
        retries: attempts per store call on `StoreUnavailable` (timeouts, connection errors), with exponential
            backoff; 1 disables retrying.
        backoff: seconds before the first retry (doubling, with jitter, up to 5 s).

    Raises:
        IndexNotFound: the index does not exist.
        ConfigError / DimensionMismatch: the index's recorded layout (`_meta`) does not match the config.
    """

    def __init__(
        self,
        store: VectorStore,
        config: Config,
        encoders: Mapping[str, Encoder] | None = None,
        *,
        oversample: float | None = None,
        ef_search: int | None = None,
        dense_score: str | None = None,
        rescore_depth: int | None = None,
        retries: int = 3,
        backoff: float = 0.2,
    ):
        if encoders is None:
            from gcl_search.encoders.registry import load_encoders

            encoders = load_encoders(config)
        if retries < 1:
            raise ConfigError(f"retries = {retries} must be >= 1")
        if ef_search is not None and hasattr(store, "with_ef_search"):  # an HNSW beam; exact stores lack one
            store = store.with_ef_search(ef_search)
        self.store, self.config, self.retries, self.backoff = store, config, retries, max(0.0, backoff)
        self.embedder = QueryEmbedder(config, encoders)
        self.layout: IndexLayout = self._call(store.layout)
        check_layout(self.layout, config, encoders, store.name)
        self.oversample = float(oversample if oversample is not None else self.layout.options.oversample)
        if not (math.isfinite(self.oversample) and self.oversample >= 1):
            raise ConfigError(f"oversample = {self.oversample} must be a finite number >= 1")
        self.ef_search = ef_search
        self.dense_score = check_dense_score(dense_score or config.search.dense_score)
        self.rescore_depth = rescore_depth if rescore_depth is not None else config.search.rescore_depth
        if self.rescore_depth is not None and not 1 <= self.rescore_depth <= MAX_K:
            raise ConfigError(f"rescore_depth = {self.rescore_depth} must be in 1..{MAX_K}")
        self.default_weights = {spec.name: spec.weight for spec in config.fields}

    @property
    def field_names(self) -> tuple[str, ...]:
        """The index's dense fields, in concatenation order."""
        return self.layout.field_names

    def search(
        self,
        text: str | None = None,
        image: ImageInput | None = None,
        *,
        weights: Mapping[str, float] | None = None,
        query_weights: Mapping[str, float] | None = None,
        lexical: LexicalSpec | None = None,
        k: int = 10,
        offset: int = 0,
        filters: Sequence[Filter] = (),
        attributes: bool = True,
        dense_score: str | None = None,
    ) -> list[Hit]:
        """Run one request.

        Args:
            text: query text (empty or whitespace-only counts as no text).
            image: query image (path or PIL image), for image query fields.
            weights: document field -> weight for this request; fields left out keep the config default.
            query_weights: query field -> weight (a multi-field query: e.g. text 0.3, image 0.7).
            lexical: add a BM25 component (needs query text).
            k: hits to return (1..10000).
            offset: hits to skip (pagination: page p of size k is offset p * k).
            filters: Term/Range filters on stored attributes, applied to both the dense and lexical search.
            attributes: return each hit's stored attributes (off for ids and scores only).
            dense_score: "fused" or "sum" for this request (default: the client's).

        Returns:
            Up to k hits, best first, ties by doc_id. A query with no text and no image returns [].

        Raises:
            ConfigError: invalid weights, k, offset, fusion or filter; lexical without text.
            StoreUnavailable: the store stayed unreachable after `retries` attempts.
        """
        check_page(k, offset)
        has_text = isinstance(text, str) and bool(text.strip())
        if not has_text and image is None:
            return []
        if lexical is not None and not has_text:
            raise ConfigError("a lexical component needs query text; drop lexical or pass text=...")
        w = check_field_weights(
            weights, self.field_names, self.default_weights, allow_all_zero=lexical is not None
        )
        vectors = self.embedder.embed(text if has_text else None, image, query_weights)
        return self.search_vectors(
            vectors,
            w,
            text=text if has_text else None,
            lexical=lexical,
            k=k,
            offset=offset,
            filters=filters,
            attributes=attributes,
            dense_score=dense_score,
        )

    def search_vectors(
        self,
        query_vectors: Mapping[str, np.ndarray],
        weights: Mapping[str, float],
        *,
        text: str | None = None,
        lexical: LexicalSpec | None = None,
        k: int = 10,
        offset: int = 0,
        filters: Sequence[Filter] = (),
        attributes: bool = True,
        dense_score: str | None = None,
    ) -> list[Hit]:
        """`search` with the query already embedded (benchmarks and weight tuning embed once).

        Args:
            query_vectors: document field -> `q_f` (dim,).
            weights: document field -> weight (validated like `search`'s, defaults filled in).
            text: query text for the lexical component.
            lexical, k, offset, filters, attributes, dense_score: as for `search`.
        """
        method = check_dense_score(dense_score or self.dense_score)
        check_page(k, offset)
        w = check_field_weights(
            weights, self.field_names, self.default_weights, allow_all_zero=lexical is not None
        )
        depth = offset + k
        lex_query = None
        if lexical is not None:
            depth = min(MAX_K, math.ceil((offset + k) * (lexical.oversample or self.oversample)))
            lex_query = LexicalQuery(
                lexical_text(text or ""),
                lexical.fields,
                lexical.depth or depth,
                lexical.resolved_mode(self.layout),
                lexical.boosts or {},
            )
        dense, lex = self._call(
            self.store.candidates,
            query_vectors,
            w,
            depth,
            filters,
            lex_query,
            attributes,
            method,
            self.rescore_depth,
        )
        found = {c.doc_id: c for c in (*lex, *dense)}
        score_of = dict(zip(found, candidate_scores(list(found.values()), w, self.field_names, method)))
        if len(dense) > depth:  # a rescoring pool: keep the dense candidates the exact score ranks best
            dense = sorted(dense, key=lambda c: rank_key(score_of[c.doc_id], c.doc_id))[:depth]
            found = {c.doc_id: c for c in (*lex, *dense)}
        scored = [(c.doc_id, score_of[c.doc_id], c.field_scores) for c in found.values()]
        bm25 = {c.doc_id: c.bm25 for c in lex}
        page = rank_hits(scored, bm25, lexical)[offset : offset + k]
        return [replace(h, attributes=dict(found[h.doc_id].attributes)) for h in page]

    def lexical_modes(self, lexical: LexicalSpec) -> tuple[str, ...]:
        """The modes `lexical` could run in on this index: its own first, then the other one when the index
        has a catch-all field and `lexical` names no fields."""
        mode = lexical.resolved_mode(self.layout)
        if self.layout.options.catch_all and lexical.fields is None:
            return (mode, *(m for m in LEXICAL_MODES if m != mode))
        return (mode,)

    def candidate_pool(
        self,
        text: str | None = None,
        image: ImageInput | None = None,
        *,
        depth: int,
        lexical: LexicalSpec | None = None,
        modes: Sequence[str] = (),
    ) -> CandidatePool:
        """A wide candidate pool for re-ranking offline (weight tuning): the union of the ANN search at the
        default weights, one single-field ANN search per field, and with `lexical` and text the BM25 top
        list of each of `modes`; `depth` documents each. No filters; store calls are retried like `search`'s.
        """
        vectors = self.embedder.embed(text, image)
        ids: dict[str, None] = {}
        for weights in [self.default_weights] + [{n: 1.0} for n in self.field_names]:
            if any(weights.get(n, 0) > 0 and np.any(vectors[n]) for n in self.field_names):
                q = query_vector(self.layout, vectors, weights)
                found = self._call(self.store.knn, q, depth)
                ids.update(dict.fromkeys(doc_id for doc_id, _ in found))
        lex: dict[str, dict[str, float]] = {mode: {} for mode in modes}
        if lexical is not None and text:
            for mode in modes:
                fields = None if lexical.fields is None or mode == "combined" else list(lexical.fields)
                lex[mode] = dict(
                    self._call(
                        self.store.lexical,
                        lexical_text(text),
                        fields,
                        depth,
                        mode=mode,
                        boosts=lexical.boosts,
                    )
                )
                ids.update(dict.fromkeys(lex[mode]))
        stored = self._call(self.store.vectors, list(ids))
        order = [d for d in ids if d in stored]
        return CandidatePool(vectors, order, {d: stored[d] for d in order}, lex)

    def _call(self, method: Callable[..., T], *args: object, **kwargs: object) -> T:
        wait = wait_exponential_jitter(multiplier=self.backoff, max=5.0, jitter=self.backoff)
        retrying = Retrying(
            stop=stop_after_attempt(self.retries),
            reraise=True,
            wait=wait,
            retry=retry_if_exception_type(StoreUnavailable),
        )
        return retrying(method, *args, **kwargs)
