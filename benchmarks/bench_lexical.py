"""BM25 variants and a hybrid grid on a local store, with query-level k-fold cross-validation of the choice.

For every judged query this computes, once: the exact dense score of every product at the config's
weights (`--dense-score`: the fused score or `sum_f w_f q_f . d_f`, `gcl_search.fields.vectors.
multi_field_scores`), and the BM25 score of every product for each lexical variant (analyzer x mode x
fields, `gcl_search.stores.bm25.LexicalIndex`, the local store's own code). A hybrid setting (variant,
fusion, lexical weight, oversample) is then ranked exactly as the search client ranks on the local store for
`evaluate --live` (k = 100): candidates = the dense top `ceil(100 * oversample)` and the BM25 top as many
(BM25 0 for a candidate outside the BM25 top, as the client has no score for it), fused over that set by
`gcl_search.search.fusion.fuse`, ties by doc_id. Per-query nDCG@10 (standard and condensed) comes from
`gcl_search.evaluation.evaluate` (queries without a relevant product are skipped: 86 of 105).

Choosing a setting is cross-validated at the query level: the queries are split into k folds (seeded); for
each fold the setting with the best mean criterion on the other folds is picked and scored on the fold. The
out-of-fold mean (every query scored by a setting chosen without it) is the honest estimate; it is repeated
over several seeds. The criterion is, per query, the mean of standard and condensed nDCG@10 ("both"): the
judged pool came from a lexical engine, so standard nDCG@10 alone counts every unjudged product a dense
retriever finds as irrelevant and pushes the choice toward BM25 only, while condensed nDCG@10 alone ignores
them; CV with each single criterion is printed too. The in-sample best is printed beside it, labelled as such.

    python benchmarks/bench_lexical.py --store /tmp/icecat-demo --index icecat -c configs/icecat-demo.toml \
        | tee benchmarks/results/lexical.txt

Only the texts and the stored vectors are read; nothing is re-encoded except the 105 queries.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gcl_search.config import load_config  # noqa: E402
from gcl_search.datasets.icecat import judgments_path  # noqa: E402
from gcl_search.evaluation import evaluate, read_judgments  # noqa: E402
from gcl_search.search.fusion import fuse  # noqa: E402
from gcl_search.stores.bm25 import LexicalIndex  # noqa: E402
from gcl_search.stores.local import LocalStore  # noqa: E402

FUSIONS = ("minmax", "zscore", "rrf")
LAMBDAS = tuple(round(0.1 * i, 1) for i in range(1, 10))
OVERSAMPLES = (1.0, 3.0, 10.0)
K = 100  # hits per query, as `evaluate --live` asks for (its --k); the client fuses ceil(K * oversample)


def load(store_dir: Path, config_path: Path, dense_score: str):
    store = LocalStore(store_dir)
    state, layout = store._loaded(), store.layout()
    config = load_config(config_path)
    weights = {spec.name: spec.weight for spec in config.fields}
    from gcl_search.encoders.registry import load_encoders
    from gcl_search.search.embed import QueryEmbedder

    embedder = QueryEmbedder(config, load_encoders(config))
    judgments = read_judgments(judgments_path())
    queries = list(judgments)
    from gcl_search.fields.vectors import multi_field_scores

    blocks = [state.concat[:, sl].astype(np.float64) for sl in layout.offsets.values()]
    gram = np.stack([np.stack([np.einsum("nd,nd->n", a, b) for b in blocks], axis=1) for a in blocks], axis=1)
    w = np.array([weights.get(name, 0.0) for name in layout.field_names])
    dense = np.zeros((len(queries), len(state.ids)), dtype=np.float64)
    for i, text in enumerate(queries):
        q = embedder.embed(text)
        sims = np.stack([b @ q[n].astype(np.float64) for b, n in zip(blocks, layout.field_names)], axis=1)
        dense[i] = multi_field_scores(sims, gram, state.present, w, dense_score)
    return state, layout, judgments, queries, dense


def lexical_scores(state, layout, queries, analyzer: str, fields: tuple[str, ...], mode: str) -> np.ndarray:
    texts = {
        name: [
            t.get(name) or (a.get(name) if isinstance(a.get(name), str) else None)
            for t, a in zip(state.texts, state.attrs)
        ]
        for name in fields
    }
    index = LexicalIndex(texts, analyzer, catch_all=mode == "combined")
    out = np.zeros((len(queries), len(state.ids)), dtype=np.float64)
    for i, text in enumerate(queries):
        out[i] = index.scores(text, mode, list(fields), {})[0]
    return out


def top(scores: np.ndarray, n: int, ids: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """The n best rows by score, ties by doc_id (as `local_state.top_k`, tie-exact at the cut-off)."""
    idx = np.flatnonzero(mask) if mask is not None else np.arange(len(scores))
    if len(idx) > n:
        kth = np.partition(scores[idx], len(idx) - n)[len(idx) - n]
        idx = idx[scores[idx] >= kth]
    return np.array(sorted(idx, key=lambda i: (-scores[i], ids[i]))[:n], dtype=np.int64)


class Ranker:
    def __init__(self, state, judgments, queries):
        self.ids = np.array(state.ids)
        self.judgments, self.queries = judgments, queries
        self.cache: dict = {}

    def per_query(self, run: dict) -> tuple[np.ndarray, np.ndarray]:
        std = evaluate(self.judgments, run, ["ndcg@10"])
        cond = evaluate(self.judgments, run, ["ndcg@10"], condensed=True)
        return std.column("ndcg@10"), cond.column("ndcg@10")

    def bm25_run(self, lex: np.ndarray) -> dict:
        run = {}
        for i, q in enumerate(self.queries):
            idx = top(lex[i], 100, self.ids, lex[i] > 0)
            run[q] = {str(self.ids[j]): float(lex[i, j]) for j in idx}
        return run

    def hybrid_run(
        self, dense: np.ndarray, lex: np.ndarray, fusion: str, lam: float, oversample: float
    ) -> dict:
        depth = math.ceil(K * oversample)
        run = {}
        for i, q in enumerate(self.queries):
            lex_top = top(lex[i], depth, self.ids, lex[i] > 0)
            cand = np.union1d(top(dense[i], depth, self.ids), lex_top)
            ids = [str(self.ids[j]) for j in cand]
            # as the client: BM25 0 and no BM25 rank for a candidate the BM25 search did not return
            matched = np.isin(cand, lex_top)
            lexical = np.where(matched, lex[i, cand], 0.0)
            scores = fuse(ids, dense[i, cand].astype(np.float64), lexical, matched, fusion, lam)
            order = sorted(range(len(cand)), key=lambda r: (-scores[r], ids[r]))[:K]
            run[q] = {ids[r]: float(len(order) - n) for n, r in enumerate(order)}
        return run


CRITERIA = ("both", "standard", "condensed")


def cross_validate(
    names: list, std: np.ndarray, cond: np.ndarray, folds: int, seeds: int, criterion: str = "both"
):
    """Out-of-fold (standard, condensed) means per seed, and how often each setting was chosen."""
    n = std.shape[1]
    select = {"both": (std + cond) / 2, "standard": std, "condensed": cond}[criterion]
    results, chosen = [], {}
    for seed in range(seeds):
        order = list(range(n))
        random.Random(seed).shuffle(order)
        oof_s, oof_c = np.zeros(n), np.zeros(n)
        for fold in np.array_split(np.array(order), folds):
            inside = np.setdiff1d(np.arange(n), fold)
            best = int(np.argmax(select[:, inside].mean(axis=1)))  # ties: the first listed
            chosen[names[best]] = chosen.get(names[best], 0) + 1
            oof_s[fold], oof_c[fold] = std[best, fold], cond[best, fold]
        results.append((oof_s.mean(), oof_c.mean()))
    return np.array(results), chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="the local store directory (<dir>/<index>)")
    parser.add_argument("-c", "--config", type=Path, default=Path("configs/icecat-demo.toml"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--save", type=Path, help="write the per-query nDCG matrices here (.npz)")
    parser.add_argument(
        "--dense-score",
        choices=("fused", "sum"),
        default="fused",
        help="the dense score (`[search] dense_score`): fused (the default) or sum",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    state, layout, judgments, queries, dense = load(args.store, args.config, args.dense_score)
    ranker = Ranker(state, judgments, queries)
    base = tuple(layout.text_fields)
    variants = [
        (an, mode, fields)
        for an in ("english", "standard")
        for mode in ("combined", "most_fields")
        for fields in (base, (*base, "name"))
    ]
    lex = {v: lexical_scores(state, layout, queries, *v[:1], v[2], v[1]) for v in variants}
    print(
        f"# {len(state.ids)} products, {len(queries)} queries; config {args.config} (dense score: "
        f"{args.dense_score}); {args.folds}-fold CV x {args.seeds} seeds, query-level\n"
    )
    print("## BM25 alone (nDCG@10 over the 86 queries with a relevant product)\n")
    print("| analyzer | mode | fields | standard | condensed |\n|---|---|---|---|---|")
    names, std_rows, cond_rows = [], [], []
    for v in variants:
        s, c = ranker.per_query(ranker.bm25_run(lex[v]))
        names.append(v)
        std_rows.append(s)
        cond_rows.append(c)
        print(f"| {v[0]} | {v[1]} | {'+'.join(v[2])} | {s.mean():.4f} | {c.mean():.4f} |")
    for criterion in CRITERIA:
        oof, chosen = cross_validate(
            names, np.array(std_rows), np.array(cond_rows), args.folds, args.seeds, criterion
        )
        print(
            f"\nCV of the BM25 choice (criterion {criterion}): out-of-fold standard {oof[:, 0].mean():.4f} "
            f"(sd over seeds {oof[:, 0].std():.4f}), condensed {oof[:, 1].mean():.4f}; chosen: {chosen}"
        )
    print()
    print("## Hybrid grid (variant x fusion x lexical weight x oversample)\n")
    settings = list(itertools.product(variants, FUSIONS, LAMBDAS, OVERSAMPLES))
    std_h, cond_h = [], []
    for v, fusion, lam, over in settings:
        s, c = ranker.per_query(ranker.hybrid_run(dense, lex[v], fusion, lam, over))
        std_h.append(s)
        cond_h.append(c)
    std_h, cond_h = np.array(std_h), np.array(cond_h)
    if args.save:
        np.savez(args.save, std=std_h, cond=cond_h, settings=np.array([repr(s) for s in settings]))
    means = ((std_h + cond_h) / 2).mean(axis=1)
    print(
        "best in-sample settings by the mean of standard and condensed (NOT an estimate of quality on new "
        "queries):\n"
    )
    print(
        "| analyzer | mode | fields | fusion | lam | oversample | standard | condensed |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    for i in np.argsort(-means)[:12]:
        v, fusion, lam, over = settings[i]
        print(
            f"| {v[0]} | {v[1]} | {'+'.join(v[2])} | {fusion} | {lam} | {over:g} | {std_h[i].mean():.4f} | "
            f"{cond_h[i].mean():.4f} |"
        )
    print("\nbest per fusion x variant (in-sample), at its best lam and oversample:\n")
    for v in variants:
        row = []
        for fusion in FUSIONS:
            idx = [i for i, s in enumerate(settings) if s[0] == v and s[1] == fusion]
            b = max(idx, key=lambda i: means[i])
            row.append(
                f"{fusion} {std_h[b].mean():.4f}/{cond_h[b].mean():.4f} "
                f"(lam {settings[b][2]}, x{settings[b][3]:g})"
            )
        print(f"- {v[0]} {v[1]} {'+'.join(v[2])}: " + "; ".join(row))
    labels = [f"{s[0][0]}/{s[0][1]}/{'+'.join(s[0][2])}/{s[1]}/lam{s[2]}/x{s[3]:g}" for s in settings]
    for criterion in CRITERIA:
        oof, chosen = cross_validate(labels, std_h, cond_h, args.folds, args.seeds, criterion)
        print(
            f"\nCV of the whole hybrid choice ({len(settings)} settings, criterion {criterion}): "
            f"out-of-fold standard {oof[:, 0].mean():.4f} (sd over seeds {oof[:, 0].std():.4f}), condensed "
            f"{oof[:, 1].mean():.4f} (sd {oof[:, 1].std():.4f})"
        )
        print("settings chosen in the folds (count over folds x seeds):")
        for name, count in sorted(chosen.items(), key=lambda kv: -kv[1])[:8]:
            print(f"  {count:3d}  {name}")
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
