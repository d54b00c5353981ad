"""The report of training/icecat_gcl_evidence.py: mean +- sd over seeds and pooled paired randomisation tests,
written to training/results/icecat_gcl_evidence.md (scripts/make_results.py copies its table into
docs/results.md). Only complete (setting, variant, seed) runs are reported: every fold present."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import icecat_gcl_evidence as ev
import numpy as np

from gcl_search.evaluation import evaluate
from gcl_search.evaluation.compare import paired_p_value
from gcl_search.training.sources import icecat_judgments

REPORT = Path(__file__).resolve().parent / "results" / "icecat_gcl_evidence.md"
NOTES = "<!-- notes: kept by the report command -->"
COLUMNS = (
    ("ndcg@10", False, "nDCG@10"),
    ("ndcg@10", True, "cond. nDCG@10"),
    ("err@10", False, "ERR@10"),
    ("judged@10", False, "judged@10"),
)
MODES = ("dense", "hybrid")


def complete_runs() -> dict[tuple[str, str, int], dict]:
    """(setting, variant, seed) -> {"dense": run, "hybrid": run, "meta": [fold metadata], "folds": [done],
    "needed": n}; runs missing folds are kept with their finished folds (reported as partial)."""
    folds: dict[str, list[int]] = defaultdict(list)
    for path in (ev.OUT / "folds").glob("*.json"):
        name, _, fold = path.stem.rpartition("-f")
        folds[name].append(int(fold))
    out = {}
    for name, got in sorted(folds.items()):
        if name == "base":
            key, needed = ("base", "base", 0), 1
        else:
            setting, variant, seed = name.split("-")
            key, needed = (setting, variant, int(seed[1:])), 1 if setting == "teacher" else ev.FOLDS
        merged = {"dense": {}, "hybrid": {}, "meta": [], "folds": sorted(got), "needed": needed}
        for fold in sorted(got):
            dense, hybrid, meta = ev.fold_runs(name, fold)
            merged["dense"].update(dense)
            merged["hybrid"].update(hybrid)
            merged["meta"].append(meta)
        out[key] = merged
    live = ev.OUT / "live-base.json"
    bm25 = json.loads(live.read_text())["bm25"] if live.is_file() else {}
    if bm25:  # the teacher itself, as a reference row: the live `--lexical-weight 1` run
        out["bm25", "bm25", 0] = {
            "dense": bm25,
            "hybrid": bm25,
            "meta": [{"seconds": 0}],
            "folds": [0],
            "needed": 1,
        }
    return out


def per_query(judgments, run, metric: str, condensed: bool) -> dict[str, float]:
    """query -> metric over the queries the run holds (a partial run's missing folds are not scored as 0)."""
    report = evaluate({q: j for q, j in judgments.items() if q in run}, run, [metric], condensed=condensed)
    return {q: float(v) for q, v in zip(report.query_ids, report.scores[:, 0])}


def fmt_p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def cmd_report(args) -> None:
    judgments = icecat_judgments()
    runs = complete_runs()
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for setting, variant, seed in runs:
        groups[setting, variant].append(seed)
    order = [("bm25", "bm25"), ("base", "base")] + [(s, v) for s in ev.SETTINGS for v in ev.VARIANTS]
    # values[(setting, variant)][(mode, metric, condensed)] = {seed: {query: value}}
    values: dict = {}
    for key in order:
        for seed in groups.get(key, []):
            for mode in MODES:
                for metric, condensed, _ in COLUMNS:
                    scores = per_query(judgments, runs[(*key, seed)][mode], metric, condensed)
                    values.setdefault(key, {}).setdefault((mode, metric, condensed), {})[seed] = scores
    heads = " | ".join(f"{m} {label}" for m in MODES for *_, label in COLUMNS)
    lines = [
        f"| data | variant | seeds | queries | {heads} | min/model |",
        "|---" * (5 + 2 * len(COLUMNS)) + "|",
    ]
    for key in order:
        if key not in values:
            continue
        cells = []
        for mode in MODES:
            for metric, condensed, _ in COLUMNS:
                by_seed = values[key][(mode, metric, condensed)]
                seed_means = [np.mean(list(v.values())) for v in by_seed.values()]
                sd = f" +- {np.std(seed_means, ddof=1):.3f}" if len(seed_means) > 1 else ""
                cells.append(f"{np.mean(seed_means):.4f}{sd}")
        seeds = sorted(groups[key])
        minutes = [m["seconds"] / 60 for s in seeds for m in runs[(*key, s)]["meta"]]
        partial = [
            f"s{s}: folds {runs[(*key, s)]['folds']} of {runs[(*key, s)]['needed']}"
            for s in seeds
            if len(runs[(*key, s)]["folds"]) < runs[(*key, s)]["needed"]
        ]
        name = key[1] + (f" (PARTIAL, {'; '.join(partial)})" if partial else "")
        n = len(pooled(values[key][("dense", "ndcg@10", False)]))
        lines.append(
            f"| {key[0]} | {name} | {','.join(map(str, seeds))} | {n} | "
            + " | ".join(cells)
            + f" | {np.mean(minutes):.0f} |"
        )
    tests = ["| data | comparison | mode | metric | mean difference | pooled p | queries |", "|---" * 7 + "|"]
    for setting in ev.SETTINGS:
        for a, b in (("gcl", "binary"), ("gcl", "base"), ("binary", "base")):
            ka, kb = (setting, a), ("base", "base") if b == "base" else (setting, b)
            if ka not in values or kb not in values:
                continue
            for mode in MODES:
                for metric, condensed, label in COLUMNS[:2]:
                    col = (mode, metric, condensed)
                    qa, qb = pooled(values[ka][col]), pooled(values[kb][col])
                    queries = sorted(set(qa) & set(qb))
                    xa, xb = np.array([qa[q] for q in queries]), np.array([qb[q] for q in queries])
                    p = paired_p_value(xa, xb, "randomisation", 10_000, 0)
                    tests.append(
                        f"| {setting} | {a} - {b} | {mode} | {label} | {np.mean(xa - xb):+.4f} "
                        f"| {fmt_p(p)} | {len(queries)} |"
                    )
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = "\n".join(
        [
            "# Issue 14 evidence: base vs binary vs GCL, human / teacher / both, multi-field, full catalogue",
            "",
            f"Generated by `python training/icecat_gcl_evidence.py report` ({stamp}); protocol and CPU plan: "
            f"`training/results/icecat_gcl_evidence_plan.md`. Folds: {ev.FOLDS} (human / both; query-level, "
            "fold_seed 0); teacher: one model per seed ranks every visible query (none trained on). All runs "
            "over all 19,406 products; dense = the seed's fused score (title 0.7 / description 0.3, "
            "renormalised over present fields), hybrid = the config's default hybrid request "
            f"({hybrid_words()}), i.e. what `gcl-search evaluate --live 'hybrid=--lexical'` does on the "
            "store, with each model's own document vectors. "
            "Mean +- sd over seeds (sd only with >= 2 seeds). A PARTIAL run lacks folds: its means are over "
            "its finished folds' queries only (compare it through the paired tests, which use the shared "
            "queries). bm25 = the teacher (store BM25 alone, the live `--lexical-weight 1` run); base = the "
            f"as-served base model (store vectors). {live_check_words()}",
            "",
            *lines,
            "",
            "Pooled paired randomisation tests (per-query metric averaged over each variant's seeds, then "
            "10,000 sign flips over queries, two-sided, not adjusted for multiplicity):",
            "",
            *tests,
            "",
        ]
    )
    old = REPORT.read_text(encoding="utf-8") if REPORT.is_file() else ""
    notes = old[old.index(NOTES) :] if NOTES in old else ""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text + ("\n" + notes if notes else ""), encoding="utf-8")
    print(text)


def hybrid_words() -> str:
    spec, depth, mode = ev.served()
    return (
        f"{ev.CONFIG} [search] defaults: fusion {spec.fusion}, lexical weight {spec.weight}"
        + (f", rank constant {spec.rank_constant:g}" if spec.fusion == "rrf" else "")
        + f", BM25 mode {mode}, {depth} candidates from each of the exact dense search and BM25"
    )


def live_check_words() -> str:
    path = ev.OUT / "live-check.json"
    if not path.is_file():
        return "The offline ranking was not checked against the live client."
    check = json.loads(path.read_text())
    return (
        "Check of the offline ranking against the live search client on the base model (store vectors): "
        + "; ".join(
            f"{mode} identical top 10 for {c['same_top10']}/{c['queries']} queries, identical "
            f"top 100 for {c['same_top100']}/{c['queries']}"
            for mode, c in check.items()
        )
        + "."
    )


def pooled(by_seed: dict[int, dict[str, float]]) -> dict[str, float]:
    """query -> the metric averaged over seeds (queries scored in every seed)."""
    common = set.intersection(*(set(v) for v in by_seed.values()))
    return {q: float(np.mean([v[q] for v in by_seed.values()])) for q in common}


if __name__ == "__main__":
    print(json.dumps({"complete": [list(k) for k in complete_runs()]}))
