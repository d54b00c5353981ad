"""Scale benchmark on a multi-node cluster: a deterministic synthetic catalogue around real Icecat vectors.

Catalogue: product i copies a real Icecat product b(i) (drawn with a fixed seed from the 19,406 products of a
full-catalogue local store, all-MiniLM-L6-v2 title/description/brand vectors) and moves each of its field
vectors by Gaussian noise (cosine ~0.93 to the original: `--noise`), renormalised; its texts are b's texts
plus a variant token, so BM25 sees real product language. Neighbourhoods are therefore Icecat-like
(clusters of near-duplicates around real products) at any size. Everything is a pure function of
(seed, i): the exact top 10 is recomputed chunk by chunk, never held in memory.

Layouts (`--layouts`):
- preset: the single-vector layout, one 384-d vector per product (`sum_f a_f d_f` at the configured
  weights title .7 / description .3; LayoutOptions(concat=False, preset_weights=...)). A configured-weight
  hybrid request is one _msearch: knn on that vector + BM25, ids and scores.
- concat: the product's default index with `[index] preset_vector = true`: the concatenated 1,152-d vector
  plus the preset vector; requests go through `OpenSearchStore.candidates` (what the search client sends):
  configured weights take the preset vector, ad-hoc weights (.5/.3/.2) the concatenated one, both with exact
  field similarities per hit (script_fields) and BM25 in the same _msearch.

Per size and layout: ingest docs/s (one client, 500-doc bulks, replicas kept, refresh at the end), disk
(primaries and total, bytes per product), JVM heap in use across nodes, segments, recall@10 of the dense
top 10 vs exact (float64) and p50/p95 latency over the 105 judged Icecat queries (MiniLM), after a warm-up.

    tools/opensearch-node/node.sh start --nodes 3 --port 9220
    nice python benchmarks/bench_scale.py --opensearch-url http://127.0.0.1:9220,http://127.0.0.1:9221,\\
        http://127.0.0.1:9222 --sizes 10000,100000 | tee -a benchmarks/results/scale.txt
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gcl_search.records import Document  # noqa: E402
from gcl_search.stores.base import DenseField, IndexLayout, LayoutOptions, LexicalQuery  # noqa: E402
from gcl_search.stores.opensearch import OpenSearchStore  # noqa: E402

FIELDS = ("title", "description", "brand")
DIM = 384
PRESET = {"title": 0.7, "description": 0.3}
ADHOC = {"title": 0.5, "description": 0.3, "brand": 0.2}
CHUNK = 5000
QUERY_CACHE = Path.home() / ".cache" / "gcl-search" / "bench" / "icecat_minilm_queries_judged.npz"
RESULTS = Path(__file__).resolve().parent / "results"


class Source:
    """The real Icecat products of a local store: field vectors (n, 3, 384), presence (n, 3) and texts."""

    def __init__(self, store_dir: Path):
        segments = json.loads((store_dir / "manifest.json").read_text())["segments"]
        vecs, present, texts = [], [], []
        for seg in segments:
            with np.load(store_dir / f"{seg}.npz") as data:
                vecs.append(data["concat"].reshape(-1, len(FIELDS), DIM))
                present.append(data["present"])
            with open(store_dir / f"{seg}.jsonl", encoding="utf-8") as handle:
                texts += [json.loads(line)["texts"] for line in handle]
        self.vectors, self.present, self.texts = np.concatenate(vecs), np.concatenate(present), texts
        assert len(self.texts) == len(self.vectors)


def synth_chunk(src: Source, lo: int, hi: int, seed: int, noise: float):
    """Products lo..hi-1: (base ids, vectors (m, 3, 384) float32 unit or zero, presence (m, 3))."""
    rng = np.random.default_rng([seed, lo])
    base = rng.integers(0, len(src.vectors), size=hi - lo)
    vecs = src.vectors[base] + rng.normal(scale=noise / math.sqrt(DIM), size=(hi - lo, len(FIELDS), DIM))
    present = src.present[base]
    vecs *= present[:, :, None]
    norms = np.linalg.norm(vecs, axis=2, keepdims=True)
    vecs = np.divide(vecs, norms, out=np.zeros_like(vecs), where=norms > 0)
    return base, vecs.astype(np.float32), present


def documents(src: Source, n: int, seed: int, noise: float):
    for lo in range(0, n, CHUNK):
        base, vecs, present = synth_chunk(src, lo, min(n, lo + CHUNK), seed, noise)
        for j, b in enumerate(base):
            i = lo + j
            texts = dict(src.texts[b])
            texts["title"] = f"{texts.get('title', '')} v{i % 997}"
            yield Document(f"p{i:08d}", {f: vecs[j, k] for k, f in enumerate(FIELDS) if present[j, k]}, texts)


def exact_top(src: Source, n: int, seed: int, noise: float, queries: np.ndarray, weights: dict, k: int = 10):
    """Exact top-k ids per query of sum_f w_f q . d_f over the synthetic catalogue (float64)."""
    w = np.array([weights.get(f, 0.0) for f in FIELDS])
    best_s = np.full((len(queries), 0), -np.inf)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    q = queries.astype(np.float64)
    for lo in range(0, n, CHUNK):
        _, vecs, _ = synth_chunk(src, lo, min(n, lo + CHUNK), seed, noise)
        doc = np.einsum("f,mfd->md", w, vecs.astype(np.float64))
        scores = q @ doc.T
        best_s = np.concatenate([best_s, scores], axis=1)
        best_i = np.concatenate([best_i, np.broadcast_to(np.arange(lo, lo + len(doc)), scores.shape)], axis=1)
        keep = np.argsort(-best_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
    return [[f"p{i:08d}" for i in row] for row in best_i]


def load_queries() -> tuple[list[str], np.ndarray]:
    """The 105 judged Icecat queries and their MiniLM vectors (the cache bench_search.py also uses)."""
    if not QUERY_CACHE.is_file():
        import csv

        from gcl_search.config import load_config
        from gcl_search.datasets.icecat import judgments_path
        from gcl_search.encoders.registry import load_encoders

        with open(judgments_path(), newline="", encoding="utf-8") as handle:
            texts = list(dict.fromkeys(row["query"] for row in csv.DictReader(handle)))
        config = load_config(Path(__file__).resolve().parents[1] / "configs" / "icecat.toml")
        vectors = load_encoders(config)["minilm"].encode_texts(texts)
        QUERY_CACHE.parent.mkdir(parents=True, exist_ok=True)
        tmp = QUERY_CACHE.with_suffix(".tmp.npz")
        np.savez(tmp, texts=np.array(texts), vectors=vectors)
        tmp.replace(QUERY_CACHE)
    with np.load(QUERY_CACHE) as data:
        return [str(t) for t in data["texts"]], data["vectors"].astype(np.float32)


def layout_for(name: str) -> IndexLayout:
    dense = tuple(DenseField(f, DIM, "minilm") for f in FIELDS)
    # The layout as measured in results/scale.txt (before issue 13's fused preset and imputed blocks):
    # preset = sum_f a_f d_f, absent fields zero, which is what exact_top scores.
    options = LayoutOptions(
        concat=name == "concat", preset_weights=PRESET, preset_fused=False, impute_missing=False
    )
    return IndexLayout(dense, FIELDS, (), options)


def cluster_stats(store: OpenSearchStore, index: str) -> dict:
    c = store.client
    row = c.cat.indices(index=index, format="json", bytes="b", h="pri.store.size,store.size")[0]
    nodes = c.nodes.stats(metric="jvm,indices")["nodes"].values()
    segs = c.indices.segments(index=index)["indices"][index]["shards"]
    n_segments = sum(
        len(copy["segments"]) for copies in segs.values() for copy in copies if copy["routing"]["primary"]
    )
    return {
        "pri_bytes": int(row["pri.store.size"]),
        "total_bytes": int(row["store.size"]),
        "heap_used": sum(n["jvm"]["mem"]["heap_used_in_bytes"] for n in nodes),
        "heap_max": sum(n["jvm"]["mem"]["heap_max_in_bytes"] for n in nodes),
        "primary_segments": n_segments,
    }


def preset_request(store: OpenSearchStore, q: np.ndarray, text: str, depth: int, ef: int) -> list[str]:
    """The single-vector layout's configured-weight hybrid request: knn on the preset vector + BM25, one
    _msearch, ids and scores only; returns the dense top 10."""
    knn = {"gcl_preset": {"vector": q.tolist(), "k": depth, "method_parameters": {"ef_search": ef}}}
    lines = [
        {},
        {"size": depth, "_source": False, "query": {"knn": knn}},
        {},
        {
            "size": depth,
            "_source": False,
            "query": {"multi_match": {"query": text, "fields": [f"text.{f}" for f in FIELDS]}},
        },
    ]
    responses = store.client.msearch(index=store.index, body=lines)["responses"]
    assert all(not r.get("_shards", {}).get("failed") for r in responses), responses
    return [h["_id"] for h in responses[0]["hits"]["hits"][:10]]


def product_request(store: OpenSearchStore, q: np.ndarray, text: str, weights: dict, depth: int) -> list[str]:
    """`OpenSearchStore.candidates` as the search client calls it (knn + BM25, exact field sims); returns the
    dense top 10 by the exact weighted score."""
    dense, _ = store.candidates(
        {f: q for f in FIELDS}, weights, depth, lexical=LexicalQuery(text, None, depth), attributes=False
    )
    scored = sorted(dense, key=lambda c: -sum(weights.get(f, 0.0) * s for f, s in c.field_scores.items()))
    return [c.doc_id for c in scored[:10]]


def pct(times: list[float], p: float) -> float:
    return float(np.percentile(np.array(times) * 1000, p))


def run_one(args, src: Source, texts: list[str], queries: np.ndarray, n: int, layout_name: str) -> dict:
    index = f"bench-scale-{layout_name}-{n}"
    store = OpenSearchStore(
        args.opensearch_url,
        index,
        shards=args.shards,
        replicas=args.replicas,
        timeout=600,
        max_retries=3,
        retry_on_timeout=True,
    )
    layout = layout_for(layout_name)
    result = {"layout": layout_name, "n": n, "shards": args.shards, "replicas": args.replicas}
    if args.reuse and store.exists() and store.count() == n:
        result["ingest_docs_s"] = None
    else:
        store.drop()
        store.create(layout)
        start, batch, done = time.perf_counter(), [], 0
        with store.bulk_load():
            for doc in documents(src, n, args.seed, args.noise):
                batch.append(doc)
                if len(batch) == 500:
                    report = store.upsert(batch)
                    assert not report.failed, report.failed[:3]
                    done, batch = done + len(batch), []
                    if done % 20000 == 0:
                        print(
                            f"  {layout_name} {n}: {done} docs, {done / (time.perf_counter() - start):.0f} "
                            "docs/s",
                            file=sys.stderr,
                            flush=True,
                        )
            if batch:
                assert not store.upsert(batch).failed
        store.client.cluster.health(
            index=index, wait_for_status="green", params={"timeout": "600s"}, request_timeout=620
        )
        result["ingest_s"] = time.perf_counter() - start
        result["ingest_docs_s"] = n / result["ingest_s"]
    assert store.count() == n
    result.update(cluster_stats(store, index))
    preset_ef = args.preset_ef or layout.options.opensearch.preset_ef_search
    result["preset_ef"] = preset_ef
    requests = {
        "configured": lambda q, t: (
            preset_request(store, q, t, 30, preset_ef)
            if layout_name == "preset"
            else product_request(store, q, t, PRESET, 30)
        )
    }
    if layout_name == "concat":
        requests["adhoc"] = lambda q, t: product_request(store, q, t, ADHOC, 30)
    nq = min(args.queries, len(texts))
    for kind, fn in requests.items():
        weights = PRESET if kind == "configured" else ADHOC
        exact = exact_top(src, n, args.seed, args.noise, queries[:nq], weights)
        for i in range(min(args.warmup, nq)):
            fn(queries[i], texts[i])
        times, recalls = [], []
        for _ in range(args.repeats):
            for i in range(nq):
                t0 = time.perf_counter()
                found = fn(queries[i], texts[i])
                times.append(time.perf_counter() - t0)
                recalls.append(len(set(found) & set(exact[i])) / 10)
        result[kind] = {
            "p50_ms": pct(times, 50),
            "p95_ms": pct(times, 95),
            "recall10": float(np.mean(recalls)),
        }
    if not args.keep:
        store.drop()
    return result


def line(r: dict) -> str:
    mb = 1024 * 1024
    ingest = f"{r['ingest_docs_s']:7.0f}" if r.get("ingest_docs_s") else "  reuse"
    out = (
        f"{r['layout']:<7} {r.get('preset_ef', 200):>4} {r['n']:>9,} {ingest} "
        f"{r['pri_bytes'] / mb:9.1f} {r['total_bytes'] / mb:9.1f} "
        f"{r['pri_bytes'] / r['n']:8.0f} {r['heap_used'] / mb:7.0f} {r['primary_segments']:5d}"
    )
    for kind in ("configured", "adhoc"):
        m = r.get(kind)
        out += (
            f"  {m['recall10']:.3f} {m['p50_ms']:6.1f} {m['p95_ms']:6.1f}" if m else "      -      -      -"
        )
    return out


HEADER = (
    "layout   ef        docs  docs/s   pri MB  total MB  B/prod  heapMB  segs  "
    "conf: R@10    p50    p95  adhoc: R@10   p50    p95"
)


def plot(rows: list[dict], path: Path) -> None:
    """Store and ingest time of each fresh ingest, and p50 / recall@10 per (layout, beam) against size (the
    latest row of each; a --reuse row re-measures a kept index, e.g. at another --preset-ef)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fresh = [r for r in rows if r.get("ingest_docs_s")]
    latest = {(r["layout"], r.get("preset_ef", 200), r["n"]): r for r in rows}
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    for name in sorted({r["layout"] for r in fresh}):
        rs = sorted((r for r in fresh if r["layout"] == name), key=lambda r: r["n"])
        n = [r["n"] for r in rs]
        axes[0].plot(n, [r["pri_bytes"] / 2**20 for r in rs], "o-", label=name)
        axes[1].plot(n, [r["n"] / r["ingest_docs_s"] / 60 for r in rs], "o-", label=name)
    for name, ef in sorted({key[:2] for key in latest}):
        rs = sorted((r for key, r in latest.items() if key[:2] == (name, ef)), key=lambda r: r["n"])
        for kind, style in (("configured", "o-"), ("adhoc", "s--")):
            ms = [r for r in rs if kind in r]
            if ms:
                label = f"{name} {kind}" + (f" ef {ef}" if name == "preset" else "")
                n = [r["n"] for r in ms]
                axes[2].plot(n, [r[kind]["p50_ms"] for r in ms], style, label=label)
                axes[3].plot(n, [r[kind]["recall10"] for r in ms], style, label=label)
    titles = (
        "primary store (MiB)",
        "ingest (minutes, 1 client)",
        "hybrid p50 (ms)",
        "dense recall@10 vs exact",
    )
    for ax, title in zip(axes, titles):
        ax.set_xscale("log")
        if ax is not axes[3]:
            ax.set_yscale("log")
        ax.set_xlabel("products")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    axes[3].axhline(0.99, color="grey", linestyle=":", linewidth=1)
    fig.suptitle("bench_scale: 3 OpenSearch 3.5 nodes on one 2-core machine, 3 shards, 1 replica", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opensearch-url", required=True, help="comma-separated node URLs of the cluster")
    parser.add_argument(
        "--source",
        type=Path,
        default=Path("/work/stores/icecat-demo"),
        help="a full-catalogue local store with MiniLM title/description/brand vectors",
    )
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--layouts", default="preset,concat")
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--noise", type=float, default=0.4, help="noise norm per field vector")
    parser.add_argument("--queries", type=int, default=105)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--preset-ef",
        type=int,
        help="HNSW beam of the preset-vector requests (default: the layout's preset_ef_search, 200)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the indices (default: drop each after use)")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept index of the same size")
    parser.add_argument("--json", type=Path, default=RESULTS / "scale.jsonl", help="append each row here")
    parser.add_argument("--plot", type=Path, default=RESULTS / "scale.png")
    args = parser.parse_args()

    src = Source(args.source)
    texts, queries = load_queries()
    health = OpenSearchStore(args.opensearch_url, "x").client.cluster.health()
    print(
        f"# bench_scale: {health['number_of_nodes']} nodes, {args.shards} shards, {args.replicas} "
        "replica(s); "
        f"source {len(src.vectors):,} real products; noise {args.noise}; seed {args.seed}; "
        f"{min(args.queries, len(texts))} queries x {args.repeats}"
    )
    print(HEADER, flush=True)
    for n in (int(s) for s in args.sizes.split(",")):
        for name in args.layouts.split(","):
            r = run_one(args, src, texts, queries, n, name)
            print(line(r), flush=True)
            with open(args.json, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(r) + "\n")
    rows = [json.loads(x) for x in args.json.read_text().splitlines() if x.strip()]
    plot(rows, args.plot)


if __name__ == "__main__":
    main()
