"""`make demo` (scripts/demo.sh) end to end on a 300-product slice of Icecat, on the embedded store: every
step runs, the table is printed, and the reports, plot and run files appear. No OpenSearch needed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNS = ("bm25", "dense-title", "dense-multi", "hybrid")

pytestmark = pytest.mark.slow


def test_demo_on_a_slice(tmp_path):
    out = tmp_path / "demo"
    unset = ("OPENSEARCH_URL", "GCL_SEARCH_DEMO_OPENSEARCH_URL")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(GCL_SEARCH_DEMO_LIMIT="300", GCL_SEARCH_DEMO_DIR=str(out))
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    # the printed table: a row per metric with a value for each of the four runs
    header = next(line for line in proc.stdout.splitlines() if line.startswith("metric"))
    assert all(name in header for name in RUNS)
    ndcg = next(line for line in proc.stdout.splitlines() if line.startswith("ndcg@10"))
    assert len([t for t in ndcg.split() if t.replace(".", "", 1).isdigit()]) == 4
    assert "full report:" in proc.stdout
    # every step was printed as the gcl-search command it ran
    assert proc.stderr.count("+ gcl-search ingest") == 1 and "--live 'bm25=--lexical-weight 1" in proc.stderr
    for name in RUNS:
        lines = (out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == 105  # every judged query, one line each
        assert json.loads(lines[0])["hits"]
    for report in ("report.md", "report-condensed.md"):
        text = (out / report).read_text(encoding="utf-8")
        assert "| ndcg@10 |" in text and "hybrid" in text
    assert (out / "ndcg-deltas.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "store" / "icecat-demo" / "meta.json").is_file()
