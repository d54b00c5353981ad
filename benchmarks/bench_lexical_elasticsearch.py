"""BM25 on Elasticsearch vs the local store on the whole Icecat catalogue: what the english analyzer fallback
(no analysis-common module: standard tokenizer + English stop words, no possessive, no stemming) changes.

Reads the texts of a local store built with the `english` analyzer and a catch-all field (the `make demo`
one), writes them into an Elasticsearch index with the same text layout (a 4-d dummy vector: only BM25 is
compared), runs the 105 judged queries through `lexical()` on both (combined mode, k=100) and writes two
JSONL runs; score them with our CLI:

    python benchmarks/bench_lexical_elasticsearch.py --elasticsearch-url http://127.0.0.1:9400 \
        --store /work/stores/icecat-demo --out runs/es-lexical
    gcl-search evaluate -j examples/icecat/judgments.csv --run local=runs/es-lexical/local.jsonl \
        --run elasticsearch=runs/es-lexical/elasticsearch.jsonl -m ndcg@10,judged@10 [--condensed]
"""

from __future__ import annotations

import argparse
import csv
import sys
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gcl_search.datasets.icecat import judgments_path  # noqa: E402
from gcl_search.evaluation.runs import write_run  # noqa: E402
from gcl_search.records import Document  # noqa: E402
from gcl_search.stores.base import DenseField, IndexLayout, LayoutOptions  # noqa: E402
from gcl_search.stores.elasticsearch import ElasticsearchStore  # noqa: E402
from gcl_search.stores.local import LocalStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elasticsearch-url", required=True)
    parser.add_argument("--store", type=Path, default=Path("/work/stores/icecat-demo"))
    parser.add_argument("--out", type=Path, default=Path("runs/es-lexical"))
    parser.add_argument("--k", type=int, default=100)
    args = parser.parse_args()
    local = LocalStore(args.store)
    options = local.layout().options
    layout = IndexLayout(
        (DenseField("title", 4, "dummy"),),
        local.layout().text_fields,
        options=LayoutOptions(analyzer=options.analyzer, catch_all=options.catch_all),
    )
    ids = list(local._loaded().ids)
    remote = ElasticsearchStore(args.elasticsearch_url, f"bench-lexical-{uuid.uuid4().hex[:8]}", timeout=120)
    remote.create(layout)
    try:
        unit = np.array([1, 0, 0, 0], dtype=np.float32)
        with remote.bulk_load():
            for lo in range(0, len(ids), 2000):
                texts = local.texts(ids[lo : lo + 2000])
                report = remote.upsert(Document(d, {"title": unit}, texts.get(d, {}), {}) for d in texts)
                assert not report.failed, report.failed[:3]
        print(f"{remote.count()} documents, analysis {remote.engine_meta()['gcl_search_es']['analysis']}")
        with open(judgments_path(), newline="", encoding="utf-8") as handle:
            queries = list(dict.fromkeys(row["query"] for row in csv.DictReader(handle)))
        runs: dict[str, dict[str, dict[str, float]]] = {"local": {}, "elasticsearch": {}}
        overlap = []
        for query in queries:
            a = local.lexical(query, None, args.k, mode="combined")
            b = remote.lexical(query, None, args.k, mode="combined")
            runs["local"][query], runs["elasticsearch"][query] = dict(a), dict(b)
            top_a, top_b = {d for d, _ in a[:10]}, {d for d, _ in b[:10]}
            if top_a or top_b:
                overlap.append(len(top_a & top_b) / max(len(top_a), len(top_b)))
        args.out.mkdir(parents=True, exist_ok=True)
        for name, run in runs.items():
            write_run(args.out / f"{name}.jsonl", run, tag=name)
        print(
            f"top-10 overlap, local english vs Elasticsearch: mean {np.mean(overlap):.3f}, "
            f"min {np.min(overlap):.2f}, identical top-10 in {sum(o == 1 for o in overlap)} of "
            f"{len(overlap)} queries; runs in {args.out}"
        )
    finally:
        remote.drop()


if __name__ == "__main__":
    main()
