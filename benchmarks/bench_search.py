"""Weighted multi-field search on a real OpenSearch node: latency and recall, side by side in one run.

Compares, for 2- and 3-field weighted queries (k = 10):
- ours: `SearchClient.search_vectors`: ONE approximate search on the concatenated vector (oversampled), exact
  inner products, field similarities for the page's hits;
- single: one `knn` clause on a single field's vector (the latency floor; target ours <= 1.3x);
- perfield: a bool of per-field `knn` clauses (k = K each) plus exact re-scoring of their union from fetched
  vectors, with the smallest K in KS whose recall@10 reaches ours (equal recall; target ours >= 2x faster);
and recall@10 of ours against exact weighted brute force (numpy) at several weights (target >= 0.99).

Vectors: `--vectors minilm` uses the Icecat catalogue encoded by all-MiniLM-L6-v2 (title, description, brand;
cached in ~/.cache/gcl-search/bench/, encoded on first use) and the 105 judged queries; `--vectors synthetic`
uses seeded random unit vectors (queries are noisy copies of document title vectors), for a quick check.

    python benchmarks/bench_search.py --opensearch-url http://127.0.0.1:9280 --vectors minilm \
        | tee benchmarks/results/search.txt
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gcl_search.config import parse_config  # noqa: E402
from gcl_search.records import Document  # noqa: E402
from gcl_search.search.client import SearchClient  # noqa: E402
from gcl_search.stores.base import DenseField, IndexLayout, LayoutOptions  # noqa: E402
from gcl_search.stores.opensearch import OpenSearchStore  # noqa: E402

CACHE = Path(os.path.expanduser("~/.cache/gcl-search/bench/icecat_minilm_fields.npz"))
FIELDS = ("title", "description", "brand")
WEIGHTS = {"2f 0.7/0.3": {"title": 0.7, "description": 0.3}, "2f 0.5/0.5": {"title": 0.5, "description": 0.5},
           "3f 0.6/0.3/0.1": {"title": 0.6, "description": 0.3, "brand": 0.1},
           "title only": {"title": 1.0}, "description only": {"description": 1.0}}
KS = (10, 20, 50, 100, 200)


def load_vectors(kind: str, n_docs: int, seed: int = 0) -> tuple[list[str], dict, dict, dict]:
    """(ids, field -> (n, d) vectors, field -> (n,) present, query_id -> {field: q})."""
    if kind == "synthetic":
        rng = np.random.default_rng(seed)
        unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)  # noqa: E731
        vecs = {f: unit(rng.standard_normal((n_docs, 384))).astype(np.float32) for f in FIELDS}
        present = {f: np.ones(n_docs, dtype=bool) for f in FIELDS}
        picks = rng.choice(n_docs, 100, replace=False)
        queries = {}
        for i, p in enumerate(picks):
            noisy = vecs["title"][p] + 0.8 * vecs["description"][p] + rng.standard_normal(384) * 0.05
            q = unit(noisy[None])[0]
            queries[f"q{i}"] = {f: q for f in FIELDS}
        return [f"doc{i}" for i in range(n_docs)], vecs, present, queries
    if kind == "static":
        return _static_vectors(n_docs)
    data = _encode_icecat() if not CACHE.is_file() else np.load(CACHE)
    ids = [str(x) for x in data["ids"]][:n_docs]
    vecs = {f: data[f"vec_{f}"][:n_docs] for f in FIELDS}
    present = {f: data[f"present_{f}"][:n_docs] for f in FIELDS}
    return ids, vecs, present, _encode_queries()


def _static_vectors(n_docs: int) -> tuple[list[str], dict, dict, dict]:
    """bench_layout.py's static stand-in for MiniLM (its tokenizer + word embeddings, pooled), reusing that
    benchmark's cached title/description vectors; brand is encoded here the same way."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_layout import StaticMiniLM, load_icecat_vectors

    data = load_icecat_vectors("static")
    brands = [r.get("brand") or "" for r in data["records"]]
    unique = sorted(set(b for b in brands if b))
    table = dict(zip(unique, StaticMiniLM().encode_texts(unique)))
    vecs = {"title": data["title"], "description": data["description"],
            "brand": np.stack([table.get(b, np.full(384, np.nan, np.float32)) for b in brands])}
    present = {f: ~np.isnan(v[:, 0]) for f, v in vecs.items()}
    vecs = {f: np.nan_to_num(v)[:n_docs].astype(np.float32) for f, v in vecs.items()}
    ids = [r["doc_id"] for r in data["records"]][:n_docs]
    queries = {f"q{i}": {f: vec for f in FIELDS} for i, vec in enumerate(data["queries"])}
    return ids, vecs, {f: p[:n_docs] for f, p in present.items()}, queries


def _encode_icecat():
    from gcl_search.config import load_config
    from gcl_search.datasets.icecat import iter_catalogue
    from gcl_search.encoders.registry import load_encoders
    from gcl_search.fields import encode_records

    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "icecat.toml")
    fields = [f for f in config.fields if f.name in FIELDS]
    encoders = load_encoders(config)
    out = encode_records(list(iter_catalogue()), fields, encoders, id_key="doc_id", progress=True)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE, ids=np.array(out.ids), **{f"vec_{k}": v for k, v in out.vectors.items()},
             **{f"present_{k}": v for k, v in out.present.items()})
    return np.load(CACHE)


def _encode_queries() -> dict:
    import csv

    from gcl_search.config import load_config
    from gcl_search.datasets.icecat import judgments_path
    from gcl_search.encoders.registry import load_encoders

    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "icecat.toml")
    with open(judgments_path(), newline="", encoding="utf-8") as handle:
        texts = list(dict.fromkeys(row["query"] for row in csv.DictReader(handle)))
    matrix = load_encoders(config)["minilm"].encode_texts(texts)
    return {t: {f: matrix[i] for f in FIELDS} for i, t in enumerate(texts)}


def build_index(url: str, name: str, ids, vecs, present) -> OpenSearchStore:
    layout = IndexLayout(tuple(DenseField(f, 384, "minilm") for f in FIELDS),
                         options=LayoutOptions(per_field_vectors=True, oversample=3.0))
    store = OpenSearchStore(url, name)
    if store.exists() and store.count() == len(ids):
        return store
    store.drop()
    store.create(layout)
    docs = (Document(d, {f: vecs[f][i] for f in FIELDS if present[f][i]}) for i, d in enumerate(ids))
    with store.bulk_load():
        batch: list[Document] = []
        for doc in docs:
            batch.append(doc)
            if len(batch) == 1000:
                store.upsert(batch)
                batch = []
        store.upsert(batch)
    store.client.indices.forcemerge(index=name, max_num_segments=1, request_timeout=1200)
    return store


def exact_scores(concat: np.ndarray, ids: list[str], layout: IndexLayout, qv: dict, w: dict,
                 k: int = 10) -> tuple[dict[str, float], float]:
    """Every document's exact weighted score, and the k-th best (the bar a hit must reach)."""
    scores = concat @ layout.query_vector(qv, w)
    return dict(zip(ids, scores.tolist())), float(np.sort(scores)[-k])


def tie_recall(found: list[str], exact: tuple[dict[str, float], float], k: int = 10) -> float:
    """Tie-aware recall@k: a hit counts when its exact score reaches the exact k-th score (catalogues hold
    many identical products, so which of several tied documents fill the last places is arbitrary)."""
    scores, bar = exact
    return sum(scores[d] >= bar - 1e-5 for d in found[:k]) / k


def per_field_search(store: OpenSearchStore, qv: dict, w: dict, K: int, k: int = 10) -> list[str]:
    clauses = [{"knn": {f"vec.{f}": {"vector": qv[f].tolist(), "k": K, "boost": wf}}}
               for f, wf in w.items() if wf]
    body = {"size": K * len(clauses), "_source": False, "query": {"bool": {"should": clauses}}}
    found = [h["_id"] for h in store.client.search(index=store.index, body=body)["hits"]["hits"]]
    vectors = store.vectors(found)
    scored = {d: sum(wf * float(qv[f] @ v[f]) for f, wf in w.items() if f in v) for d, v in vectors.items()}
    return [d for d, _ in sorted(scored.items(), key=lambda x: (-x[1], x[0]))[:k]]


def timed(fn, repeats: int) -> tuple[list, list[float]]:
    out, times = None, []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, times


def pct(times: list[float], p: float) -> float:
    return float(np.percentile(np.array(times) * 1000, p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opensearch-url", default=os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9280"))
    parser.add_argument("--vectors", choices=["minilm", "static", "synthetic"], default="minilm")
    parser.add_argument("--n-docs", type=int, default=19_406)
    parser.add_argument("--queries", type=int, default=105)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ef-search", type=int, help="HNSW beam for our search (default: the index's, 200)")
    parser.add_argument("--oversample", type=float, help="candidates per hit (default: the index's, 3)")
    args = parser.parse_args()
    ids, vecs, present, queries = load_vectors(args.vectors, args.n_docs)
    queries = dict(list(queries.items())[:args.queries])
    store = build_index(args.opensearch_url, f"bench-search-{args.vectors}-{len(ids)}", ids, vecs, present)
    layout = store.layout()
    config = parse_config({"encoders": {"minilm": {"backend": "sentence-transformers", "model": "x"}},
                           "fields": [{"name": f, "encoder": "minilm", "weight": 1.0} for f in FIELDS]})
    client = SearchClient(store, config, {"minilm": SimpleNamespace(dim=384)}, oversample=args.oversample,
                          ef_search=args.ef_search)
    concat = np.concatenate([vecs[f] * present[f][:, None] for f in FIELDS], axis=1).astype(np.float32)
    print(f"# bench_search: {len(ids)} docs ({args.vectors} vectors, 3 x 384-d fields), {len(queries)} "
          f"queries x {args.repeats} repeats, k=10, oversample {client.oversample}, ef_search "
          f"{args.ef_search or layout.options.ef_search}, node {args.opensearch_url}")
    single_t: list[float] = []
    for qv in queries.values():
        single_t += timed(lambda: store.knn(qv["title"], 10, target="title"), args.repeats)[1]
    print(f"single-field knn: p50 {pct(single_t, 50):.2f} ms  p95 {pct(single_t, 95):.2f} ms")
    print(f"{'weights':18s} {'recall@10':>9s} {'p50 ms':>7s} {'p95 ms':>7s} {'x single':>8s} "
          f"{'perfield K':>10s} {'pf recall':>9s} {'pf p50':>7s} {'pf/ours':>7s}")
    for name, w in WEIGHTS.items():
        full_w = {f: w.get(f, 0.0) for f in FIELDS}
        recalls, ours_t = [], []
        exact = {qid: exact_scores(concat, ids, layout, qv, full_w) for qid, qv in queries.items()}
        for qid, qv in queries.items():
            hits, t = timed(lambda: client.search_vectors(qv, full_w, k=10, attributes=False), args.repeats)
            ours_t += t
            recalls.append(tie_recall([h.doc_id for h in hits], exact[qid]))
        recall = float(np.mean(recalls))
        pf = None
        for K in KS:
            pf_rec, pf_t = [], []
            for qid, qv in queries.items():
                top, t = timed(lambda: per_field_search(store, qv, w, K), args.repeats)
                pf_t += t
                pf_rec.append(tie_recall(top, exact[qid]))
            pf = (K, float(np.mean(pf_rec)), pct(pf_t, 50))
            if pf[1] >= recall - 1e-9:
                break
        ratio = pct(ours_t, 50) / pct(single_t, 50)
        print(f"{name:18s} {recall:9.4f} {pct(ours_t, 50):7.2f} {pct(ours_t, 95):7.2f} {ratio:8.2f} "
              f"{pf[0]:10d} {pf[1]:9.4f} {pf[2]:7.2f} {pf[2] / pct(ours_t, 50):7.2f}")
    print("targets: recall@10 >= 0.99 at every weight; p50 x single <= 1.3; pf/ours >= 2 at equal recall "
          "(pf K = the smallest in " + ", ".join(map(str, KS)) + " reaching our recall)")
    if math.isnan(ratio):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
