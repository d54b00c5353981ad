"""SearchClient: weighted multi-field dense retrieval, optionally fused with BM25, on any VectorStore.

One request (design.md section 3):

1. the query is embedded once per encoder (`QueryEmbedder`), giving `q_f` for every document field;
2. ONE approximate inner-product search on the concatenated vector with `Q = [w_1 q_1; ...; w_F q_F]`
   returns `ceil((offset + k) * oversample)` candidates;
3. with a lexical component, BM25 over the chosen text fields returns as many candidates again;
4. every candidate gets its EXACT dense score `sum_f w_f q_f . d_f`: the concatenated search returns the
   exact inner product `Q . D` of each document it finds (approximation only decides WHICH documents are
   found, which oversampling covers), and a candidate only the lexical search found is re-scored from its
   stored vectors. No candidate is ever scored 0 on a field because a per-field search missed it (the
   bool-of-knn error); the page's hits then get every field's raw similarity `q_f . d_f` from their stored
   vectors (one fetch of `k` documents, not of every candidate);
5. without a lexical component the dense score is the score; with one, the two lists are fused over the
   candidate set by the named method (`gcl_search.search.fusion`);
6. hits are sorted by score descending, ties by doc_id, and `[offset, offset + k)` is returned, each with its
   combined score, dense score, every field's raw similarity and the raw BM25 score.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from gcl_search.config import Config
from gcl_search.encoders.base import Encoder, ImageInput
from gcl_search.errors import ConfigError, StoreUnavailable
from gcl_search.records import Hit
from gcl_search.search.embed import QueryEmbedder, check_field_weights
from gcl_search.search.fusion import DEFAULT_RANK_CONSTANT, check_fusion, fuse
from gcl_search.stores.base import Filter, IndexLayout, VectorStore, layout_from_config
from gcl_search.stores.bm25 import analyze

T = TypeVar("T")
# OpenSearch turns every query term into a clause and refuses more than indices.query.bool.max_clause_count
# (1024 by default); a pasted paragraph must not turn into an error.
MAX_LEXICAL_TERMS = 256
MAX_K = 10_000


@dataclass(frozen=True)
class LexicalSpec:
    """The lexical (BM25) component of a request.

    Args:
        fields: text fields to search (None: all of the index's text fields); BM25 is summed over them.
        weight: lam in [0, 1], the lexical share of the fused score (1 - lam goes to the dense part).
        fusion: "minmax" or "zscore" (normalise both lists over the candidates, then a weighted sum) or "rrf".
        rank_constant: RRF's c (ignored by the other methods).
        depth: lexical candidates to fetch (None: as many as the dense search, `ceil((offset+k)*oversample)`).
    """

    fields: tuple[str, ...] | None = None
    weight: float = 0.5
    fusion: str = "minmax"
    rank_constant: float = DEFAULT_RANK_CONSTANT
    depth: int | None = None

    def __post_init__(self) -> None:
        check_fusion(self.fusion, self.weight, self.rank_constant)
        if self.depth is not None and not 1 <= self.depth <= MAX_K:
            raise ConfigError(f"lexical depth {self.depth} must be in 1..{MAX_K}")
        if self.fields is not None:
            object.__setattr__(self, "fields", tuple(self.fields))


class SearchClient:
    """Weighted hybrid retrieval over one index (OpenSearch or the local store).

    Args:
        store: the index to search (`LocalStore`, `OpenSearchStore`, or any `VectorStore`).
        config: the config the index was built with (fields, encoders, default weights, query fields).
        encoders: encoder name -> loaded Encoder (default: loaded from the config).
        oversample: candidates per requested hit for the approximate search (default: the index's
            `LayoutOptions.oversample`).
        ef_search: HNSW query beam (default: the index's).
        retries: attempts per store call on `StoreUnavailable` (timeouts, connection errors), with exponential
            backoff; 1 disables retrying.
        backoff: seconds before the first retry (doubling, with jitter, up to 5 s).

    Raises:
        IndexNotFound: the index does not exist.
        ConfigError / DimensionMismatch: the index's recorded layout (`_meta`) does not match the config.
    """

    def __init__(self, store: VectorStore, config: Config, encoders: Mapping[str, Encoder] | None = None, *,
                 oversample: float | None = None, ef_search: int | None = None, retries: int = 3,
                 backoff: float = 0.2):
        if encoders is None:
            from gcl_search.encoders.registry import load_encoders

            encoders = load_encoders(config)
        if retries < 1:
            raise ConfigError(f"retries = {retries} must be >= 1")
        self.store, self.config, self.retries, self.backoff = store, config, retries, max(0.0, backoff)
        self.embedder = QueryEmbedder(config, encoders)
        self.layout: IndexLayout = self._call(store.layout)
        _check_layout(self.layout, config, encoders, store.name)
        self.oversample = float(oversample if oversample is not None else self.layout.options.oversample)
        if not (math.isfinite(self.oversample) and self.oversample >= 1):
            raise ConfigError(f"oversample = {self.oversample} must be a finite number >= 1")
        self.ef_search = ef_search
        self.default_weights = {spec.name: spec.weight for spec in config.fields}

    @property
    def field_names(self) -> tuple[str, ...]:
        """The index's dense fields, in concatenation order."""
        return self.layout.field_names

    def search(self, text: str | None = None, image: ImageInput | None = None, *,
               weights: Mapping[str, float] | None = None, query_weights: Mapping[str, float] | None = None,
               lexical: LexicalSpec | None = None, k: int = 10, offset: int = 0,
               filters: Sequence[Filter] = (), attributes: bool = True) -> list[Hit]:
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
            attributes: fetch each hit's stored attributes (one more store call; off for ids and scores only).

        Returns:
            Up to k hits, best first, ties by doc_id. A query with no text and no image returns [].

        Raises:
            ConfigError: invalid weights, k, offset, fusion or filter; lexical without text.
            StoreUnavailable: the store stayed unreachable after `retries` attempts.
        """
        _check_page(k, offset)
        has_text = isinstance(text, str) and bool(text.strip())
        if not has_text and image is None:
            return []
        if lexical is not None and not has_text:
            raise ConfigError("a lexical component needs query text; drop lexical or pass text=...")
        w = check_field_weights(weights, self.field_names, self.default_weights,
                                allow_all_zero=lexical is not None)
        vectors = self.embedder.embed(text if has_text else None, image, query_weights)
        return self.search_vectors(vectors, w, text=text if has_text else None, lexical=lexical, k=k,
                                   offset=offset, filters=filters, attributes=attributes)

    def search_vectors(self, query_vectors: Mapping[str, np.ndarray], weights: Mapping[str, float], *,
                       text: str | None = None, lexical: LexicalSpec | None = None, k: int = 10,
                       offset: int = 0, filters: Sequence[Filter] = (), attributes: bool = True) -> list[Hit]:
        """`search` with the query already embedded (benchmarks and weight tuning embed once).

        Args:
            query_vectors: document field -> `q_f` (dim,).
            weights: document field -> weight (validated like `search`'s, defaults filled in).
            text: query text for the lexical component.
            lexical, k, offset, filters, attributes: as for `search`.
        """
        _check_page(k, offset)
        w = check_field_weights(weights, self.field_names, self.default_weights,
                                allow_all_zero=lexical is not None)
        depth = min(MAX_K, math.ceil((offset + k) * self.oversample))
        dense: dict[str, float] = {}
        if any(v > 0 for v in w.values()):
            q = self.layout.query_vector(query_vectors, w)
            dense = dict(self._call(self.store.knn, q, depth, filters, ef_search=self.ef_search))
        lex: dict[str, float] = {}
        if lexical is not None:
            lex_depth = lexical.depth or depth
            fields = None if lexical.fields is None else list(lexical.fields)
            lex = dict(self._call(self.store.lexical, lexical_text(text or ""), fields, lex_depth, filters))
        vectors = self._fetch_vectors([doc_id for doc_id in lex if doc_id not in dense], {})
        for doc_id, score, _ in score_candidates(list(vectors), vectors, query_vectors, w):
            dense[doc_id] = score
        page = rank_hits([(d, s, {}) for d, s in dense.items()], lex, lexical)[offset:offset + k]
        vectors = self._fetch_vectors([h.doc_id for h in page], vectors)
        attrs = self._call(self.store.attributes, [h.doc_id for h in page]) if page and attributes else {}
        return [_complete(h, vectors[h.doc_id], query_vectors, attrs.get(h.doc_id, {}))
                for h in page if h.doc_id in vectors]

    def _fetch_vectors(self, ids: Sequence[str], known: dict[str, dict[str, np.ndarray]]
                       ) -> dict[str, dict[str, np.ndarray]]:
        missing = [doc_id for doc_id in ids if doc_id not in known]
        return {**known, **self._call(self.store.vectors, missing)} if missing else known

    def _call(self, method: Callable[..., T], *args: object, **kwargs: object) -> T:
        wait = wait_exponential_jitter(multiplier=self.backoff, max=5.0, jitter=self.backoff)
        retrying = Retrying(stop=stop_after_attempt(self.retries), reraise=True, wait=wait,
                            retry=retry_if_exception_type(StoreUnavailable))
        return retrying(method, *args, **kwargs)


def score_candidates(ids: Sequence[str], vectors: Mapping[str, Mapping[str, np.ndarray]],
                     query_vectors: Mapping[str, np.ndarray], weights: Mapping[str, float]
                     ) -> list[tuple[str, float, dict[str, float]]]:
    """Exact re-scoring: (doc_id, dense, {field: q_f . d_f}) for every candidate the store still has.

    A field the document lacks is left out of its field scores and adds nothing; a field with weight 0 is
    still reported (users tune weights by looking at it), as long as the query has a vector for it.
    """
    out = []
    for doc_id in ids:
        doc = vectors.get(doc_id)
        if doc is None:  # deleted between the search and the fetch
            continue
        field_scores = {name: float(np.dot(query_vectors[name], vec)) for name, vec in doc.items()
                        if name in query_vectors and np.any(query_vectors[name])}
        dense = float(sum(weights.get(name, 0.0) * s for name, s in field_scores.items()))
        out.append((doc_id, dense, field_scores))
    return out


def rank_hits(scored: Sequence[tuple[str, float, dict[str, float]]], lexical_scores: Mapping[str, float],
              lexical: LexicalSpec | None) -> list[Hit]:
    """Combine and sort (score descending, doc_id ascending). Pure: the tuner calls it too."""
    if not scored:
        return []
    ids = [doc_id for doc_id, _, _ in scored]
    dense = np.array([d for _, d, _ in scored], dtype=np.float64)
    if lexical is None:
        combined = dense
    else:
        raw = np.array([lexical_scores.get(doc_id, 0.0) for doc_id in ids], dtype=np.float64)
        matched = np.array([doc_id in lexical_scores for doc_id in ids], dtype=bool)
        combined = fuse(ids, dense, raw, matched, lexical.fusion, lexical.weight, lexical.rank_constant)
    hits = [Hit(doc_id=doc_id, score=float(c), dense_score=float(d), field_scores=fs,
                lexical_score=lexical_scores.get(doc_id) if lexical is not None else None)
            for (doc_id, d, fs), c in zip(scored, combined)]
    hits.sort(key=lambda h: (-h.score, h.doc_id))
    return hits


def lexical_text(text: str) -> str:
    """The query text for BM25, cut to its first MAX_LEXICAL_TERMS analysed terms."""
    tokens = analyze(text)
    return text if len(tokens) <= MAX_LEXICAL_TERMS else " ".join(tokens[:MAX_LEXICAL_TERMS])


def _check_page(k: int, offset: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ConfigError(f"k = {k!r} must be an integer in 1..{MAX_K}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0 or offset + k > MAX_K:
        raise ConfigError(f"offset = {offset!r} must be an integer >= 0 with offset + k <= {MAX_K}")


def _check_layout(layout: IndexLayout, config: Config, encoders: Mapping[str, Encoder], where: str) -> None:
    """Refuse to search an index whose recorded dense fields differ from the config's (names, order, dims,
    encoders); text fields and attributes come from the index itself."""
    dims = {name: enc.dim for name, enc in encoders.items()}
    expected = layout_from_config(config, dims, text_fields=layout.text_fields, attributes=layout.attributes)
    layout.check_compatible(expected, where=f"{where} (its _meta)")


def _complete(hit: Hit, vectors: Mapping[str, np.ndarray], query_vectors: Mapping[str, np.ndarray],
              attributes: Mapping[str, object]) -> Hit:
    field_scores = score_candidates([hit.doc_id], {hit.doc_id: vectors}, query_vectors, {})[0][2]
    return Hit(hit.doc_id, hit.score, hit.dense_score, field_scores, hit.lexical_score, dict(attributes))
