"""Ad-hoc weights on OpenSearch: fused recall@10 and latency vs a single-field knn over a grid of the HNSW
beam (`ef_search`) and the rescoring pool (`rescore_depth`), in one run.

An ad-hoc weighting (not the preset's) runs one knn on the concatenated vector for a pool of `rescore_depth`
candidates at beam `ef_search`, which a rescore window ranks exactly by the fused score (docs/search.md). For
each query, each of the 6 concatenated-path weightings of bench_search.py and each (ef, depth) cell, the
request runs through `SearchClient.search_vectors` back to back with the floor, in rotating order:
- single: one plain knn on a 384-d vector (the preset vector: one field's size and graph), k = 10, beam 200,
  ids and scores only (what issue 15 calls "a single-field knn query");
recall@10 (tie-aware) is against exact brute force of the fused score (numpy, float64), so any query set will
do: the 105 Icecat judged queries (--query-set judged) or --titles N product titles of the catalogue used as
queries (a second set, drawn with a fixed seed).

The index is bench_search.py's (built there, reused here):

    python benchmarks/bench_adhoc.py --opensearch-url http://127.0.0.1:9201 --store /work/stores/icecat-demo \
        --ef 400,600,800,1000,1200,1600 --depth 200,400
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_search import FIELDS, WEIGHTS, exact_scores, load_fields, load_queries, ms, tie_recall  # noqa: E402

from gcl_search.config import parse_config  # noqa: E402
from gcl_search.search.client import SearchClient  # noqa: E402
from gcl_search.stores.layout import PRESET  # noqa: E402
from gcl_search.stores.opensearch import OpenSearchStore  # noqa: E402

ADHOC = {name: w for name, w in WEIGHTS.items() if name != "2f .7/.3/0"}  # the preset takes its own vector


def title_queries(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """`n` product titles of the catalogue (a fixed random sample) and their MiniLM vectors."""
    from gcl_search.config import load_config
    from gcl_search.datasets.icecat import iter_catalogue
    from gcl_search.encoders.registry import load_encoders

    titles = sorted({r["title"] for r in iter_catalogue() if r.get("title")})
    pick = np.random.default_rng(seed).choice(len(titles), size=n, replace=False)
    texts = [titles[i] for i in sorted(pick)]
    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "icecat-demo.toml")
    return texts, np.asarray(load_encoders(config)["minilm"].encode_texts(texts), dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opensearch-url", default=os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9201"))
    parser.add_argument("--store", type=Path, default=Path("/work/stores/icecat-demo"))
    parser.add_argument("--index", default="bench-dense-minilm", help="bench_search.py's index")
    parser.add_argument("--ef", default="400,600,800,1000,1200,1600", help="ef_search values")
    parser.add_argument("--depth", default="200,400", help="rescore_depth values")
    parser.add_argument("--titles", type=int, default=0, help="use N catalogue titles as queries instead")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per request (0: recall only)")
    parser.add_argument("--single-ef", type=int, default=200, help="the single-field knn's beam")
    args = parser.parse_args()
    load_start = os.getloadavg()
    ids, vecs, present = load_fields(args.store)
    texts, qmatrix = title_queries(args.titles) if args.titles else load_queries()
    store = OpenSearchStore(args.opensearch_url, args.index, timeout=120)
    config = parse_config(
        {
            "encoders": {"minilm": {"backend": "sentence-transformers", "model": "x"}},
            "fields": [{"name": f, "encoder": "minilm", "weight": 1.0} for f in FIELDS],
        }
    )
    encoders = {"minilm": SimpleNamespace(dim=384)}
    cells = [(ef, d) for d in map(int, args.depth.split(",")) for ef in map(int, args.ef.split(","))]
    clients = {c: SearchClient(store, config, encoders, ef_search=c[0], rescore_depth=c[1]) for c in cells}
    single = store.with_ef_search(args.single_ef)
    v64 = vecs.astype(np.float64)
    gram = np.einsum("nfd,ngd->nfg", v64, v64)
    row = {d: i for i, d in enumerate(ids)}
    qset = f"{args.titles} catalogue titles" if args.titles else f"{len(texts)} Icecat judged queries"
    print(
        f"# bench_adhoc: {len(ids)} docs, {qset} x {args.repeats} repeats, k=10, fused score, index "
        f"{args.index} (HNSW {store.layout().options.opensearch}), node {args.opensearch_url}; single = knn "
        f"on the 384-d preset vector, k=10, ef {args.single_ef}"
    )
    print(f"# load average before: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
    for q in qmatrix[:20]:  # warm-up: JIT, caches
        single.knn(q, 10, target=PRESET)
        clients[cells[0]].search_vectors({f: q for f in FIELDS}, dict(zip(FIELDS, (0.5, 0.3, 0.2))), k=10)
    recall = {(c, n): [] for c in cells for n in ADHOC}
    times: dict[tuple[str, str], list[float]] = {("single", n): [] for n in ADHOC}
    per_w = {(c, n): [] for c in cells for n in ADHOC}
    for qi, q in enumerate(qmatrix):
        qv = {f: q for f in FIELDS}
        for name, wt in ADHOC.items():
            w = dict(zip(FIELDS, wt))
            exact = exact_scores(q, v64, present, gram, wt, "fused")
            keys = ["single", *cells]
            for r in range(max(args.repeats, 1)):
                shift = (qi + r) % len(keys)
                for key in keys[shift:] + keys[:shift]:
                    start = time.perf_counter()
                    if key == "single":
                        if args.repeats:
                            single.knn(q, 10, target=PRESET)
                            times[("single", name)].append(time.perf_counter() - start)
                        continue
                    hits = clients[key].search_vectors(qv, w, k=10)
                    if args.repeats:
                        per_w[(key, name)].append(time.perf_counter() - start)
                    if r == 0:
                        recall[(key, name)].append(tie_recall([h.doc_id for h in hits], exact, row))
    head = " ".join(f"{n:>11s}" for n in ADHOC)
    print(f"{'ef':>5s} {'depth':>5s} | recall@10: {head} {'min':>6s}", end="")
    print(" | p50 ms  x single (range over weightings)" if args.repeats else "")
    for c in cells:
        recs = [float(np.mean(recall[(c, n)])) for n in ADHOC]
        line = (
            f"{c[0]:5d} {c[1]:5d} |            " + " ".join(f"{x:11.4f}" for x in recs) + f" {min(recs):6.4f}"
        )
        if args.repeats:
            ratios = [ms(per_w[(c, n)], 50) / ms(times[("single", n)], 50) for n in ADHOC]
            p50 = float(np.median([ms(per_w[(c, n)], 50) for n in ADHOC]))
            line += f" | {p50:6.2f}  {min(ratios):.2f}-{max(ratios):.2f}"
        print(line, flush=True)
    if args.repeats:
        print_single([ms(times[("single", n)], 50) for n in ADHOC])
    load_end = os.getloadavg()
    print(f"# load average after: {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")


def print_single(p50s: list[float]) -> None:
    """The floor's line: the single-field knn's p50 over the weightings' interleaved runs."""
    print(f"# single p50 ms: {min(p50s):.2f}-{max(p50s):.2f} (per weighting's interleaved runs)")


if __name__ == "__main__":
    main()
