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
LABELS = {(metric, condensed): label for metric, condensed, label in COLUMNS}
MODES = ("dense", "hybrid")


def complete_runs() -> dict[tuple[str, str, int, str], dict]:
    """(setting, variant, seed, level) -> {"dense": run, "hybrid": run, "meta": [fold metadata], "folds":
    [done], "needed": n}; runs missing folds are kept with their finished folds (reported as partial)."""
    folds: dict[str, list[int]] = defaultdict(list)
    for path in (ev.OUT / "folds").glob("*.json"):
        name, _, fold = path.stem.rpartition("-f")
        folds[name].append(int(fold))
    out = {}
    for name, got in sorted(folds.items()):
        if name == "base":
            key, needed = ("base", "base", 0, "default"), 1
        else:
            setting, variant, seed, level = (name.split("-") + ["default"])[:4]
            key = (setting, variant, int(seed[1:]), level)
            needed = ev.folds_of(setting, level)
        merged = {"dense": {}, "hybrid": {}, "grid": None, "meta": [], "folds": sorted(got), "needed": needed}
        for fold in sorted(got):
            dense, hybrid, grid, meta = ev.fold_runs(name, fold)
            merged["dense"].update(dense)
            merged["hybrid"].update(hybrid)
            merged["grid"] = grid if merged["grid"] is None else [a | b for a, b in zip(merged["grid"], grid)]
            merged["meta"].append(meta)
        out[key] = merged
    live = ev.OUT / "live-base.json"
    bm25 = json.loads(live.read_text())["bm25"] if live.is_file() else {}
    if bm25:  # the teacher itself, as a reference row: the live `--lexical-weight 1` run
        out["bm25", "bm25", 0, "default"] = {
            "dense": bm25,
            "hybrid": bm25,
            "grid": None,
            "meta": [{"seconds": 0}],
            "folds": [0],
            "needed": 1,
        }
    return out


def per_query(judgments, run, metric: str, condensed: bool) -> dict[str, float]:
    """query -> metric over the queries the run holds (a partial run's missing folds are not scored as 0)."""
    report = evaluate({q: j for q, j in judgments.items() if q in run}, run, [metric], condensed=condensed)
    return {q: float(v) for q, v in zip(report.query_ids, report.scores[:, 0])}


def paired_tests(values: dict, columns: list[tuple]):
    """(setting, "a - b", column, mean difference, pooled p, queries) for GCL vs binary, GCL vs base and
    binary vs base in each data setting, on each column both variants have (`values[key][column]` by seed)."""
    for setting in ev.SETTINGS:
        for a, b in (("gcl", "binary"), ("gcl", "base"), ("binary", "base")):
            ka, kb = (setting, a), ("base", "base") if b == "base" else (setting, b)
            if ka not in values or kb not in values:
                continue
            for col in columns:
                yield setting, f"{a} - {b}", col, *pooled_test(values[ka][col], values[kb][col])


def pooled_test(a: dict[int, dict[str, float]], b: dict[int, dict[str, float]]) -> tuple[float, float, int]:
    """(mean difference a - b, two-sided paired randomisation p, queries) over the queries both score, each
    side's per-query metric averaged over its seeds (`pooled`)."""
    qa, qb = pooled(a), pooled(b)
    queries = sorted(set(qa) & set(qb))
    xa, xb = np.array([qa[q] for q in queries]), np.array([qb[q] for q in queries])
    return float(np.mean(xa - xb)), paired_p_value(xa, xb, "randomisation", 10_000, 0), len(queries)


def fmt_p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def cmd_report(args) -> None:
    judgments = icecat_judgments()
    every = complete_runs()
    runs = {key[:3]: run for key, run in every.items() if key[3] == "default"}
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
    columns = [(mode, metric, condensed) for mode in MODES for metric, condensed, _ in COLUMNS[:2]]
    for setting, pair, (mode, *col), diff, p, n in paired_tests(values, columns):
        tests.append(
            f"| {setting} | {pair} | {mode} | {LABELS[tuple(col)]} | {diff:+.4f} | {fmt_p(p)} | {n} |"
        )
    tuned_lines = tuned_table(judgments, runs, groups, order)
    search_lines = search_table(judgments, every)
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
            *tuned_lines,
            *search_lines,
        ]
    )
    old = REPORT.read_text(encoding="utf-8") if REPORT.is_file() else ""
    notes = old[old.index(NOTES) :] if NOTES in old else ""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text + ("\n" + notes if notes else ""), encoding="utf-8")
    print(text)


def inner_halves() -> list[set[str]]:
    """Each outer fold's queries split in two (query_folds, seed 1): the tuning / scoring halves of the
    fusion's inner cross-validation. The same split for every model (teacher and base rank every query)."""
    from gcl_search.training.data import query_folds

    triples = ev.load_icecat(["title"]).triples
    halves = []
    for fold in range(ev.FOLDS):
        queries = set(ev.fold_queries(fold))
        halves += query_folds([t for t in triples if t.query in queries], 2, 1)
    return halves


def tuned_run(judgments, grid: list[dict], halves: list[set[str]]) -> tuple[dict, list[int]]:
    """The hybrid run whose fusion each inner half takes from the other half of its outer fold: the grid
    spec with the best mean nDCG@10 there (first on ties: the served one). Returns (run, chosen indices)."""
    chosen = choose_per_half([per_query(judgments, run, "ndcg@10", False) for run in grid], halves)
    return by_half([grid[best] for best in chosen], halves), chosen


def by_half(sources: list[dict], halves: list[set[str]]) -> dict:
    """One query-keyed dict: each half's queries taken from its own source (the candidate chosen for it)."""
    out = {}
    for half, source in zip(halves, sources):
        out.update({q: v for q, v in source.items() if q in half})
    return out


def choose_per_half(scores: list[dict[str, float]], halves: list[set[str]]) -> list[int]:
    """For each inner half (halves come in pairs: an outer fold's two halves), the index of the candidate
    with the best mean score over the OTHER half's queries (the first on ties; -1 for a candidate that
    scored none of them), so no query's own score chooses its candidate."""
    chosen = []
    for i in range(len(halves)):
        other = halves[i + 1 if i % 2 == 0 else i - 1]
        means = [
            np.mean([sc[q] for q in other if q in sc]) if any(q in sc for q in other) else -1 for sc in scores
        ]
        chosen.append(int(np.argmax(means)))
    return chosen


def tuned_table(judgments, runs, groups, order) -> list[str]:
    """Hybrid with each model's fusion chosen by inner cross-validation, and its paired tests."""
    grid_specs, halves = ev.fusion_grid(), inner_halves()
    values, picks = {}, {}
    for key in order:
        for seed in groups.get(key, []):
            grid = runs[(*key, seed)]["grid"]
            if grid is None:
                continue
            run, chosen = tuned_run(judgments, grid, halves)
            picks.setdefault(key, []).extend(chosen)
            for metric, condensed, _ in COLUMNS[:2]:
                scores = per_query(judgments, run, metric, condensed)
                values.setdefault(key, {}).setdefault((metric, condensed), {})[seed] = scores
    if not values:
        return []
    label = lambda i: f"{grid_specs[i].fusion} {grid_specs[i].weight:g}"  # noqa: E731
    lines = [
        "Hybrid with the fusion re-chosen for each model (inner cross-validation: each outer fold's queries "
        "split in two halves, query_folds seed 1; each half gets the spec with the best mean nDCG@10 on the "
        f"other half, from the served one plus RRF and min-max at lexical weights 0.1-0.9, {len(grid_specs)} "
        "specs; the same halves for every model). A user re-runs `gcl-search tune` after fine-tuning; this "
        "asks whether the served defaults, chosen for the base model, are why the fine-tunes' hybrid falls.",
        "",
        "| data | variant | seeds | tuned hybrid nDCG@10 | tuned hybrid cond. nDCG@10 | chosen (count) |",
        "|---" * 6 + "|",
    ]
    for key, cols in values.items():
        cells = []
        for col in ((m, c) for m, c, _ in COLUMNS[:2]):
            seed_means = [np.mean(list(v.values())) for v in cols[col].values()]
            sd = f" +- {np.std(seed_means, ddof=1):.3f}" if len(seed_means) > 1 else ""
            cells.append(f"{np.mean(seed_means):.4f}{sd}")
        counts = defaultdict(int)
        for i in picks[key]:
            counts[label(i)] += 1
        chosen = ", ".join(f"{name} ({n})" for name, n in sorted(counts.items(), key=lambda x: -x[1]))
        seeds = ",".join(map(str, sorted(cols[("ndcg@10", False)])))
        lines.append(f"| {key[0]} | {key[1]} | {seeds} | {cells[0]} | {cells[1]} | {chosen} |")
    lines += ["", "| data | comparison | metric | mean difference | pooled p | queries |", "|---" * 6 + "|"]
    columns = [(metric, condensed) for metric, condensed, _ in COLUMNS[:2]]
    for setting, pair, col, diff, p, n in paired_tests(values, columns):
        lines.append(
            f"| {setting} | {pair} (tuned hybrid) | {LABELS[col]} | {diff:+.4f} | {fmt_p(p)} | {n} |"
        )
    return [*lines, ""]


def default_seeds(every: dict, setting: str) -> list[int]:
    return sorted({k[2] for k in every if k[0] == setting and k[3] == "default"})


def search_levels(every: dict, setting: str) -> dict[str, list[str]]:
    """variant -> the levels it chooses among: those whose runs are complete (every seed of the default's, all
    folds) for every variant the level runs for (ev.LEVELS: shared or GCL-only)."""
    seeds = default_seeds(every, setting)

    def complete(variant: str, level: str) -> bool:
        return all(
            (setting, variant, s, level) in every
            and len(every[setting, variant, s, level]["folds"]) == every[setting, variant, s, level]["needed"]
            for s in seeds
        )

    out = {}
    for variant in ev.VARIANTS:
        out[variant] = [
            level
            for level, change in ev.LEVELS.items()
            if (change["shared"] or variant == "gcl")
            and all(complete(v, level) for v in (ev.VARIANTS if change["shared"] else ["gcl"]))
        ]
    return out


def search_table(judgments, every: dict, setting: str = "human") -> list[str]:
    """The fair search (plan file, sessions 4 and 5): per-level means for reference, then for each
    pre-registered selection (ev.SEARCHES) each variant's level chosen per inner half on the other half's
    nDCG@10 in the selection's mode (per query averaged over seeds) and scored on its own half, with pooled
    paired tests of the tuned variants; last, GCL - binary at every level both ran."""
    levels = search_levels(every, setting)
    if not any(len(v) > 1 for v in levels.values()):
        return []
    seeds = default_seeds(every, setting)
    shown = (*COLUMNS[:2], COLUMNS[3])  # standard and condensed nDCG@10, judged@10 (not tested)
    cols = [(mode, metric, condensed) for mode in MODES for metric, condensed, _ in shown]
    # scores[variant][level][col] = {seed: {query: value}}
    scores: dict = {}
    for variant, names in levels.items():
        for level in names:
            for seed in seeds:
                run = every[setting, variant, seed, level]
                for mode, metric, condensed in cols:
                    scores.setdefault(variant, {}).setdefault(level, {}).setdefault(
                        (mode, metric, condensed), {}
                    )[seed] = per_query(judgments, run[mode], metric, condensed)

    def cell(by_seed: dict) -> str:
        means = [np.mean(list(v.values())) for v in by_seed.values()]
        return f"{np.mean(means):.4f} +- {np.std(means, ddof=1):.3f}" if len(means) > 1 else f"{means[0]:.4f}"

    heads = " | ".join(f"{mode} {LABELS[(metric, condensed)]}" for mode, metric, condensed in cols)
    what = "; ".join(f"{lv}: {ch['what']}" for lv, ch in ev.LEVELS.items() if lv != "default")
    only = ", ".join(lv for lv, ch in ev.LEVELS.items() if not ch["shared"])
    lines = [
        f"Fair search ({setting} setting; plan file, sessions 4-7): each level changes one setting of "
        f"the frozen recipe ({what}; {only} run for GCL only). Per level, mean over seeds (reference only: "
        "these numbers choose nothing):",
        "",
        f"| variant | level | seeds | {heads} |",
        "|---" * (3 + len(cols)) + "|",
    ]
    for variant, names in levels.items():
        for level in names:
            lines.append(
                f"| {variant} | {level} | {','.join(map(str, seeds))} | "
                + " | ".join(cell(scores[variant][level][col]) for col in cols)
                + " |"
            )
    lines.append("")
    halves = inner_halves()
    base_run = every.get(("base", "base", 0, "default"))
    base = {c: {0: per_query(judgments, base_run[c[0]], *c[1:])} for c in cols} if base_run else {}
    tests = {}
    for session, mode, candidates in ev.SEARCHES:
        pool = {v: [lv for lv in names if lv in candidates] for v, names in levels.items()}
        wanted = {v: [lv for lv in candidates if ev.LEVELS[lv]["shared"] or v == "gcl"] for v in pool}
        if any(sorted(pool[v]) != sorted(wanted[v]) for v in pool):
            lines += [f"Selection of session {session}: not reported (a candidate level is incomplete).", ""]
            continue
        tuned = tuned_levels(scores, pool, halves, (mode, "ndcg@10", False), cols)
        lines += [
            f"Selection of session {session}, tuned by query-level cross-validation: each outer fold's "
            "queries split in two halves (query_folds seed 1); each half is ranked by the level with the "
            f"best mean **{mode}** nDCG@10 on the other half (first on ties, LEVELS order); binary chooses "
            f"among {', '.join(pool['binary'])}; GCL among {', '.join(pool['gcl'])}.",
            "",
            f"| variant | seeds | {heads} | chosen (per half) |",
            "|---" * (3 + len(cols)) + "|",
        ]
        for variant, (by_col, chosen) in tuned.items():
            lines.append(
                f"| {variant} (tuned) | {','.join(map(str, seeds))} | "
                + " | ".join(cell(by_col[col]) for col in cols)
                + f" | {', '.join(chosen)} |"
            )
        lines.append("")
        pairs = [(tuned["gcl"][0], tuned["binary"][0], "gcl tuned - binary tuned")]
        pairs += [(tuned[v][0], scores[v]["default"], f"{v} tuned - {v} default") for v in tuned]
        pairs += [(tuned[v][0], base, f"{v} tuned - base") for v in tuned if base]
        tests[session] = pairs
    for level in (lv for lv in ev.LEVEL_TESTS if lv in levels["gcl"] and lv in levels["binary"]):
        pairs = [(scores[v][level], scores[v]["default"], f"{v} {level} - {v} default") for v in levels]
        pairs += [(scores[v][level], base, f"{v} {level} - base") for v in levels if base]
        tests[level] = pairs
    matched = [lv for lv in levels["binary"] if lv in levels["gcl"]]
    tests["matched"] = [
        (scores["gcl"][lv], scores["binary"][lv], f"gcl {lv} - binary {lv} (same level)") for lv in matched
    ]
    lines += [
        "| selection | comparison | mode | metric | mean difference | pooled p | queries |",
        "|---" * 7 + "|",
    ]
    for session, pairs in tests.items():
        for a, b, name in pairs:
            for col in (c for c in cols if c[1] != "judged@10"):
                diff, p, n = pooled_test(a[col], b[col])
                label = LABELS[col[1:]]
                lines.append(f"| {session} | {name} | {col[0]} | {label} | {diff:+.4f} | {fmt_p(p)} | {n} |")
    return [*lines, ""]


def tuned_levels(scores: dict, pool: dict, halves: list[set[str]], key_col: tuple, cols: list) -> dict:
    """variant -> ({col: {seed: {query: value}}}, chosen level per half): each inner half scored by the
    candidate level that `key_col` (pooled over seeds) ranks best on the other half."""
    out = {}
    for variant, names in pool.items():
        chosen = [
            names[i] for i in choose_per_half([pooled(scores[variant][lv][key_col]) for lv in names], halves)
        ]
        by_col: dict = {}
        for col in cols:
            for seed in scores[variant][names[0]][col]:
                sources = [scores[variant][level][col][seed] for level in chosen]
                by_col.setdefault(col, {})[seed] = by_half(sources, halves)
        out[variant] = (by_col, chosen)
    return out


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
