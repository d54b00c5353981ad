"""Faults on a real 3-node loopback cluster (marker `cluster`): a node killed with SIGKILL during an ingest
and during a stream of searches, then restarted.

The cluster comes from `node.sh start --nodes 3 --port $GCL_SEARCH_CLUSTER_PORT` (scripts/test.sh starts it).
Without GCL_SEARCH_CLUSTER_PORT these tests skip; with GCL_SEARCH_REQUIRE_CLUSTER=1 a cluster that does not
answer fails them. The client gets all three node URLs (comma-separated, as `--opensearch-url` takes them),
so a dead node's requests fail over; the index has 3 shards and 1 replica. These tests kill and restart
nodes, so they run one at a time and each leaves the cluster green.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

from gcl_search.ingest.job import IngestJob, run_job
from gcl_search.ingest.read import read_catalogue
from gcl_search.records import CatalogueRecord, Document
from gcl_search.stores.base import DenseField, IndexLayout, LayoutOptions, LexicalQuery

pytest.importorskip("opensearchpy")
from gcl_search.stores.opensearch import OpenSearchStore  # noqa: E402
from tests.fakes import KeywordEncoder, keyword_toml  # noqa: E402

pytestmark = pytest.mark.cluster

NODE_SH = Path(__file__).resolve().parents[2] / "tools" / "opensearch-node" / "node.sh"
NODES = 3
CONFIG = keyword_toml(index={"shards": 3, "replicas": 1})
DIM = 24
WORDS = ["usb", "cable", "mouse", "laptop", "bag", "red", "black", "wireless", "printer", "ink", "toner"]
LAYOUT = IndexLayout(
    (DenseField("title", DIM, "m"), DenseField("desc", DIM, "m")), ("title", "desc"), (), LayoutOptions()
)
# A search may land on a node that has just died: opensearch-py retries it on another node (max_retries), and
# the store's own loop below bounds what is left (the first seconds, before the cluster removes the node).
SEARCH_ATTEMPTS, SEARCH_BACKOFF_S = 4, 0.5


@pytest.fixture(scope="module")
def cluster():
    port = os.environ.get("GCL_SEARCH_CLUSTER_PORT")
    required = os.environ.get("GCL_SEARCH_REQUIRE_CLUSTER") == "1"
    if not port:
        if required:
            pytest.fail("GCL_SEARCH_REQUIRE_CLUSTER=1 but GCL_SEARCH_CLUSTER_PORT is not set")
        pytest.skip(
            "no cluster: start one with `node.sh start --nodes 3 --port P` and set GCL_SEARCH_CLUSTER_PORT=P"
        )
    ports = [int(port) + i for i in range(NODES)]
    try:
        health = _health(ports[0], "wait_for_status=green&timeout=60s")
    except OSError as err:
        if required:
            pytest.fail(f"GCL_SEARCH_REQUIRE_CLUSTER=1 but no cluster answers on port {port}: {err}")
        pytest.skip(f"no cluster on port {port}: {err}")
    assert health["number_of_nodes"] == NODES, health
    return ports


def _get(port: int, path: str, timeout: float = 90) -> object:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        return json.loads(response.read())


def _health(port: int, query: str) -> dict:
    return _get(port, f"/_cluster/health?{query}")  # type: ignore[return-value]


def _nodes_up(ports: list[int]) -> int:
    for port in ports:
        try:
            return int(_health(port, "timeout=1s")["number_of_nodes"])
        except OSError:
            continue
    return 0


def _urls(ports: list[int]) -> str:
    return ",".join(f"http://127.0.0.1:{p}" for p in ports)


def _victim(ports: list[int], index: str) -> int:
    """A node that holds a primary of `index` and is not the elected cluster manager (so the test measures
    shard fail-over, not an election)."""
    manager = _get(ports[0], "/_cat/cluster_manager?format=json&h=node")[0]["node"]
    shards = _get(ports[0], f"/_cat/shards/{index}?format=json&h=prirep,node")
    holders = {s["node"] for s in shards if s["prirep"] == "p"} - {manager}
    return next(p for p in ports if f"node-{p}" in holders)


def _node_sh(*args: str) -> str:
    done = subprocess.run([str(NODE_SH), *args], capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _restart(ports: list[int]) -> float:
    """Start the killed node again (node.sh starts only the missing member) and wait for green."""
    t0 = time.monotonic()
    _node_sh("start", "--nodes", str(NODES), "--port", str(ports[0]))
    health = _health(ports[0], f"wait_for_nodes={NODES}&wait_for_status=green&timeout=180s")
    assert health["status"] == "green"
    return time.monotonic() - t0


class SlowEncoder(KeywordEncoder):
    """Slow enough that the kill lands in the middle of the ingest."""

    def encode_texts(self, texts, batch_size=None, progress=False):
        time.sleep(0.15)
        return super().encode_texts(texts)


def test_node_killed_during_ingest_the_ingest_finishes_exactly(cluster, tmp_path):
    ports = cluster
    index = f"test-cluster-ingest-{uuid.uuid4().hex[:8]}"
    (tmp_path / "cfg.toml").write_text(CONFIG)
    checkpoint = tmp_path / "cp.json"
    n, batch = 1500, 50
    job = IngestJob(
        tmp_path / "cfg.toml",
        "icecat",
        index=index,
        opensearch_url=_urls(ports),
        limit=n,
        batch_size=batch,
        checkpoint_file=checkpoint,
        failures_file=tmp_path / "failures.jsonl",
        progress=False,
    )
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["done"] = run_job(job, encoders={"kw": SlowEncoder()})
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = err

    ingest = threading.Thread(target=run)
    ingest.start()
    store = OpenSearchStore(_urls(ports), index)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and ingest.is_alive():
            if checkpoint.exists() and json.loads(checkpoint.read_text())["position"] >= 6 * batch:
                break
            time.sleep(0.05)
        assert ingest.is_alive(), f"the ingest ended before the kill: {outcome}"
        settings = store.client.indices.get_settings(index=index)[index]["settings"]["index"]
        assert (settings["number_of_shards"], settings["number_of_replicas"]) == ("3", "1")
        victim = _victim(ports, index)
        killed_at = json.loads(checkpoint.read_text())["position"]
        _node_sh("kill", "--port", str(victim))
        ingest.join(timeout=600)
        assert not ingest.is_alive() and "error" not in outcome, outcome.get("error")
        report = outcome["done"].report  # type: ignore[attr-defined]
        records = [
            item
            for _, item in zip(
                range(n), read_catalogue("icecat", "doc_id", {"title": "title", "description": "description"})
            )
            if isinstance(item, CatalogueRecord)
        ]
        survivors = [p for p in ports if p != victim]
        store = OpenSearchStore(_urls(survivors), index)
        store.refresh()
        count = store.count()
        print(
            f"\ningest: {n} items, kill -9 of node-{victim} at position {killed_at}; indexed "
            f"{report.indexed}, failed {len(report.failed)} (read errors), count {count} of {len(records)}"
        )
        assert report.indexed == len(records) and count == len(records)  # exact: no loss, no duplicates
        found = store.client.mget(index=index, body={"ids": [r.doc_id for r in records]}, _source=False)
        assert all(doc["found"] for doc in found["docs"])
        assert _health(survivors[0], "timeout=1s")["status"] in ("yellow", "green")  # every primary is live
        print(f"restart of node-{victim}: green after {_restart(ports):.1f} s")
        assert store.count() == len(records)
    finally:
        ingest.join(timeout=600)
        if _nodes_up(ports) < NODES:
            _restart(ports)
        store.client.indices.delete(index=index, ignore_unavailable=True)


def _docs(n: int) -> list[Document]:
    rng = np.random.default_rng(15)
    docs = []
    for i in range(n):
        vectors = {
            name: v / np.linalg.norm(v)
            for name, v in (("title", rng.normal(size=DIM)), ("desc", rng.normal(size=DIM)))
        }
        text = {"title": " ".join(rng.choice(WORDS, size=3)), "desc": " ".join(rng.choice(WORDS, size=6))}
        docs.append(Document(f"doc{i:05d}", {k: v.astype(np.float32) for k, v in vectors.items()}, text, {}))
    return docs


def _queries(k: int) -> list[tuple[dict[str, np.ndarray], str]]:
    rng = np.random.default_rng(16)
    out = []
    for i in range(k):
        q = rng.normal(size=DIM)
        out.append(
            (
                {"title": q / np.linalg.norm(q), "desc": q / np.linalg.norm(q)},
                " ".join(rng.choice(WORDS, size=2)),
            )
        )
    return out


def _search(store: OpenSearchStore, query: tuple[dict[str, np.ndarray], str]) -> list[tuple[str, float]]:
    """One configured-weight hybrid request (knn + BM25 in one _msearch), as the search client sends it;
    returns the dense and the lexical candidates' ids with their scores, rounded to float32 precision."""
    vectors, text = query
    dense, lex = store.with_ef_search(100).candidates(
        vectors, {"title": 0.7, "desc": 0.3}, depth=10, lexical=LexicalQuery(text, None, 10), attributes=False
    )
    return [(c.doc_id, round(sum(c.field_scores.values()), 4)) for c in dense] + [
        (c.doc_id, round(c.bm25 or 0.0, 3)) for c in lex
    ]


def _search_with_retry(store: OpenSearchStore, query, failures: list[str]) -> list[tuple[str, float]]:
    for attempt in range(SEARCH_ATTEMPTS):
        try:
            return _search(store, query)
        except Exception as err:  # noqa: BLE001 - every failure is counted
            failures.append(f"attempt {attempt + 1}: {err!r}"[:300])
            time.sleep(SEARCH_BACKOFF_S * 2**attempt)
    raise AssertionError(f"a search failed {SEARCH_ATTEMPTS} times: {failures[-1]}")


def test_node_killed_during_searches_no_request_fails_and_results_hold(cluster):
    ports = cluster
    index = f"test-cluster-search-{uuid.uuid4().hex[:8]}"
    store = OpenSearchStore(
        _urls(ports), index, shards=3, replicas=1, timeout=10, max_retries=3, retry_on_timeout=True
    )
    try:
        store.create(LAYOUT)
        report = store.upsert(_docs(3000))
        assert report.indexed == 3000 and not report.failed
        store.refresh()
        assert _health(ports[0], "wait_for_status=green&timeout=120s")["status"] == "green"
        queries = _queries(25)
        before = [_search(store, q) for q in queries]
        victim = _victim(ports, index)

        answered, mismatched, failures, stop = [0], [0], [], threading.Event()
        partial: list[dict] = []  # responses with failed shards (HTTP 200, fewer hits)
        real_msearch = store.client.msearch

        def msearch(*args, **kwargs):
            response = real_msearch(*args, **kwargs)
            partial.extend(r["_shards"] for r in response["responses"] if r.get("_shards", {}).get("failed"))
            return response

        store.client.msearch = msearch

        def stream() -> None:
            i = 0
            while not stop.is_set():
                q = i % len(queries)
                result = _search_with_retry(store, queries[q], failures)
                answered[0] += 1
                if result != before[q]:
                    mismatched[0] += 1
                    print(f"differs: {sorted(set(result) ^ set(before[q]))[:4]}")
                i += 1

        errors: list[BaseException] = []

        def guarded() -> None:
            try:
                stream()
            except BaseException as err:  # noqa: BLE001 - re-raised in the test thread
                errors.append(err)

        searcher = threading.Thread(target=guarded)
        searcher.start()
        time.sleep(2)
        t_kill = time.monotonic()
        _node_sh("kill", "--port", str(victim))
        survivors = [p for p in ports if p != victim]
        health = _health(
            survivors[0],
            f"wait_for_nodes={NODES - 1}&wait_for_status=yellow&"
            "wait_for_no_initializing_shards=true&timeout=120s",
        )
        promoted_s = time.monotonic() - t_kill
        time.sleep(3)
        stop.set()
        searcher.join(timeout=120)
        assert not errors, errors[0]
        print(
            f"\nsearches: {answered[0]} answered, {len(failures)} attempts retried, {mismatched[0]} "
            f"differed from before the kill, {len(partial)} partial (failed shards: {partial[:2]}); "
            f"node-{victim} killed, primaries active again after {promoted_s:.1f} s "
            f"(status {health['status']})"
        )
        assert answered[0] > 0 and health["active_primary_shards"] == 3
        after = [_search_with_retry(store, q, failures) for q in queries]
        assert after == before  # the promoted replicas answer exactly as before

        print(f"restart of node-{victim}: green after {_restart(ports):.1f} s")
        assert [_search(store, q) for q in queries] == before
    finally:
        if _nodes_up(ports) < NODES:
            _restart(ports)
        store.client.indices.delete(index=index, ignore_unavailable=True)
