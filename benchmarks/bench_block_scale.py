"""Ad-hoc weights: does shrinking the brand block of the concatenated vector make its graph easier to walk?

The ad-hoc request searches `D = [d_title; d_descr; d_brand]` with `Q = [w_1 q; w_2 q; w_3 q]` and ranks a
pool exactly (docs/search.md); storing `[d_title; d_descr; s d_brand]` and asking `[w_1 q; w_2 q; (w_3 / s)
q]` gives the SAME inner products, so the pool's scores do not change, but the graph does: identical brand
vectors pull same-brand products together (docs/stores.md), and the description-only weighting needs the
widest beam. This is an offline proxy, not the node: faiss `IndexHNSWFlat` (M 16, efConstruction 200, inner
product, one thread) on the demo store's concatenated vectors, each brand scale `s` side by side in one run.
Per (s, ef): recall@10 (tie-aware) of the pool's exact fused ranking against brute force (numpy, float64), and
the graph walk's distance computations per query (faiss `hnsw_stats.ndis`, as a ratio to s = 1 at the same
ef), the cost Lucene's walk also scales with. `--project D` searches bench_projected.py's D-dim SVD
projection of the scaled vectors instead. Usage:

    python benchmarks/bench_block_scale.py --store /work/stores/icecat-demo [--titles 200] [--project 384]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_adhoc import ADHOC, title_queries  # noqa: E402
from bench_projected import projection  # noqa: E402
from bench_search import exact_scores, load_fields, load_queries  # noqa: E402

from gcl_search.stores.local import LocalStore  # noqa: E402


def tie_recall(pool: np.ndarray, exact: np.ndarray, k: int = 10) -> float:
    """Share of the pool's exact top k that are tied with or above the true k-th score."""
    kth = np.sort(exact)[-k]
    top = pool[np.argsort(-exact[pool], kind="stable")][:k]
    return float(np.mean(exact[top] >= kth - 1e-9))


def main() -> None:
    import faiss

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("/work/stores/icecat-demo"))
    parser.add_argument("--scales", default="1,0.5,0.25", help="brand block scales s")
    parser.add_argument("--ef", default="400,800,1600", help="efSearch values")
    parser.add_argument("--pool", type=int, default=200, help="the rescore pool (rescore_depth)")
    parser.add_argument("--titles", type=int, default=0, help="use N catalogue titles as queries instead")
    parser.add_argument(
        "--project", type=int, default=0, help="search a D-dim SVD projection (bench_projected)"
    )
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    load_start = os.getloadavg()
    ids, vecs, present = load_fields(args.store)
    concat = LocalStore(args.store)._loaded().concat.astype(np.float32)  # imputed blocks, as indexed
    _, queries = title_queries(args.titles) if args.titles else load_queries()
    v64 = vecs.astype(np.float64)
    gram = np.einsum("nfd,ngd->nfg", v64, v64)
    exact = {n: [exact_scores(q, v64, present, gram, w, "fused") for q in queries] for n, w in ADHOC.items()}
    dim = concat.shape[1] // 3
    print(f"# {len(ids)} products, {len(queries)} queries, pool {args.pool}; cells: recall@10 / ndis (x s=1)")
    base_ndis: dict[tuple[int, str], float] = {}
    for s in map(float, args.scales.split(",")):
        scale = np.repeat(np.array([1.0, 1.0, s], dtype=np.float32), dim)
        p = (
            projection(concat * scale, args.project)
            if args.project
            else np.eye(concat.shape[1], dtype=np.float32)
        )
        index = faiss.IndexHNSWFlat(p.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 200
        index.add(concat * scale @ p)
        for ef in map(int, args.ef.split(",")):
            index.hnsw.efSearch = ef
            cells, worst = [], 1.0
            for name, w in ADHOC.items():
                block = np.repeat(np.array([w[0], w[1], w[2] / s], dtype=np.float32), dim)
                faiss.cvar.hnsw_stats.reset()
                _, found = index.search(np.tile(queries, 3) * block @ p, args.pool)
                ndis = faiss.cvar.hnsw_stats.ndis / len(queries)
                base_ndis.setdefault((ef, name), ndis)
                rec = np.mean([tie_recall(f[f >= 0], e) for f, e in zip(found, exact[name])])
                worst = min(worst, rec)
                cells.append(f"{name} {rec:.4f}/{ndis / base_ndis[ef, name]:.2f}")
            print(f"s {s:g} ef {ef}: worst {worst:.4f} | " + " | ".join(cells), flush=True)
    print(f"# load average before / after: {load_start[0]:.1f} / {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
