"""Does lucene's int7 scalar quantization make the concatenated-vector search cheaper? Side by side, one run.

A copy of the concatenated vectors of bench_search's index goes into `probe-sq` (lucene HNSW, m=16,
ef_construction=200, `encoder: sq`, confidence_interval 1.0); each query then runs, in rotating order,
- float: the float index's `gcl_concat` knn (bench_search's index, which must exist), k = 10;
- sq k10: the quantized index, k = 10;
- sq k30: the quantized index, k = 30, re-ranked exactly by the client and cut to 10 (what our client would
  have to do: quantized scores only choose the candidates; the exact field similarities come from doc values),
ids only, at several beams, beside a single-field knn (one 384-d vector, beam 200: the floor of the latency
targets). Printed: tie-aware recall@10 against exact weighted brute force, p50 latency, and p50 / single.

    tools/opensearch-node/node.sh start --port 9260
    python benchmarks/bench_search.py --opensearch-url http://127.0.0.1:9260 --queries 1 --repeats 1  # index
    python benchmarks/bench_quantized.py --opensearch-url http://127.0.0.1:9260 \
        | tee benchmarks/results/quantized.txt
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_search import WEIGHTS, load_fields, load_queries, tie_recall  # noqa: E402
from opensearchpy import helpers  # noqa: E402

from gcl_search.stores.connection import connect  # noqa: E402

SQ_INDEX = "probe-sq"


def build(client, concat: np.ndarray, ids: list[str]) -> str:
    if client.indices.exists(index=SQ_INDEX) and client.count(index=SQ_INDEX)["count"] == len(ids):
        return "reused"
    client.indices.delete(index=SQ_INDEX, ignore_unavailable=True)
    method = {
        "name": "hnsw",
        "engine": "lucene",
        "space_type": "innerproduct",
        "parameters": {
            "m": 16,
            "ef_construction": 200,
            "encoder": {"name": "sq", "parameters": {"confidence_interval": 1.0}},
        },
    }
    client.indices.create(
        index=SQ_INDEX,
        body={
            "settings": {"index": {"knn": True, "number_of_shards": 1, "number_of_replicas": 0}},
            "mappings": {
                "_source": {"excludes": ["v"]},
                "properties": {"v": {"type": "knn_vector", "dimension": concat.shape[1], "method": method}},
            },
        },
    )
    start = time.perf_counter()
    actions = ({"_index": SQ_INDEX, "_id": d, "_source": {"v": concat[i]}} for i, d in enumerate(ids))
    helpers.bulk(client, actions, chunk_size=500, request_timeout=3600)
    client.indices.refresh(index=SQ_INDEX)
    client.indices.forcemerge(index=SQ_INDEX, max_num_segments=1, request_timeout=3600)
    return f"built in {time.perf_counter() - start:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opensearch-url", default=os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9260"))
    parser.add_argument("--store", type=Path, default=Path("/work/stores/icecat-demo"), help="bench_search's")
    parser.add_argument("--float-index", default="bench-search-minilm-19406")
    parser.add_argument("--ef", default="400,800,1600", help="beams to try")
    parser.add_argument("--weights", default="2f .5/.5/0,3f .6/.3/.1,descr. only", help="bench_search rows")
    args = parser.parse_args()
    client = connect(args.opensearch_url, timeout=3600)[0]
    ids, vecs, present = load_fields(args.store)
    _, queries = load_queries()
    concat = (vecs * present[:, :, None]).reshape(len(ids), -1).astype(np.float32)  # absent fields: zeros
    how = build(client, concat, ids)
    row, exact_docs = {d: i for i, d in enumerate(ids)}, concat.astype(np.float64)
    print(
        f"# bench_quantized: {len(ids)} docs, {len(queries)} queries, float index {args.float_index} vs "
        f"{SQ_INDEX} ({how}), node {args.opensearch_url}, load {os.getloadavg()[0]:.2f}"
    )
    # (label, index, field, k, beam): None = the row's beam. "single" is the floor of the latency targets: a
    # plain knn on one 384-d vector (the float index's preset vector) at beam 200, k = 10, ids only.
    sides = (
        ("float", args.float_index, "gcl_concat", 10, None),
        ("sq k10", SQ_INDEX, "v", 10, None),
        ("sq k30", SQ_INDEX, "v", 30, None),
        ("single", args.float_index, "gcl_preset", 10, 200),
    )
    for name in args.weights.split(","):
        wt = WEIGHTS[name]
        for ef in map(int, args.ef.split(",")):
            times: dict[str, list[float]] = {s[0]: [] for s in sides}
            recall: dict[str, list[float]] = {s[0]: [] for s in sides}
            for qi, q in enumerate(queries):
                qc = np.concatenate([w * q for w in wt]).astype(np.float32)
                exact = exact_docs @ qc.astype(np.float64)
                for rep in range(2):  # the first pass warms up, the second is timed
                    for label, index, field, k, beam in sides if (qi + rep) % 2 == 0 else sides[::-1]:
                        vector = q.astype(np.float32) if label == "single" else qc
                        knn = {"vector": vector, "k": k, "method_parameters": {"ef_search": beam or ef}}
                        body = {"size": k, "_source": False, "query": {"knn": {field: knn}}}
                        start = time.perf_counter()
                        hits = client.search(index=index, body=body)["hits"]["hits"]
                        if rep:
                            times[label].append(time.perf_counter() - start)
                            top = sorted((h["_id"] for h in hits), key=lambda d: -exact[row[d]])[:10]
                            recall[label].append(tie_recall(top, exact, row))
            floor = np.median(times["single"])
            print(
                f"{name:12s} ef {ef:5d}  "
                + "  ".join(
                    f"{label}: recall {np.mean(recall[label]):.4f} "
                    f"p50 {np.median(times[label]) * 1000:5.1f} ms {np.median(times[label]) / floor:4.2f}x"
                    for label in times
                    if label != "single"
                )
                + f"  single: p50 {floor * 1000:5.1f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
