"""Evaluation speed: 10,000 queries x 1,000 hits, gcl-search vs ranx on the same in-memory dicts.

Prints times and ratios measured side by side in one run (both warm: ranx's numba JIT is triggered first).
    ours      : evaluate(judgments, run, DEFAULT_METRICS)   (default set: ERR, RBP + residual, judged, ...)
    ours/ranx : evaluate(...) on the metrics ranx also has  (ndcg@10, map@100, mrr@10, recall@100, rbp@0.8)
    ranx      : ranx.evaluate on pre-built Qrels/Run         (scoring only)
    ranx+dict : Qrels(dict) + Run(dict) + ranx.evaluate      (from the same dicts ours starts from)
Target: ours <= 3 s and no slower than ranx.

Usage: python benchmarks/bench_evaluation.py [--queries 10000] [--hits 1000] [--judged 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from gcl_search.evaluation import DEFAULT_METRICS, evaluate

RANX_METRICS = {
    "ndcg@10": "ndcg@10",
    "map@100": "map@100",
    "mrr@10": "mrr@10",
    "recall@100": "recall@100",
    "rbp@0.8": "rbp.8",
}


def make_data(n_queries: int, n_hits: int, n_judged: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    doc_names = [f"doc{i}" for i in range(20 * n_hits)]
    judgments, run = {}, {}
    for q in range(n_queries):
        hits = rng.choice(len(doc_names), n_hits, replace=False)
        run[f"q{q}"] = dict(zip([doc_names[i] for i in hits], rng.random(n_hits).tolist()))
        # judged docs: mostly from the head of the pool, as a shallow judging pool would be
        judged = rng.choice(hits[: 4 * n_judged], n_judged, replace=False)
        grades = rng.integers(0, 4, n_judged)
        grades[0] = max(grades[0], 1)
        judgments[f"q{q}"] = dict(zip([doc_names[i] for i in judged], grades.tolist()))
    return judgments, run


def best_of(repeats: int, fn) -> tuple[float, float, object]:
    """Best wall time and best CPU time (process_time: all threads) over `repeats` calls, and the last result.

    CPU time is printed too because the benchmark machine may be shared: on a busy host wall time measures the
    queue, while CPU time approximates the wall time on an idle core (for single-threaded code).
    """
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--hits", type=int, default=1_000)
    parser.add_argument("--judged", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import ranx

    print(
        f"# {args.queries} queries x {args.hits} hits, {args.judged} judged per query; "
        f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
        f"best of {args.repeats}"
    )
    judgments, run = make_data(args.queries, args.hits, args.judged)

    ours_s, ours_cpu, report = best_of(args.repeats, lambda: evaluate(judgments, run, DEFAULT_METRICS))
    subset = list(RANX_METRICS)
    ours_subset_s, subset_cpu, subset = best_of(args.repeats, lambda: evaluate(judgments, run, subset))

    start, start_cpu = time.perf_counter(), time.process_time()
    qrels, ranx_run = ranx.Qrels(judgments), ranx.Run(run)
    convert_s, convert_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    ranx.evaluate(qrels, ranx_run, list(RANX_METRICS.values()))  # JIT warm-up
    ranx_s, ranx_cpu, theirs = best_of(
        args.repeats, lambda: ranx.evaluate(qrels, ranx_run, list(RANX_METRICS.values()))
    )

    gmax = subset.settings["max_grade"]
    for ours_name, ranx_name in RANX_METRICS.items():
        mine = subset.means[ours_name] * (gmax if ours_name.startswith("rbp") else 1)  # ranx RBP: raw grades
        if abs(mine - theirs[ranx_name]) > 1e-9:
            raise SystemExit(f"disagreement on {ours_name}: ours {mine} ranx {theirs[ranx_name]}")

    rows = [
        (f"ours, default set ({len(report.metrics)} metrics)", ours_s, ours_cpu),
        (f"ours, ranx's metrics ({len(RANX_METRICS)})", ours_subset_s, subset_cpu),
        ("ranx scoring only, warm", ranx_s, ranx_cpu),
        ("ranx dict conversion (Qrels + Run)", convert_s, convert_cpu),
    ]
    print(f"{'':42s} {'wall s':>8s} {'cpu s':>8s}")
    for label, wall, cpu in rows:
        print(f"{label:42s} {wall:8.3f} {cpu:8.3f}")
    print(f"ratio ours(default set) / ranx(scoring), wall  {ours_s / ranx_s:7.3f}")
    print(f"ratio ours(same metrics) / ranx(scoring), wall {ours_subset_s / ranx_s:7.3f}")
    print(f"ratio ours(same metrics) / ranx(dict->), wall  {ours_subset_s / (ranx_s + convert_s):7.3f}")
    print(
        f"target <= 3 s wall: {'met' if ours_s <= 3.0 else 'MISSED'} (cpu {ours_cpu:.2f} s); "
        f"no slower than ranx: {'met' if ours_subset_s <= ranx_s else 'MISSED'}; means agree with ranx"
    )


if __name__ == "__main__":
    main()
