"""Bulk write throughput: OpenSearchStore.upsert vs a bare opensearch-py `helpers.bulk` loop, same documents.

Like with like:
- the same precomputed documents (Icecat texts and attributes, two 384-d unit vectors per product; encoding is
  not measured) into fresh indices built from the same body; the `_source` JSON of both sides is checked to
  be byte-identical before timing;
- the same load settings (refresh_interval -1, 0 replicas, restored and refreshed at the end, inside the
  timer on both sides), the same chunk size (one bulk request per `--batch` documents), one client thread;
- an untimed warm-up run of each side first (JIT, caches), then pairs in ABBA order (ours-bare, bare-ours,
  ...), each run starting only when the node has no merges running from the previous index;
- besides wall throughput (node-bound: lucene builds the HNSW graph while indexing), the client's own CPU
  time per document is printed for each side, which is where our path could add overhead.
The ratio of median throughputs is the number to read. Target: >= 0.9. Run (exact command in the results):

    tools/opensearch-node/node.sh start --port 9260
    python benchmarks/bench_bulk.py --url http://127.0.0.1:9260 --docs 2000 --repeats 4 \
        | tee benchmarks/results/bulk.txt
    tools/opensearch-node/node.sh stop --port 9260

Both sides use a plain `OpenSearch(url)` client (opensearch-py's JSONSerializer), so they send the same bytes.
`--serialization` (no node needed) measures instead what `connect`'s VectorJSONSerializer saves on the client:
bytes and CPU per document of building the bulk lines (`to_bulk_action`, then the action and source lines
serialised and UTF-8 encoded as `helpers.streaming_bulk` does), the .tolist() + JSONSerializer path of before
vs float32 arrays + VectorJSONSerializer; the median of `--repeats` passes over the documents. With
`--node-pid` (the node's JVM on this machine: tools/opensearch-node/run/<port>/node.pid) it also loads the
documents through `upsert` with each serializer, alternating, and prints the node's CPU per document (utime +
stime from /proc, until its merges are done) and the wall time.
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

LAYOUT = IndexLayout(
    (DenseField("title", 384, "minilm"), DenseField("description", 384, "minilm")),
    ("title", "name", "brand", "description"),
    (AttributeField("price", "float"), AttributeField("brand"), AttributeField("colour")),
)


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
        yield {
            "_index": index,
            "_id": doc.doc_id,
            "_source": {
                "gcl_present": list(doc.vectors),
                "gcl_concat": concat.tolist(),
                "text": dict(doc.texts),
                "attr": dict(doc.attributes),
            },
        }


def same_json(docs: list[Document]) -> int:
    """Bytes of the `_source` JSON both sides send for `docs`; exits when they differ."""
    from opensearchpy.serializer import JSONSerializer

    from gcl_search.stores.opensearch_mapping import to_bulk_action

    dumps = JSONSerializer().dumps  # what run_ours' plain client writes (float32 arrays through .tolist())
    ours = b"".join(dumps(to_bulk_action(d, "x", LAYOUT)["_source"]).encode() for d in docs)
    bare = b"".join(dumps(a["_source"]).encode() for a in bare_actions(docs, "x"))
    if ours != bare:
        raise SystemExit("the two sides would send different documents; fix bare_actions")
    return len(ours)


def wait_for_idle_node(client, timeout: float = 120.0) -> None:
    """Block until no merge is running (the previous run's index may still be merging its segments)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = client.nodes.stats(metric="indices", index_metric="merge")
        if all(n["indices"]["merges"]["current"] == 0 for n in stats["nodes"].values()):
            return
        time.sleep(0.5)


def timed(run, client, docs, index, batch) -> tuple[float, float]:
    """(docs/s wall, client CPU ms/doc) of one run into a fresh index."""
    wait_for_idle_node(client)
    cpu0, t0 = time.process_time(), time.perf_counter()
    run(client, docs, index, batch)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return len(docs) / seconds, 1000 * cpu / len(docs)


def run_ours(client, docs, index, batch) -> None:
    from gcl_search.stores.opensearch import OpenSearchStore

    store = OpenSearchStore(client, index, chunk_size=batch)
    store.create(LAYOUT)
    with store.bulk_load():
        for i in range(0, len(docs), batch):
            report = store.upsert(docs[i : i + batch])
            if report.failed:
                raise SystemExit(f"failures: {report.failed[:3]}")
    _check_and_drop(client, index, len(docs))


def run_bare(client, docs, index, batch) -> None:
    from opensearchpy import helpers

    from gcl_search.stores.opensearch_mapping import build_index_body

    client.indices.create(index=index, body=build_index_body(LAYOUT))
    relaxed = {"index": {"refresh_interval": "-1", "number_of_replicas": 0}}
    client.indices.put_settings(index=index, body=relaxed)
    ok, _ = helpers.bulk(client, bare_actions(docs, index), chunk_size=batch, max_chunk_bytes=20 * 2**20)
    client.indices.put_settings(index=index, body={"index": {"refresh_interval": None}})
    client.indices.refresh(index=index)
    if ok != len(docs):
        raise SystemExit(f"bare loop indexed {ok} of {len(docs)}")
    _check_and_drop(client, index, len(docs))


def _check_and_drop(client, index: str, n: int) -> None:
    count = client.count(index=index)["count"]
    client.indices.delete(index=index)
    if count != n:
        raise SystemExit(f"{index}: {count} documents, expected {n}")


def serialization(docs: list[Document], repeats: int) -> None:
    """Print bytes/doc and client CPU ms/doc of building the bulk lines, before vs now (see the docstring)."""
    from opensearchpy.helpers.actions import expand_action
    from opensearchpy.serializer import JSONSerializer

    from gcl_search.stores.opensearch_mapping import to_bulk_action
    from gcl_search.stores.serializer import VectorJSONSerializer

    def before(doc: Document) -> dict:
        action = to_bulk_action(doc, "x", LAYOUT)
        source = action["_source"]
        for part in (source, source.get("vec", {})):
            for key, value in part.items():
                if isinstance(value, np.ndarray):
                    part[key] = value.tolist()
        return action

    def lines(build, serializer) -> int:
        size = 0
        for doc in docs:
            meta, source = expand_action(build(doc))
            size += len(serializer.dumps(meta).encode()) + len(serializer.dumps(source).encode()) + 2
        return size

    sides = {
        "before (.tolist + JSONSerializer)": (before, JSONSerializer()),
        "now (float32 + VectorJSONSerializer)": (
            lambda d: to_bulk_action(d, "x", LAYOUT),
            VectorJSONSerializer(),
        ),
    }
    for name, (build, serializer) in sides.items():
        lines(build, serializer)  # warm-up
        cpu, size = [], 0
        for _ in range(repeats):
            start = time.process_time()
            size = lines(build, serializer)
            cpu.append(time.process_time() - start)
        ms = [1000 * c / len(docs) for c in cpu]
        print(
            f"{name:38s} {size / len(docs):8.0f} bytes/doc  {statistics.median(ms):.3f} ms CPU/doc "
            f"(median of {repeats}; min {min(ms):.3f})"
        )


def node_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def node_cost(url: str, pid: int, docs: list[Document], batch: int, repeats: int) -> None:
    """Print the node's CPU ms/doc and the wall ms/doc of `upsert` with the old and the new serializer."""
    from opensearchpy.serializer import JSONSerializer

    from gcl_search.stores.connection import connect
    from gcl_search.stores.serializer import VectorJSONSerializer

    clients = {
        "JSONSerializer": connect(url, timeout=600, serializer=JSONSerializer())[0],
        "VectorJSONSerializer": connect(url, timeout=600, serializer=VectorJSONSerializer())[0],
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
    for r in range(repeats):
        for name in list(clients)[::-1] if r % 2 else list(clients):
            client = clients[name]
            wait_for_idle_node(client)
            cpu0, t0 = node_cpu(pid), time.perf_counter()
            run_ours(client, docs, f"bench-bulk-ser-{r}", batch)
            wall = time.perf_counter() - t0
            wait_for_idle_node(client)
            results[name].append((1000 * (node_cpu(pid) - cpu0) / len(docs), 1000 * wall / len(docs)))
        print(
            f"run {r}: "
            + ", ".join(
                f"{name} node {v[-1][0]:.2f} ms CPU/doc, wall {v[-1][1]:.2f} ms/doc"
                for name, v in results.items()
            )
            + f"; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    for name, values in results.items():
        print(
            f"median {name:22s} node {statistics.median(c for c, _ in values):.2f} ms CPU/doc, "
            f"wall {statistics.median(w for _, w in values):.2f} ms/doc"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9260"))
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=4, help="timed runs per side (even: ABBA pairs)")
    parser.add_argument("--warmup-docs", type=int, default=500, help="untimed first run of each side")
    parser.add_argument(
        "--serialization",
        action="store_true",
        help="only measure the client's bulk-line building, before vs now (no node)",
    )
    parser.add_argument(
        "--node-pid",
        type=int,
        default=None,
        help="with --serialization: also the node's CPU per document, before vs now",
    )
    args = parser.parse_args()
    if args.serialization:
        docs = make_docs(args.docs)
        node = f" --url {args.url} --node-pid {args.node_pid}" if args.node_pid is not None else ""
        print(
            f"# python benchmarks/bench_bulk.py --serialization --docs {args.docs} --batch {args.batch} "
            f"--repeats {args.repeats}{node}"
        )
        print(
            f"# load average {os.getloadavg()[0]:.1f}; {len(docs)} Icecat documents, 2 x 384-d vectors "
            f"(concat 768-d), bulk action + source line per document"
        )
        serialization(docs, args.repeats)
        if args.node_pid is not None:
            print(f"# node CPU: --url {args.url} --node-pid {args.node_pid} --batch {args.batch}")
            node_cost(args.url, args.node_pid, docs, args.batch, args.repeats)
        return
    from opensearchpy import OpenSearch

    client = OpenSearch(args.url, timeout=600)
    docs = make_docs(args.docs)
    size = same_json(docs)
    print(
        f"# python benchmarks/bench_bulk.py --url {args.url} --docs {args.docs} --batch {args.batch} "
        f"--repeats {args.repeats} --warmup-docs {args.warmup_docs}"
    )
    print(
        f"# load average at start {os.getloadavg()[0]:.1f}; {len(docs)} Icecat documents, 2 x 384-d "
        f"vectors (concat 768-d, lucene HNSW innerproduct), batch {args.batch}; _source JSON identical on "
        f"both sides ({size / 2**20:.1f} MiB)"
    )
    for name, run in (("ours", run_ours), ("bare", run_bare)):
        timed(run, client, docs[: args.warmup_docs], f"bench-bulk-warmup-{name}", args.batch)
    ours, bare, cpu = [], [], {"ours": [], "bare": []}
    for r in range(args.repeats):
        order = [("ours", run_ours), ("bare", run_bare)]
        for name, run in order[::-1] if r % 2 else order:
            rate, ms = timed(run, client, docs, f"bench-bulk-{name}-{r}", args.batch)
            (ours if name == "ours" else bare).append(rate)
            cpu[name].append(ms)
        print(
            f"run {r} ({'bare' if r % 2 else 'upsert'} first): upsert {ours[-1]:.0f} docs/s "
            f"({cpu['ours'][-1]:.2f} ms CPU/doc), bare helpers.bulk {bare[-1]:.0f} docs/s "
            f"({cpu['bare'][-1]:.2f} ms CPU/doc); load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    ratio = statistics.median(ours) / statistics.median(bare)
    print(
        f"median: upsert {statistics.median(ours):.0f} docs/s, bare {statistics.median(bare):.0f} docs/s, "
        f"ratio {ratio:.3f} (target >= 0.9); client CPU/doc: upsert "
        f"{statistics.median(cpu['ours']):.2f} ms, bare {statistics.median(cpu['bare']):.2f} ms"
    )


if __name__ == "__main__":
    main()
