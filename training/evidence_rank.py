"""Encoding and ranking for training/icecat_gcl_evidence.py: the served hybrid request reproduced over
a trained model's own embeddings, and the live runs it is checked against.

Served hybrid = what `gcl-search evaluate --live 'hybrid=--lexical' -k K` does with configs/icecat-demo.toml
on the store: the config's [search] defaults (fusion, lexical weight, rank constant, lexical mode and fields,
oversample; `resolve_lexical`), `ceil(K * oversample)` candidates from each of the exact dense search and BM25
(`store.lexical`, as `candidates_from_parts` calls it), exact dense scores rounded as the client rounds them,
then the client's own `rank_hits`. Only the document vectors differ: a trained model's, not the store's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gcl_search.config import MAX_K, EncoderSpec, load_config
from gcl_search.fields.vectors import fuse_fields
from gcl_search.search.lexical import LexicalSpec, lexical_text
from gcl_search.search.options import resolve_lexical
from gcl_search.search.scoring import SCORE_DECIMALS, rank_hits


def served_hybrid(config_path: Path, store_path: Path, k: int) -> tuple[LexicalSpec, int, str]:
    """(lexical spec, candidates per search, lexical mode): the config's default hybrid request, top k."""
    from gcl_search.stores.local import LocalStore

    config = load_config(config_path)
    layout = LocalStore(store_path).layout()
    spec = resolve_lexical(config.search, lexical=True)
    depth = min(MAX_K, math.ceil(k * (spec.oversample or layout.options.oversample)))
    return spec, depth, spec.resolved_mode(layout)


def lexical_candidates(
    store_path: Path, spec: LexicalSpec, depth: int, mode: str, queries: list[str]
) -> dict[str, dict[str, float]]:
    """query -> {doc_id: BM25} of the store's lexical search, as the search client asks for it."""
    from gcl_search.stores.local import LocalStore

    store = LocalStore(store_path)
    fields = None if spec.fields is None else list(spec.fields)
    return {
        q: dict(store.lexical(lexical_text(q), fields, depth, mode=mode, boosts=spec.boosts or {}))
        for q in queries
    }


def rank(
    ids: list[str],
    vectors: dict,
    present: dict,
    weights: dict,
    query_vectors: np.ndarray,
    queries: list[str],
    lexical: dict[str, dict[str, float]],
    spec: LexicalSpec,
    depth: int,
    k: int,
    grid: Sequence[LexicalSpec] = (),
) -> tuple[dict, dict, list[dict]]:
    """(dense run, hybrid run, one hybrid run per `grid` spec), top k each: exact fused dense search, and the
    served hybrid fusion (and the same candidates fused as each grid spec says)."""
    docs = fuse_fields(vectors, weights, present)
    scores = query_vectors.astype(np.float32) @ docs.T
    row = {d: j for j, d in enumerate(ids)}
    dense_run, hybrid_run, grid_runs = {}, {}, [{} for _ in grid]
    for i, q in enumerate(queries):
        qv = query_vectors[i].astype(np.float64)
        pool = np.argpartition(-scores[i], depth + 50)[: depth + 50]  # margin: ties are cut by doc id below
        exact = np.round(docs[pool].astype(np.float64) @ qv, SCORE_DECIMALS)
        order = sorted(range(len(pool)), key=lambda j: (-exact[j], ids[pool[j]]))[:depth]
        dense = {ids[pool[j]]: float(exact[j]) for j in order}
        dense_run[q] = dict(list(dense.items())[:k])
        extra = [d for d in lexical[q] if d not in dense]
        extra_scores = (
            np.round(docs[[row[d] for d in extra]].astype(np.float64) @ qv, SCORE_DECIMALS) if extra else []
        )
        scored = [(d, s, {}) for d, s in (*dense.items(), *zip(extra, map(float, extra_scores)))]
        hybrid_run[q] = {h.doc_id: h.score for h in rank_hits(scored, lexical[q], spec)[:k]}
        for run, other in zip(grid_runs, grid):
            run[q] = {h.doc_id: h.score for h in rank_hits(scored, lexical[q], other)[:k]}
    return dense_run, hybrid_run, grid_runs


def load_encoder(model_dir: Path, runtime: str, threads: int, onnx_cache: Path):
    """A trained checkpoint as an Encoder: torch, or onnxruntime (exported into `onnx_cache`, checked
    against torch on probe texts as `runtime = "onnx"` does)."""
    import torch

    from gcl_search.encoders.sentence import (
        SentenceTransformerEncoder,
        load_sentence_transformer,
        load_st_model,
    )

    torch.set_num_threads(threads)
    spec = EncoderSpec(backend="sentence-transformers", model=str(model_dir), device="cpu")
    if runtime == "torch":
        return load_sentence_transformer(spec)
    from gcl_search.encoders.onnx import OnnxSentenceEncoder
    from gcl_search.encoders.onnx_export import PROBES, exported_model

    model = load_st_model(spec, "cpu").eval()
    reference = SentenceTransformerEncoder(model, name="evidence", device="cpu", precision="fp32")

    def verify(path: Path) -> float:
        onnx = OnnxSentenceEncoder(model, path, "evidence", batch_size=3, threads=threads)
        ours = onnx.encode_texts(PROBES)
        return float((ours * reference.encode_texts(PROBES, batch_size=3)).sum(axis=1).min())

    path = exported_model(model, "evidence", int8=False, verify=verify, cache_dir=onnx_cache)
    return OnnxSentenceEncoder(model, path, "evidence", batch_size=128, threads=threads, runtime="onnx")


def encode_fields(
    enc, catalogue: dict[str, dict[str, str]], ids: list[str], fields: list[str], log
) -> tuple[dict, dict]:
    """(field -> (n, dim) float32, field -> present mask); every distinct text is encoded once."""
    present = {f: np.array([bool(catalogue[d].get(f)) for d in ids]) for f in fields}
    texts = sorted({catalogue[d][f] for f in fields for d, m in zip(ids, present[f]) if m})
    started = time.monotonic()
    unique = enc.encode_texts(texts, batch_size=128)
    log(f"encoded {len(texts)} distinct {'/'.join(fields)} texts in {time.monotonic() - started:.0f} s")
    index = {t: i for i, t in enumerate(texts)}
    vectors = {}
    for f in fields:
        block = np.zeros((len(ids), unique.shape[1]), np.float32)
        block[present[f]] = unique[[index[catalogue[d][f]] for d, m in zip(ids, present[f]) if m]]
        vectors[f] = block
    return vectors, present


def live_runs(config_path: Path, store_parent: Path, index: str, queries: list[str], k: int) -> dict:
    """{"bm25", "dense", "hybrid"} runs through the search client on the store, exactly as `gcl-search
    evaluate --live` with `--lexical-weight 1`, no option, and `--lexical` makes them; plus the query vectors
    the client's encoder gives (`"query_vectors"`)."""
    from gcl_search.encoders.registry import load_encoders
    from gcl_search.search.client import SearchClient
    from gcl_search.search.live import queries_from_judgments, run_queries
    from gcl_search.stores.local import LocalStore

    config = load_config(config_path)
    encoders = load_encoders(config)
    client = SearchClient(
        LocalStore(store_parent / index),
        config,
        encoders,
        oversample=config.search.oversample,
        ef_search=config.search.ef_search,
    )
    asked = queries_from_judgments(dict.fromkeys(queries))
    out = {
        name: dict(run_queries(client, asked, k, lexical=resolve_lexical(config.search, **options)))
        for name, options in (
            ("bm25", {"weight": 1.0}),
            ("dense", {"lexical": False}),
            ("hybrid", {"lexical": True}),
        )
    }
    out["query_vectors"] = encoders[config.query_fields[0].encoder].encode_texts(queries)
    return out
