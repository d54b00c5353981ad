"""Ingest into a real OpenSearch node: an Icecat slice killed with SIGKILL mid-way and resumed, injected 429s,
and a versioned alias re-index with searches running throughout. Marker `opensearch`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from gcl_search.ingest.job import IngestJob, run_job
from gcl_search.ingest.read import read_catalogue
from gcl_search.records import CatalogueRecord, FailedDoc
from tests.fakes import KeywordEncoder, keyword_toml

pytestmark = pytest.mark.opensearch

ROOT = Path(__file__).resolve().parents[2]
CONFIG = keyword_toml()

KILLED_RUN = """
import sys, time
sys.path.insert(0, {root!r})
from tests.fakes import KeywordEncoder
from gcl_search.ingest.job import IngestJob, run_job

class SlowEncoder(KeywordEncoder):
    def encode_texts(self, texts, batch_size=None, progress=False):
        time.sleep(0.3)  # slow enough for the parent to kill it between batches
        return super().encode_texts(texts)

run_job(IngestJob(**{job!r}), encoders={{"kw": SlowEncoder()}})
"""


@pytest.fixture()
def job_args(tmp_path, opensearch_url):
    (tmp_path / "cfg.toml").write_text(CONFIG)
    return {
        "config": str(tmp_path / "cfg.toml"),
        "catalogue": "icecat",
        "opensearch_url": opensearch_url,
        "checkpoint_file": str(tmp_path / "cp.json"),
        "failures_file": str(tmp_path / "failures.jsonl"),
        "progress": False,
    }


@pytest.fixture()
def client(opensearch_url):
    from gcl_search.stores.connection import connect

    client, _, _ = connect(opensearch_url)
    names: list[str] = []
    yield client, names
    for pattern in names:
        client.indices.delete(index=pattern, ignore_unavailable=True, allow_no_indices=True)


def _icecat_items(n: int) -> list[CatalogueRecord | FailedDoc]:
    items = read_catalogue("icecat", "doc_id", {"title": "title", "description": "description"})
    return [item for _, item in zip(range(n), items)]


def _job(job_args: dict, **overrides) -> IngestJob:
    values = {**job_args, **overrides}
    return IngestJob(
        **{
            k: Path(v) if k in ("config", "checkpoint_file", "failures_file") else v
            for k, v in values.items()
        }
    )


def test_icecat_slice_killed_midway_resumes_exactly(job_args, client, tmp_path):
    os_client, names = client
    index = f"test-ingest-{uuid.uuid4().hex[:8]}"
    names.append(index)
    n, batch = 600, 50
    args = {**job_args, "index": index, "limit": n, "batch_size": batch}
    script = tmp_path / "killed_run.py"
    script.write_text(KILLED_RUN.format(root=str(ROOT), job=args))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    checkpoint = tmp_path / "cp.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if checkpoint.exists() and json.loads(checkpoint.read_text())["position"] >= 4 * batch:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the ingest ended before it could be killed: {proc.stderr.read()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    committed = json.loads(checkpoint.read_text())["position"]
    assert batch * 4 <= committed < n and committed % batch == 0

    encoder = KeywordEncoder()
    outcome = run_job(_job(job_args, index=index, limit=n, batch_size=batch), encoders={"kw": encoder})
    items = _icecat_items(n)
    records = [item for item in items if isinstance(item, CatalogueRecord)]
    before = [item for item in items[:committed] if isinstance(item, CatalogueRecord)]
    after_kill = [item for item in items[committed:] if isinstance(item, CatalogueRecord)]
    assert outcome.report.skipped == committed
    assert outcome.report.indexed == len(after_kill)
    read_failures = [i.location for i in items if isinstance(i, FailedDoc)]
    assert [f.location for f in outcome.report.failed] == read_failures
    os_client.indices.refresh(index=index)
    assert os_client.count(index=index)["count"] == len(records)  # exact: no loss, no duplicates
    found = os_client.mget(index=index, body={"ids": [r.doc_id for r in records]}, _source=False)["docs"]
    assert all(doc["found"] for doc in found)
    # Nothing committed before the kill was encoded again: only texts of records after it.
    after = {v for r in after_kill for v in r.values.values()}
    only_before = {v for r in before for v in r.values.values()} - after
    assert set(encoder.encoded) <= after and not set(encoder.encoded) & only_before
    assert not checkpoint.exists()


def test_injected_429s_are_retried_until_every_document_is_written(job_args, client, monkeypatch):
    os_client, names = client
    index = f"test-ingest-{uuid.uuid4().hex[:8]}"
    names.append(index)
    from opensearchpy import OpenSearch

    real_bulk, calls = OpenSearch.bulk, {"n": 0, "rejected": 0}

    def bulk_with_429s(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 2:
            return real_bulk(self, *args, **kwargs)
        body = kwargs["body"] if "body" in kwargs else args[0]
        lines = body.splitlines() if isinstance(body, str) else [json.dumps(x) for x in body]
        ids = [json.loads(line)["index"]["_id"] for line in lines[::2]]
        calls["rejected"] += len(ids)
        items = [
            {
                "index": {
                    "_id": i,
                    "status": 429,
                    "error": {"type": "es_rejected_execution_exception", "reason": "injected"},
                }
            }
            for i in ids
        ]
        return {"took": 1, "errors": True, "items": items}

    monkeypatch.setattr(OpenSearch, "bulk", bulk_with_429s)
    outcome = run_job(
        _job(job_args, index=index, limit=120, batch_size=60), encoders={"kw": KeywordEncoder()}
    )
    assert calls["rejected"] >= 60 and calls["n"] > 2
    assert outcome.report.indexed == 120 and not outcome.report.failed
    os_client.indices.refresh(index=index)
    assert os_client.count(index=index)["count"] == 120


def test_alias_reindex_keeps_search_working_throughout(job_args, client):
    os_client, names = client
    alias = f"test-alias-{uuid.uuid4().hex[:8]}"
    names.append(f"{alias}-v*")
    first = run_job(_job(job_args, alias=alias, limit=100, batch_size=50), encoders={"kw": KeywordEncoder()})
    assert first.alias_moved and first.store.endswith(f"{alias}-v1")
    errors, counts, stop = [], [], threading.Event()

    def search_forever():
        query = {"size": 5, "query": {"knn": {"gcl_concat": {"vector": np.ones(16).tolist(), "k": 5}}}}
        while not stop.is_set():
            try:
                hits = os_client.search(index=alias, body=query)["hits"]["hits"]
                counts.append(len(hits))
            except Exception as err:  # noqa: BLE001 - any failure during the swap is what we look for
                errors.append(repr(err))

    searcher = threading.Thread(target=search_forever)
    searcher.start()
    try:
        second = run_job(
            _job(job_args, alias=alias, limit=300, batch_size=50), encoders={"kw": KeywordEncoder()}
        )
    finally:
        time.sleep(0.3)
        stop.set()
        searcher.join()
    assert second.alias_moved and second.alias_left == [f"{alias}-v1"]
    assert errors == [] and counts and min(counts) == 5
    assert list(os_client.indices.get_alias(name=alias)) == [f"{alias}-v2"]
    assert os_client.count(index=alias)["count"] == 300
