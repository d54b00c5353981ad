"""Ingest throughput: the full pipeline (read + encode + write) vs the encoder alone on the same inputs.

Target: encode+write >= 0.9x the encoder's own batch throughput, i.e. the pipeline keeps
the model busy while reading and writing happen in background threads.

- "encode alone": `encode_batch` (the pipeline's own encode step: every field, texts de-duplicated per batch)
  over the same batches, pre-read into memory; no reading, no writing.
- "pipeline": `ingest(read_catalogue(...), ...)` into a fresh store: reading, validation, encoding, writing,
  checkpointing and the failures file, all included.
Both sides encode the same records in the same batches with the same encoder after one untimed warm-up
batch. The order of the measurements rotates every repeat (a Latin square: with encode, local and opensearch
and 3 repeats each goes first, second and last once), so machine load and node merges hit all alike; the
ratio of medians is reported.

Two modes, printed in the header:
- co-located (default): torch uses its default threads and the OpenSearch node runs on the same cores. On a
  2-core box the node's indexing (HNSW insertion, JSON parsing) takes CPU from the encoder, so the opensearch
  ratio measures CPU sharing between the encoder and the node, not the pipeline.
- `--pin`: for all three measurements alike, this process (encoder, reader and writer threads) runs on CPU 0
  with torch at 1 thread, and the node's JVM (every thread; pid from tools/opensearch-node/run/<port>/node.pid
  or --node-pid) on CPU 1, its affinity restored at the end. That is the node on its own CPU, as in any
  real deployment where the cluster is another machine, so the pinned ratio is the honest "the pipeline keeps
  the model busy" number of the target. Report the co-located ratio beside it. Other processes on the
  machine can still run on either CPU: measure on a quiet machine.

    python benchmarks/bench_ingest.py --n 2000 --repeats 3 [--opensearch-url http://127.0.0.1:9270] [--pin]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from itertools import islice
from pathlib import Path
from urllib.parse import urlsplit

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from gcl_search.config import load_config  # noqa: E402
from gcl_search.encoders.registry import load_encoders  # noqa: E402
from gcl_search.ingest.checkpoint import Checkpoint  # noqa: E402
from gcl_search.ingest.pipeline import encode_batch, ingest  # noqa: E402
from gcl_search.ingest.read import read_for_config  # noqa: E402
from gcl_search.stores.local import LocalStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BENCH_CPU, NODE_CPU = 0, 1


def records(config, n: int):
    return islice(read_for_config("icecat", config), n)


def encode_alone(config, encoders, n: int, batch_size: int) -> float:
    items = list(enumerate(records(config, n)))
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    text_fields = [spec.name for spec in config.fields]
    start = time.perf_counter()
    for batch in batches:
        encode_batch(batch, config, encoders, text_fields)
    return time.perf_counter() - start


def pipeline(config, encoders, n: int, batch_size: int, store, work: Path) -> float:
    start = time.perf_counter()
    report = ingest(
        records(config, n),
        config,
        encoders,
        store,
        batch_size=batch_size,
        failures_file=work / "failures.jsonl",
        checkpoint=Checkpoint.open(work / "cp.json", {"run": uuid.uuid4().hex}),
        progress=False,
    )
    elapsed = time.perf_counter() - start
    if report.indexed + len(report.failed) != n:
        raise SystemExit(f"pipeline lost records: {report.indexed} + {len(report.failed)} != {n}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=str(ROOT / "configs" / "icecat.toml"))
    parser.add_argument("--n", type=int, default=2000, help="Icecat products")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--opensearch-url", default=None, help="also measure the pipeline into OpenSearch")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="this process on CPU 0 with torch at 1 thread, the node's JVM on CPU 1",
    )
    parser.add_argument(
        "--node-pid",
        type=int,
        default=None,
        help="with --pin: the node's JVM pid (default: from the pid file node.sh writes)",
    )
    args = parser.parse_args()
    node = _node_pid(args) if args.pin and args.opensearch_url else None
    if args.pin:
        if not {BENCH_CPU, NODE_CPU} <= os.sched_getaffinity(0):
            raise SystemExit(
                f"--pin needs CPUs {BENCH_CPU} and {NODE_CPU}; this process may use "
                f"{sorted(os.sched_getaffinity(0))}"
            )
        _pin(os.getpid(), {BENCH_CPU})  # numpy's threads exist already; torch's pools will inherit CPU 0
        import torch

        torch.set_num_threads(1)
    restore = _pin(node, {NODE_CPU}) if node is not None else None
    try:
        run(args, _mode(args, node))
    finally:
        if restore is not None:
            _pin(node, restore)


def run(args, mode: str) -> None:
    import torch

    config = load_config(args.config)
    encoders = load_encoders(config, {spec.encoder for spec in config.fields})
    encode_batch(list(enumerate(records(config, 64))), config, encoders, [])  # warm-up
    url = f" --opensearch-url {args.opensearch_url}" if args.opensearch_url else ""
    pin = " --pin" + (f" --node-pid {args.node_pid}" if args.node_pid else "") if args.pin else ""
    print(
        f"# python benchmarks/bench_ingest.py --config {args.config} --n {args.n} --batch-size "
        f"{args.batch_size} --repeats {args.repeats}{url}{pin}"
    )
    print(f"# mode: {mode}")
    print(
        f"# bench_ingest: {args.n} Icecat products, fields {[s.name for s in config.fields]}, "
        f"batch {args.batch_size}, torch threads {torch.get_num_threads()}, cpu count {os.cpu_count()}, "
        f"load avg {os.getloadavg()[0]:.1f}"
    )
    targets = ["local"] + (["opensearch"] if args.opensearch_url else [])
    times: dict[str, list[float]] = {"encode": [], **{t: [] for t in targets}}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            kinds = ["encode", *targets]
            shift = repeat % len(kinds)
            for kind in kinds[shift:] + kinds[:shift]:
                if kind == "encode":
                    times["encode"].append(encode_alone(config, encoders, args.n, args.batch_size))
                    continue
                work = Path(tmp) / f"{kind}-{repeat}"
                work.mkdir()
                store = _store(kind, work, args.opensearch_url)
                try:
                    times[kind].append(pipeline(config, encoders, args.n, args.batch_size, store, work))
                finally:
                    store.drop()
            line = ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items())
            print(
                f"repeat {repeat} (first: {kinds[shift]}): {line}; load avg {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    base = statistics.median(times["encode"])
    print(f"encode alone:            {args.n / base:8.1f} docs/s (median {base:.1f} s)")
    for target in targets:
        t = statistics.median(times[target])
        print(
            f"encode+write ({target:10s}): {args.n / t:8.1f} docs/s (median {t:.1f} s)  "
            f"ratio {base / t:.3f}  (target >= 0.9)"
        )


def _mode(args, node: int | None) -> str:
    if not args.pin:
        return "co-located (no pinning; the node, if any, shares every core with the encoder)"
    where = f"the node's JVM (pid {node}) on CPU {NODE_CPU}" if node is not None else "no node"
    return f"pinned (this process on CPU {BENCH_CPU}, torch 1 thread; {where})"


def _node_pid(args) -> int:
    """The node's JVM pid: --node-pid, else the pid file tools/opensearch-node/node.sh writes for the port."""
    if args.node_pid is not None:
        return args.node_pid
    port = urlsplit(args.opensearch_url).port
    pid_file = ROOT / "tools" / "opensearch-node" / "run" / str(port) / "node.pid"
    if not pid_file.is_file():
        raise SystemExit(
            f"--pin: no {pid_file} (node not started by tools/opensearch-node/node.sh from this "
            "checkout?); pass --node-pid with the JVM's pid"
        )
    return int(pid_file.read_text().strip())


def _pin(pid: int, cpus: set[int]) -> set[int]:
    """Set the CPU affinity of every thread of `pid` (like `taskset -a -p`); returns the previous one."""
    previous = os.sched_getaffinity(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cpus)
        except ProcessLookupError:  # the thread ended meanwhile
            continue
    return previous


def _store(target: str, work: Path, url: str | None):
    if target == "local":
        return LocalStore(work / "store")
    from gcl_search.stores.opensearch import OpenSearchStore

    return OpenSearchStore(url, f"bench-ingest-{uuid.uuid4().hex[:8]}")


if __name__ == "__main__":
    sys.exit(main())
