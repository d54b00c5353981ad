"""BM25 on the whole catalogue, local store vs OpenSearch: the same texts, analyzer and mode on both, every
judged query, top 100. Prints nDCG@10 (standard and condensed) per store and how far the rankings differ.

The texts come from a local store (`--store`), so nothing is encoded: the OpenSearch index gets a 1-d dummy
vector field and the store's texts, in the layout the store records (or `--analyzer`).

    tools/opensearch-node/node.sh start --port 9203
    python benchmarks/bench_lexical_parity.py --store /tmp/icecat-demo \\
        --opensearch-url http://127.0.0.1:9203 | tee benchmarks/results/lexical_parity.txt
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gcl_search.datasets.icecat import judgments_path  # noqa: E402
from gcl_search.evaluation import evaluate, read_judgments  # noqa: E402
from gcl_search.records import Document  # noqa: E402
from gcl_search.stores.base import DenseField, IndexLayout, LayoutOptions  # noqa: E402
from gcl_search.stores.local import LocalStore  # noqa: E402
from gcl_search.stores.opensearch import OpenSearchStore  # noqa: E402

INDEX = "bench-lexical-parity"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--opensearch-url", default="http://127.0.0.1:9203")
    parser.add_argument("--analyzer", default="english")
    args = parser.parse_args()
    source = LocalStore(args.store)
    state = source._loaded()
    fields = source.layout().text_fields
    layout = IndexLayout(
        (DenseField("dummy", 1, "none"),),
        fields,
        options=LayoutOptions(analyzer=args.analyzer, catch_all=True),
    )
    local = LocalStore(Path("/tmp") / f"{INDEX}-{args.analyzer}")
    remote = OpenSearchStore(args.opensearch_url, f"{INDEX}-{args.analyzer}")
    docs = [
        Document(d, {}, {f: t[f] for f in fields if t.get(f)}, {}) for d, t in zip(state.ids, state.texts)
    ]
    started = time.perf_counter()
    for store in (local, remote):
        store.drop()
        store.create(layout)
        for lo in range(0, len(docs), 2000):
            assert not store.upsert(docs[lo : lo + 2000]).failed
        store.refresh()
    remote.client.indices.forcemerge(index=remote.index, max_num_segments=1, request_timeout=600)
    print(
        f"# {len(docs)} products, text fields {', '.join(fields)}, analyzer {args.analyzer}; "
        f"loaded in {time.perf_counter() - started:.0f} s\n"
    )
    judgments = read_judgments(judgments_path())
    print(
        "| mode | store | nDCG@10 | condensed | same top-10 | same top-100 (ties at the cut aside) | "
        "max score rel. diff |"
    )
    print("|---|---|---|---|---|---|---|")
    for mode in ("combined", "most_fields"):
        runs: dict[str, dict] = {"local": {}, "opensearch": {}}
        same10 = same100 = 0
        worst = 0.0
        for query in judgments:
            a = local.lexical(query, None, 100, mode=mode)
            b = remote.lexical(query, None, 100, mode=mode)
            runs["local"][query], runs["opensearch"][query] = dict(a), dict(b)
            same10 += [d for d, _ in a[:10]] == [d for d, _ in b[:10]]
            # the same ranking except which of the documents tied at the 100th score made the cut
            cut = a[-1][1] if a else 0.0
            same100 += [d for d, s in a if s > cut * (1 + 1e-6)] == [d for d, s in b if s > cut * (1 + 1e-6)]
            if a and len(a) == len(b):
                sa, sb = np.array([s for _, s in a]), np.array([s for _, s in b])
                worst = max(worst, float(np.max(np.abs(sa - sb) / np.maximum(sb, 1e-9))))
        for name, run in runs.items():
            std = evaluate(judgments, run, ["ndcg@10"]).means["ndcg@10"]
            cond = evaluate(judgments, run, ["ndcg@10"], condensed=True).means["ndcg@10"]
            print(
                f"| {mode} | {name} | {std:.4f} | {cond:.4f} | {same10}/{len(judgments)} | "
                f"{same100}/{len(judgments)} | {worst:.1e} |"
            )
    remote.drop()
    local.drop()


if __name__ == "__main__":
    main()
