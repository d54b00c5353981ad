"""Bulk write throughput: OpenSearchStore.upsert vs a bare opensearch-py `helpers.bulk` loop, same documents.

Both sides write the same precomputed documents (Icecat texts and attributes, two 384-d unit vectors per
product: precomputed, so encoding is not measured; the vector values do not affect the write path) into fresh
indices built from the same body, with the same load settings (refresh_interval -1, 0 replicas), the same
chunk size, one client thread each. The bare loop builds the same `_source` dicts inline and calls
`helpers.bulk`; ours goes through `upsert` (validation, action building, per-item accounting, retry
bookkeeping). Runs alternate (ours-bare, bare-ours, ...) and the ratio of median throughputs is printed.
Target: >= 0.9. Run:

    tools/opensearch-node/node.sh start --port 9260
    python benchmarks/bench_bulk.py --url http://127.0.0.1:9260 | tee benchmarks/results/bulk.txt
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gcl_search.records import Document  # noqa: E402
from gcl_search.stores.base import AttributeField, DenseField, IndexLayout  # noqa: E402

LAYOUT = IndexLayout((DenseField("title", 384, "minilm"), DenseField("description", 384, "minilm")),
                     ("title", "name", "brand", "description"),
                     (AttributeField("price", "float"), AttributeField("brand"), AttributeField("colour")))


def make_docs(n: int) -> list[Document]:
    from gcl_search.datasets.icecat import iter_catalogue

    rng = np.random.default_rng(0)
    docs = []
    for r in iter_catalogue():
        if len(docs) == n:
            break
        vecs = {}
        for f in ("title", "description"):
            if r.get(f):
                v = rng.normal(size=384).astype(np.float32)
                vecs[f] = v / np.linalg.norm(v)
        texts = {k: r[k] for k in ("title", "name", "brand", "description") if r.get(k)}
        attrs = {k: r[k] for k in ("price", "brand", "colour") if r.get(k) is not None}
        docs.append(Document(r["doc_id"], vecs, texts, attrs))
    return docs


def bare_actions(docs: list[Document], index: str):
    """What a hand-written loop sends: the same fields, built inline."""
    offsets = LAYOUT.offsets
    for doc in docs:
        concat = np.zeros(LAYOUT.concat_dim, dtype=np.float32)
        for name, vec in doc.vectors.items():
            concat[offsets[name]] = vec
        yield {"_index": index, "_id": doc.doc_id,
               "_source": {"gcl_present": list(doc.vectors), "gcl_concat": concat.tolist(),
                           "text": dict(doc.texts), "attr": dict(doc.attributes)}}


def run_ours(client, docs, index, batch) -> float:
    from gcl_search.stores.opensearch import OpenSearchStore

    store = OpenSearchStore(client, index, chunk_size=batch)
    store.create(LAYOUT)
    t0 = time.perf_counter()
    with store.bulk_load():
        indexed = 0
        for i in range(0, len(docs), batch):
            report = store.upsert(docs[i:i + batch])
            indexed += report.indexed
            if report.failed:
                raise SystemExit(f"failures: {report.failed[:3]}")
    seconds = time.perf_counter() - t0
    assert indexed == len(docs) and store.count() == len(docs)
    store.drop()
    return len(docs) / seconds


def run_bare(client, docs, index, batch) -> float:
    from opensearchpy import helpers

    from gcl_search.stores.opensearch_bodies import build_index_body

    client.indices.create(index=index, body=build_index_body(LAYOUT))
    t0 = time.perf_counter()
    relaxed = {"index": {"refresh_interval": "-1", "number_of_replicas": 0}}
    client.indices.put_settings(index=index, body=relaxed)
    ok, _ = helpers.bulk(client, bare_actions(docs, index), chunk_size=batch, max_chunk_bytes=20 * 2**20)
    client.indices.put_settings(index=index, body={"index": {"refresh_interval": None}})
    client.indices.refresh(index=index)
    seconds = time.perf_counter() - t0
    assert ok == len(docs) and client.count(index=index)["count"] == len(docs)
    client.indices.delete(index=index)
    return len(docs) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9260"))
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    from opensearchpy import OpenSearch

    client = OpenSearch(args.url, timeout=600)
    docs = make_docs(args.docs)
    print(f"{len(docs)} Icecat documents, 2 x 384-d vectors (concat 768-d, lucene HNSW innerproduct), "
          f"batch {args.batch}, {args.repeats} alternating runs each")
    ours, bare = [], []
    for r in range(args.repeats):
        # Alternate which side goes first: the node is still merging the previous index for a while.
        if r % 2:
            bare.append(run_bare(client, docs, f"bench-bulk-bare-{r}", args.batch))
            ours.append(run_ours(client, docs, f"bench-bulk-ours-{r}", args.batch))
        else:
            ours.append(run_ours(client, docs, f"bench-bulk-ours-{r}", args.batch))
            bare.append(run_bare(client, docs, f"bench-bulk-bare-{r}", args.batch))
        print(f"run {r} ({'bare' if r % 2 else 'upsert'} first): upsert {ours[-1]:.0f} docs/s, "
              f"bare helpers.bulk {bare[-1]:.0f} docs/s")
    ratio = statistics.median(ours) / statistics.median(bare)
    print(f"median: upsert {statistics.median(ours):.0f} docs/s, bare {statistics.median(bare):.0f} docs/s, "
          f"ratio {ratio:.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()
