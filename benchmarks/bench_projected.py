"""Ad-hoc weights through a PROJECTED graph: can a 384-d HNSW replace the 1152-d concatenated one?

An ad-hoc weighting searches the concatenated vector `D = [d_1; d_2; d_3]` with `Q = [w_1 q; w_2 q; w_3 q]`
for a pool that the rescore window ranks exactly by the fused score (docs/search.md). This benchmark adds one
more vector to each document, `P^T D`, where `P` (1152 x --dims) holds the top right singular vectors of the
catalogue's concatenated vectors (uncentred: inner products are what it must keep), and sends the same request
with the knn on that field (`P^T Q`, --dims dimensions) instead of the concatenated one; the rescore window
and everything else are unchanged. Side by side in one run, interleaved per query in rotating order:
- single: one plain knn on the 384-d preset vector, k = 10, beam 200, ids and scores only (issue 15's
  "single-field knn query");
- concat: today's ad-hoc request (knn on the 1152-d vector, the index's ef_search and rescore_depth);
- projected at each (ef, depth) cell.
recall@10 (tie-aware) is against exact brute force of the fused score (numpy, float64).

This is a measurement of a layout, not a feature: the projection lives only here (fitted on the same
catalogue it is tested on; a product would fit it at ingest and keep it with the index). Usage:

    python benchmarks/bench_projected.py --opensearch-url http://127.0.0.1:9351 \
        --store /work/stores/icecat-demo
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

from bench_adhoc import ADHOC, print_single  # noqa: E402
from bench_search import (  # noqa: E402
    FIELDS,
    exact_scores,
    load_fields,
    load_queries,
    ms,
    tie_recall,
    upsert_fields,
)

from gcl_search.config import parse_config  # noqa: E402
from gcl_search.records import Document  # noqa: E402
from gcl_search.search.client import SearchClient  # noqa: E402
from gcl_search.stores.layout import PRESET, DenseField, IndexLayout, LayoutOptions  # noqa: E402
from gcl_search.stores.local import LocalStore  # noqa: E402
from gcl_search.stores.opensearch import OpenSearchStore  # noqa: E402
from gcl_search.stores.opensearch_mapping import CONCAT_FIELD, _vector_mapping  # noqa: E402

PROJ = "gcl_proj"


def projection(concat: np.ndarray, dims: int) -> np.ndarray:
    """(concat_dim, dims) float32: the top right singular vectors of the uncentred concatenated vectors."""
    _, _, vt = np.linalg.svd(concat.astype(np.float64), full_matrices=False)
    return vt[:dims].T.astype(np.float32)


class ProjectedStore(OpenSearchStore):
    """OpenSearchStore that writes `P^T D` beside the other vectors and, when `project` is on, sends a knn on
    the concatenated vector to the projected field instead (`P^T Q`, same k, the beam `proj_ef`)."""

    def __init__(self, *args, p: np.ndarray, **kwargs):
        super().__init__(*args, **kwargs)
        self.p, self.project, self.proj_ef = p, False, 400

    def _bulk_action(self, doc: Document, layout: IndexLayout) -> dict:
        action = super()._bulk_action(doc, layout)
        action["_source"][PROJ] = action["_source"][CONCAT_FIELD] @ self.p
        return action

    def _search(self, body: dict) -> dict:
        knn = body.get("query", {}).get("knn", {})
        if self.project and CONCAT_FIELD in knn:
            clause = knn[CONCAT_FIELD]
            vector = np.asarray(clause["vector"], dtype=np.float32) @ self.p
            body = {
                **body,
                "query": {
                    "knn": {
                        PROJ: {
                            **clause,
                            "vector": vector.tolist(),
                            "method_parameters": {"ef_search": max(self.proj_ef, clause["k"])},
                        }
                    }
                },
            }
        return super()._search(body)


def build(store: ProjectedStore, ids, vecs, present, dims: int) -> str:
    options = LayoutOptions(preset_weights={"title": 0.7, "description": 0.3})
    layout = IndexLayout(tuple(DenseField(f, 384, "minilm") for f in FIELDS), options=options)
    if store.exists() and store.count() == len(ids):
        return "reused"
    store.drop()
    store.create(layout)
    store.client.indices.put_mapping(
        index=store.index, body={"properties": {PROJ: _vector_mapping(layout, dims)}}
    )
    start = time.perf_counter()
    upsert_fields(store, ids, vecs, present)
    store.client.indices.forcemerge(index=store.index, max_num_segments=1, request_timeout=3600)
    return f"built in {time.perf_counter() - start:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opensearch-url", default=os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9201"))
    parser.add_argument("--store", type=Path, default=Path("/work/stores/icecat-demo"))
    parser.add_argument("--index", default="bench-projected")
    parser.add_argument("--dims", type=int, default=384, help="dimensions of the projected vector")
    parser.add_argument("--ef", default="200,400,800", help="the projected knn's beams")
    parser.add_argument("--depth", default="200,300,400", help="rescore_depth values")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per request")
    parser.add_argument("--single-ef", type=int, default=200, help="the single-field knn's beam")
    args = parser.parse_args()
    load_start = os.getloadavg()
    ids, vecs, present = load_fields(args.store)
    state = LocalStore(args.store)._loaded()
    concat = state.concat  # with the imputed blocks, as the index stores it
    assert list(state.ids) == ids
    p = projection(concat, args.dims)
    texts, qmatrix = load_queries()
    store = ProjectedStore(args.opensearch_url, args.index, timeout=120, p=p)
    how = build(store, ids, vecs, present, args.dims)
    config = parse_config(
        {
            "encoders": {"minilm": {"backend": "sentence-transformers", "model": "x"}},
            "fields": [{"name": f, "encoder": "minilm", "weight": 1.0} for f in FIELDS],
        }
    )
    encoders = {"minilm": SimpleNamespace(dim=384)}
    cells = [(ef, d) for d in map(int, args.depth.split(",")) for ef in map(int, args.ef.split(","))]
    clients = {c: SearchClient(store, config, encoders, rescore_depth=c[1]) for c in cells}
    concat_client = SearchClient(store, config, encoders)
    single = store.with_ef_search(args.single_ef)
    opts = store.layout().options
    v64 = vecs.astype(np.float64)
    gram = np.einsum("nfd,ngd->nfg", v64, v64)
    row = {d: i for i, d in enumerate(ids)}
    kept = float(np.linalg.norm(concat @ p) ** 2 / np.linalg.norm(concat) ** 2)
    print(
        f"# bench_projected: {len(ids)} docs, {len(texts)} Icecat judged queries x {args.repeats} repeats, "
        f"k=10, fused score; index {args.index} ({how}; HNSW {opts.opensearch}); projected vector "
        f"{args.dims}-d (top singular vectors of the {concat.shape[1]}-d concatenated vectors, {kept:.1%} "
        f"of their energy); concat = the index's ef_search {opts.opensearch.ef_search}, rescore_depth "
        f"{opts.rescore_depth}; single = knn on the 384-d preset vector, k=10, ef {args.single_ef}; node "
        f"{args.opensearch_url}"
    )
    print(f"# load average before: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")

    def run(key, q, w):
        if key == "single":
            return single.knn(q, 10, target=PRESET)
        store.project = key != "concat"
        if key == "concat":
            return concat_client.search_vectors({f: q for f in FIELDS}, w, k=10)
        store.proj_ef = key[0]
        return clients[key].search_vectors({f: q for f in FIELDS}, w, k=10)

    for q in qmatrix[:20]:  # warm-up: JIT, caches
        for key in ("single", "concat", cells[0]):
            run(key, q, dict(zip(FIELDS, (0.5, 0.3, 0.2))))
    keys = ["single", "concat", *cells]
    recall = {(k, n): [] for k in keys[1:] for n in ADHOC}
    times = {(k, n): [] for k in keys for n in ADHOC}
    for qi, q in enumerate(qmatrix):
        for name, wt in ADHOC.items():
            w = dict(zip(FIELDS, wt))
            exact = exact_scores(q, v64, present, gram, wt, "fused")
            for r in range(max(args.repeats, 1)):
                shift = (qi + r) % len(keys)
                for key in keys[shift:] + keys[:shift]:
                    start = time.perf_counter()
                    hits = run(key, q, w)
                    times[(key, name)].append(time.perf_counter() - start)
                    if key != "single" and r == 0:
                        recall[(key, name)].append(tie_recall([h.doc_id for h in hits], exact, row))
    head = " ".join(f"{n:>11s}" for n in ADHOC)
    print(f"{'path':>7s} {'ef':>5s} {'depth':>5s} | recall@10: {head} {'min':>6s} | p50 ms  x single")
    for key in keys[1:]:
        recs = [float(np.mean(recall[(key, n)])) for n in ADHOC]
        ratios = [ms(times[(key, n)], 50) / ms(times[("single", n)], 50) for n in ADHOC]
        p50 = float(np.median([ms(times[(key, n)], 50) for n in ADHOC]))
        ef, depth = (opts.opensearch.ef_search, opts.rescore_depth) if key == "concat" else key
        path = "concat" if key == "concat" else "proj"
        print(
            f"{path:>7s} {ef:5d} {depth:5d} |            "
            + " ".join(f"{x:11.4f}" for x in recs)
            + f" {min(recs):6.4f} | {p50:6.2f}  {min(ratios):.2f}-{max(ratios):.2f}",
            flush=True,
        )
    print_single([ms(times[("single", n)], 50) for n in ADHOC])
    load_end = os.getloadavg()
    print(f"# load average after: {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")


if __name__ == "__main__":
    main()
