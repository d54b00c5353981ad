"""Layout sweep: recall@10 of the concatenated-vector search vs exact weighted brute force, per HNSW knob.

Data: the Icecat catalogue (19,406 products) with all-MiniLM-L6-v2 vectors of title, description and brand
(`bench_search.load_fields`), the 105 judged queries, and the weight settings of `bench_search.WEIGHTS`
(two with brand at weight 0, two single-field). For each ef_search (and candidate depth) it runs our full
request (`SearchClient.search_vectors`, one round trip) and prints tie-aware recall@10 per weight setting,
the minimum over settings, and p50 latency. Index-time knobs (m, ef_construction) need one index each:
`--m/--ef-construction` build (or reuse) `bench-layout-m<m>-efc<efc>` with the concatenated vector only.

    python benchmarks/bench_layout.py --url http://127.0.0.1:9260 --index bench-search-minilm-19406 \
        --ef 200,400,800,1200,1600
    python benchmarks/bench_layout.py --url http://127.0.0.1:9260 --m 32 --ef 200,400,800
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_search import FIELDS, WEIGHTS, build_index, load_fields, load_queries, tie_recall  # noqa: E402

from gcl_search.config import parse_config  # noqa: E402
from gcl_search.search.client import SearchClient  # noqa: E402
from gcl_search.stores.base import LayoutOptions  # noqa: E402
from gcl_search.stores.knn import OpenSearchOptions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9260"))
    parser.add_argument("--index", help="an existing bench index (default: build/reuse one for --m/--efc)")
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef", default="200,400,800", help="comma-separated ef_search values")
    parser.add_argument("--depth", default="30", help="comma-separated candidate depths (k x oversample)")
    parser.add_argument("--queries", type=int, default=105)
    args = parser.parse_args()
    load = os.getloadavg()
    ids, vecs, present = load_fields()
    _, qmatrix = load_queries()
    qmatrix = qmatrix[: args.queries]
    if args.index:
        from gcl_search.stores.opensearch import OpenSearchStore

        store, how = OpenSearchStore(args.url, args.index), "existing"
    else:
        name = f"bench-layout-m{args.m}-efc{args.ef_construction}"
        options = LayoutOptions(opensearch=OpenSearchOptions(m=args.m, ef_construction=args.ef_construction))
        store, how = build_index(args.url, name, options, ids, vecs, present, rebuild=False)
    opts = store.layout().options.opensearch
    config = parse_config(
        {
            "encoders": {"minilm": {"backend": "sentence-transformers", "model": "x"}},
            "fields": [{"name": f, "encoder": "minilm", "weight": 1.0} for f in FIELDS],
        }
    )
    concat = np.concatenate([vecs[f] * present[f][:, None] for f in FIELDS], axis=1).astype(np.float64)
    row = {d: i for i, d in enumerate(ids)}
    exact = {
        (name, qi): concat @ np.concatenate([wf * q.astype(np.float64) for wf in wt])
        for name, wt in WEIGHTS.items()
        for qi, q in enumerate(qmatrix)
    }
    print(
        f"# bench_layout: {len(ids)} docs, {len(qmatrix)} queries, index {store.index} ({how}; HNSW "
        f"m={opts.m} ef_construction={opts.ef_construction}), node {args.url}; load average before "
        f"{load[0]:.2f}"
    )
    names = "  ".join(f"{n:>11s}" for n in WEIGHTS)
    print(f"{'ef':>5s} {'depth':>5s} {'min rec':>7s} {'p50 ms':>6s}  {names}")
    for depth in (int(x) for x in args.depth.split(",")):
        for ef in (int(x) for x in args.ef.split(",")):
            client = SearchClient(
                store, config, {"minilm": SimpleNamespace(dim=384)}, oversample=depth / 10, ef_search=ef
            )
            recalls, times = [], []
            for name, wt in WEIGHTS.items():
                w = dict(zip(FIELDS, wt))
                rec = []
                for qi, q in enumerate(qmatrix):
                    start = time.perf_counter()
                    hits = client.search_vectors({f: q for f in FIELDS}, w, k=10)
                    times.append(time.perf_counter() - start)
                    rec.append(tie_recall([h.doc_id for h in hits], exact[name, qi], row))
                recalls.append(float(np.mean(rec)))
            print(
                f"{ef:5d} {depth:5d} {min(recalls):7.4f} {1000 * np.median(times):6.1f}  "
                + "  ".join(f"{r:11.4f}" for r in recalls),
                flush=True,
            )
    load = os.getloadavg()
    print(f"# load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
