"""Dense multi-field search on a real OpenSearch node and the local store: recall of the fused score and the
latency of its rescoring, side by side with today's request, in one run.

For each of 7 weight settings (k = 10, the 105 Icecat judged queries, all-MiniLM-L6-v2 vectors of title,
description, brand read from a local store, e.g. the `make demo` one):
- fused: `SearchClient.search_vectors` with dense_score "fused" (the default): ONE request, the knn that
  `IndexLayout.knn_plan` picks (the preset vector, exact, at the preset's weights; else the concatenated
  vector with imputed absent blocks, a pool of rescore_depth candidates rescored exactly from their field
  similarities and pairwise dot products, computed by the painless script); "path" says which;
- sum: the same with dense_score "sum" (a pool too, no dot products: the difference is what they cost);
- today: the request main sent before the fused score, through the same SearchClient: the same knn for
  offset + k = 10 hits, field similarities and attributes, no pool, no dot products (the floor the fused
  request is held to: target fused/today <= 1.2);
- recall@10 (tie-aware) of fused and sum against exact brute force (numpy, float64) of the same score, on the
  node and on the local store (exact by construction; measured anyway);
then a pool sweep: fused recall@10 at rescore_depth in POOLS (one untimed request per query).
The requests of one query run back to back in rotating order, so load spikes hit all of them alike.

The index (concatenated vector with imputed blocks + the fused preset vector at --preset weights,
force-merged) is built once (~5-10 min on 2 cores) and reused by later runs with the same parameters;
--rebuild forces it.

    tools/opensearch-node/node.sh start --port 9201
    python benchmarks/bench_search.py --opensearch-url http://127.0.0.1:9201 \
        --store /work/stores/icecat-demo | tee benchmarks/results/search.txt

Elasticsearch 8 instead (same requests through ElasticsearchStore: the pool is rescored client-side from
doc-value vectors; `--index-type int8_hnsw` for the quantized graph), results in
benchmarks/results/search-elasticsearch.txt:

    tools/elasticsearch-node/node.sh start --port 9400
    python benchmarks/bench_search.py --elasticsearch-url http://127.0.0.1:9400 \
        --store /work/stores/icecat-demo | tee benchmarks/results/search-elasticsearch.txt
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gcl_search.config import parse_config  # noqa: E402
from gcl_search.fields.vectors import multi_field_scores  # noqa: E402
from gcl_search.records import Document  # noqa: E402
from gcl_search.search.client import SearchClient  # noqa: E402
from gcl_search.stores.base import DenseField, IndexLayout, LayoutOptions  # noqa: E402
from gcl_search.stores.derived import knn_plan  # noqa: E402
from gcl_search.stores.knn import OpenSearchOptions  # noqa: E402
from gcl_search.stores.local import LocalStore  # noqa: E402
from gcl_search.stores.opensearch import OpenSearchStore  # noqa: E402

FIELDS = ("title", "description", "brand")
WEIGHTS = {
    "2f .7/.3/0": (0.7, 0.3, 0.0),
    "2f .5/.5/0": (0.5, 0.5, 0.0),
    "3f .6/.3/.1": (0.6, 0.3, 0.1),
    "3f 1/3 each": (1 / 3, 1 / 3, 1 / 3),
    "3f .2/.2/.6": (0.2, 0.2, 0.6),
    "title only": (1.0, 0.0, 0.0),
    "descr. only": (0.0, 1.0, 0.0),
}
POOLS = (50, 100, 200, 400)


def load_fields(store_dir: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(ids, (n, 3, 384) float32 field vectors (zeros where absent), (n, 3) present) from a local store."""
    store = LocalStore(store_dir)
    layout, state = store.layout(), store._loaded()
    assert layout.field_names == FIELDS, layout.field_names
    vecs = np.stack([state.concat[:, layout.offsets[f]] for f in FIELDS], axis=1) * state.present[:, :, None]
    return list(state.ids), vecs.astype(np.float32), state.present.copy()


def load_queries() -> tuple[list[str], np.ndarray]:
    """The Icecat judged queries (first-seen order) and their MiniLM vectors."""
    from gcl_search.config import load_config
    from gcl_search.datasets.icecat import judgments_path
    from gcl_search.encoders.registry import load_encoders

    with open(judgments_path(), newline="", encoding="utf-8") as handle:
        texts = list(dict.fromkeys(row["query"] for row in csv.DictReader(handle)))
    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "icecat-demo.toml")
    return texts, np.asarray(load_encoders(config)["minilm"].encode_texts(texts), dtype=np.float32)


def open_store(args: argparse.Namespace, name: str):
    """OpenSearchStore, or ElasticsearchStore with --elasticsearch-url."""
    if args.elasticsearch_url:
        from gcl_search.stores.elasticsearch import ElasticsearchStore

        return ElasticsearchStore(args.elasticsearch_url, name, timeout=120, index_type=args.index_type)
    return OpenSearchStore(args.opensearch_url, name, timeout=120)


def build_index(
    args: argparse.Namespace, name: str, options: LayoutOptions, ids, vecs, present, rebuild: bool
):
    """The bench index, reused when it holds every document and was built with the same parameters."""
    layout = IndexLayout(tuple(DenseField(f, 384, "minilm") for f in FIELDS), options=options)
    store = open_store(args, name)
    if not rebuild and store.exists() and store.count() == len(ids):
        built = store.layout().options
        keys = ("preset_weights", "impute_missing", "preset_fused")
        same = all(getattr(built, key) == getattr(options, key) for key in keys)
        same_type = (
            not args.elasticsearch_url
            or store.engine_meta()["gcl_search_es"]["index_type"] == args.index_type
        )
        if same and same_type and built.opensearch == options.opensearch:
            return store, "reused"
    store.drop()
    store.create(layout)
    start = time.perf_counter()
    upsert_fields(store, ids, vecs, present)
    if args.elasticsearch_url:
        store.client.options(request_timeout=3600).indices.forcemerge(index=name, max_num_segments=1)
    else:
        store.client.indices.forcemerge(index=name, max_num_segments=1, request_timeout=3600)
    return store, f"built in {time.perf_counter() - start:.0f} s"


def upsert_fields(store, ids, vecs, present) -> None:
    """Write the documents' field vectors (`load_fields`' arrays) in bulk-load mode, 1,000 per request."""
    with store.bulk_load():
        for lo in range(0, len(ids), 1000):
            store.upsert(
                Document(ids[i], {f: vecs[i, j] for j, f in enumerate(FIELDS) if present[i, j]})
                for i in range(lo, min(lo + 1000, len(ids)))
            )


def exact_scores(q: np.ndarray, vecs, present, gram, w, method: str) -> np.ndarray:
    sims = np.einsum("nfd,d->nf", vecs, q.astype(np.float64))
    return multi_field_scores(sims, gram, present, np.asarray(w), method)


def tie_recall(found: list[str], exact: np.ndarray, row: dict[str, int], k: int = 10) -> float:
    """Recall@k where a hit counts when its exact score reaches the exact k-th best score (the catalogue
    holds many identical products, so which of several tied documents fill the last places is arbitrary)."""
    bar = np.partition(exact, len(exact) - k)[len(exact) - k]
    return sum(exact[row[d]] >= bar - 1e-6 for d in found[:k]) / k


def today_client(args: argparse.Namespace, index: str, config, encoders) -> SearchClient:
    """main's request before the fused score, through the same client: the store sees the index as a layout
    written before (no imputation, a weighted-sum preset), so the knn is "exact" for the sum and fetches the
    page only, with field similarities and attributes, no pool and no dot products."""
    store = open_store(args, index)
    layout = store.layout()
    store._layout = replace(layout, options=replace(layout.options, impute_missing=False, preset_fused=False))
    return SearchClient(store, config, encoders, dense_score="sum")


def timed(fn) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def ms(times: list[float], p: float) -> float:
    return float(np.percentile(np.array(times) * 1000, p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opensearch-url", default=os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9201"))
    parser.add_argument("--elasticsearch-url", help="bench an Elasticsearch 8 node instead of OpenSearch")
    parser.add_argument(
        "--index-type",
        default="hnsw",
        choices=("hnsw", "int8_hnsw"),
        help="Elasticsearch's dense_vector index type",
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=Path("/work/stores/icecat-demo"),
        help="a local store of the Icecat catalogue with title, description, brand vectors",
    )
    parser.add_argument("--index", default="bench-dense-minilm", help="OpenSearch index name")
    parser.add_argument("--queries", type=int, default=105)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each request per query")
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries first (JIT, caches)")
    defaults = OpenSearchOptions()
    parser.add_argument("--m", type=int, default=defaults.m, help="HNSW m (index time)")
    parser.add_argument("--ef-construction", type=int, default=defaults.ef_construction, help="index time")
    parser.add_argument("--preset", default="0.7,0.3,0", help="preset weights of title,description,brand")
    parser.add_argument("--rebuild", action="store_true", help="re-create the index even if it is reusable")
    parser.add_argument("--no-sweep", action="store_true", help="skip the pool-depth sweep")
    args = parser.parse_args()
    load_start = os.getloadavg()
    ids, vecs, present = load_fields(args.store)
    texts, qmatrix = load_queries()
    qmatrix = qmatrix[: args.queries]
    preset = {f: float(a) for f, a in zip(FIELDS, args.preset.split(",")) if float(a) > 0}
    options = LayoutOptions(
        opensearch=OpenSearchOptions(m=args.m, ef_construction=args.ef_construction), preset_weights=preset
    )
    if args.elasticsearch_url and args.index == "bench-dense-minilm":
        args.index = f"bench-dense-minilm-{args.index_type.replace('_', '-')}"
    store, how = build_index(args, args.index, options, ids, vecs, present, args.rebuild)
    layout = store.layout()
    config = parse_config(
        {
            "encoders": {"minilm": {"backend": "sentence-transformers", "model": "x"}},
            "fields": [{"name": f, "encoder": "minilm", "weight": 1.0} for f in FIELDS],
        }
    )
    encoders = {"minilm": SimpleNamespace(dim=384)}
    client = SearchClient(store, config, encoders)
    today = today_client(args, args.index, config, encoders)
    local = SearchClient(LocalStore(args.store), config, encoders)
    v64 = vecs.astype(np.float64)
    gram = np.einsum("nfd,ngd->nfg", v64, v64)
    row = {d: i for i, d in enumerate(ids)}
    hnsw = layout.options.opensearch
    print(
        f"# bench_search: {len(ids)} docs (all-MiniLM-L6-v2, 3 x 384-d fields, from {args.store}), "
        f"{len(qmatrix)} queries x {args.repeats} repeats, k=10, ef_search {hnsw.ef_search} "
        f"(preset {hnsw.preset_ef_search}), rescore_depth {layout.options.rescore_depth}, preset "
        f"weights {preset}, HNSW m={args.m} ef_construction={args.ef_construction}, index {args.index} "
        f"({how}), node {args.elasticsearch_url or args.opensearch_url}"
        + (f" (Elasticsearch, {args.index_type})" if args.elasticsearch_url else " (OpenSearch)")
    )
    print(f"# load average before: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
    for q in qmatrix[: args.warmup]:
        qv = {f: q for f in FIELDS}
        w = dict(zip(FIELDS, (0.5, 0.3, 0.2)))
        client.search_vectors(qv, w, k=10)
        today.search_vectors(qv, w, k=10)
    print(
        f"{'weights':13s} {'path':6s} | {'fused rec':>9s} {'local':>6s} {'sum rec':>7s} {'local':>6s} | "
        f"{'today':>6s} {'fused':>6s} {'sum':>6s} p50 ms | {'fused/today':>11s} {'sum/today':>9s} "
        f"{'p95 f/t':>7s}"
    )
    ratios = []
    for name, wt in WEIGHTS.items():
        w = dict(zip(FIELDS, wt))
        path = knn_plan(layout, {f: qmatrix[0] for f in FIELDS}, w, "fused")[0].strip("_")
        times: dict[str, list[float]] = {"today": [], "fused": [], "sum": []}
        recall: dict[str, list[float]] = {"fused": [], "sum": [], "local fused": [], "local sum": []}
        for qi, q in enumerate(qmatrix):
            qv = {f: q for f in FIELDS}
            runs = {
                "today": lambda: today.search_vectors(qv, w, k=10),
                "fused": lambda: client.search_vectors(qv, w, k=10, dense_score="fused"),
                "sum": lambda: client.search_vectors(qv, w, k=10, dense_score="sum"),
            }
            order = list(runs)
            got = {}
            for r in range(args.repeats):
                shift = (qi + r) % len(order)
                for key in order[shift:] + order[:shift]:
                    got[key], t = timed(runs[key])
                    times[key].append(t)
            for method in ("fused", "sum"):
                exact = exact_scores(q, v64, present, gram, wt, method)
                recall[method].append(tie_recall([h.doc_id for h in got[method]], exact, row))
                hits = local.search_vectors(qv, w, k=10, dense_score=method)
                recall[f"local {method}"].append(tie_recall([h.doc_id for h in hits], exact, row))
        p50 = {key: ms(t, 50) for key, t in times.items()}
        ratio = p50["fused"] / p50["today"]
        ratios.append(ratio)
        print(
            f"{name:13s} {path:6s} | {np.mean(recall['fused']):9.4f} {np.mean(recall['local fused']):6.4f} "
            f"{np.mean(recall['sum']):7.4f} {np.mean(recall['local sum']):6.4f} | {p50['today']:6.2f} "
            f"{p50['fused']:6.2f} {p50['sum']:6.2f}        | {ratio:11.2f} "
            f"{p50['sum'] / p50['today']:9.2f} "
            f"{ms(times['fused'], 95) / ms(times['today'], 95):7.2f}",
            flush=True,
        )
    print(f"p50 fused / today: {min(ratios):.2f}-{max(ratios):.2f} (target <= 1.2)")
    if not args.no_sweep:
        print(f"# pool sweep: fused recall@10 on the node at rescore_depth {', '.join(map(str, POOLS))}")
        print(f"{'weights':13s} " + " ".join(f"{p:>7d}" for p in POOLS))
        for name, wt in WEIGHTS.items():
            w = dict(zip(FIELDS, wt))
            cells = []
            for pool in POOLS:
                client.rescore_depth = pool
                rec = [
                    tie_recall(
                        [h.doc_id for h in client.search_vectors({f: q for f in FIELDS}, w, k=10)],
                        exact_scores(q, v64, present, gram, wt, "fused"),
                        row,
                    )
                    for q in qmatrix
                ]
                cells.append(float(np.mean(rec)))
            client.rescore_depth = None
            print(f"{name:13s} " + " ".join(f"{c:7.4f}" for c in cells), flush=True)
    load_end = os.getloadavg()
    print(f"# load average after: {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")


if __name__ == "__main__":
    main()
