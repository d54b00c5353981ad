"""The Icecat real-data result: base all-MiniLM-L6-v2 vs binary contrastive vs GCL fine-tunes and ablations,
by query-level K-fold cross-validation.

The visible Icecat queries are dealt into K seeded folds (`gcl_search.training.data.query_folds`; queries
with a relevant pair spread evenly). For each fold a variant trains on the other folds' pairs (recipe
training/icecat-minilm-gcl.toml plus the variant's overrides) and ranks the fold's queries by exact cosine
search over a fixed corpus (5,000 products by default, --max-docs 0: all 19,406). The K out-of-fold runs are
concatenated into one run per variant, runs/ablations/<variant>.jsonl (seed 0; other seeds
<variant>-s<seed>.jsonl), so every query with a relevant product is scored exactly once and the project's
paired tests apply (gcl_search.evaluation.compare).

Usage (from the repository root):
    python training/icecat_ablations.py run base binary gcl --seeds 0 --folds 4 --max-docs 5000
    python training/icecat_ablations.py report --max-docs 5000   # -> training/results/icecat_ablations.md

Each fold's run is kept in runs/icecat-ablations/folds/, so an interrupted variant resumes at its next fold;
pass --fresh to recompute.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

from gcl_search.config import EncoderSpec, read_toml
from gcl_search.evaluation import compare
from gcl_search.evaluation.runs import read_run, write_run
from gcl_search.training.data import query_folds
from gcl_search.training.dev import dev_corpus, retrieve, score_run
from gcl_search.training.setup import load_training_data, prepare
from gcl_search.training.sources import icecat_judgments
from gcl_search.training.spec import parse_train_config
from gcl_search.training.towers import load_trainable
from gcl_search.training.trainer import train

RECIPE = Path(__file__).resolve().parent / "icecat-minilm-gcl.toml"
OUT = Path("runs/icecat-ablations")
# 19,406 titles take ~4 CPU minutes to encode per fold and variant, more than a shared 2-core machine allows
# for a dozen variants; 5,000 (all judged products plus a sample) take ~1. 0 = the whole catalogue.
DEFAULT_MAX_DOCS = 5000
NOTES = "<!-- notes: kept by the report command -->"
REPORT = Path(__file__).resolve().parent / "results" / "icecat_ablations.md"
METRICS = ["ndcg@10", "err@10", "judged@10"]
TITLE_DESC = [
    {"name": "title", "encoder": "minilm", "weight": 0.7},
    {"name": "description", "encoder": "minilm", "weight": 0.3},
]

# name -> (train?, [train.loss] overrides, [train.data] overrides, fields override)
VARIANTS: dict[str, tuple[bool, dict, dict, list | None]] = {
    "base": (False, {}, {}, None),
    "binary": (True, {"weighting": "binary"}, {}, None),
    "gcl": (True, {}, {}, None),
    "gcl-linear-w0.5": (True, {"weighting": "linear", "w_min": 0.5}, {}, None),
    "gcl-reciprocal": (True, {"weighting": "reciprocal", "w_min": 0.1}, {}, None),
    "gcl-power": (True, {"weighting": "power", "power": 2.0}, {}, None),
    "gcl-nomask": (True, {"mask_known_positives": False}, {}, None),
    "binary-nomask": (True, {"weighting": "binary", "mask_known_positives": False}, {}, None),
    "gcl-negatives": (True, {}, {"negatives_per_row": 1}, None),
    "binary-negatives": (True, {"weighting": "binary"}, {"negatives_per_row": 1}, None),
    "gcl-mined": (True, {}, {"negatives_per_row": 1, "mine_negatives": 5, "mine_skip": 10}, None),
    "base-multifield": (False, {}, {}, TITLE_DESC),
    "gcl-multifield": (True, {}, {}, TITLE_DESC),
    "binary-multifield": (True, {"weighting": "binary"}, {}, TITLE_DESC),
}


def recipe_for(name: str, seed: int, folds: int, fold: int, fold_seed: int, max_docs: int):
    _, loss, data, fields = VARIANTS[name]
    raw = dict(read_toml(RECIPE, "recipe"))
    if fields is not None:
        raw["fields"] = fields
    out = OUT / "train" / f"{name}-s{seed}-f{fold}"
    split = {**data, "folds": folds, "fold": fold, "split_seed": fold_seed}
    return parse_train_config(
        raw,
        RECIPE,
        output_dir=str(out),
        seed=seed,
        overwrite=True,
        eval_each_epoch=False,
        eval_max_docs=max_docs,
        max_length=32,
        loss=loss,
        data=split,
    )


def runs_dir(max_docs: int) -> Path:
    """runs/ablations for the default corpus (the results report reads it), else runs/ablations-docs<N>."""
    return Path("runs/ablations") if max_docs == DEFAULT_MAX_DOCS else Path(f"runs/ablations-docs{max_docs}")


def run_name(name: str, seed: int) -> str:
    return name if seed == 0 else f"{name}-s{seed}"


def run_fold(name: str, seed: int, fold: int, args, cache: dict) -> tuple[dict, float]:
    """(run, seconds): the variant on fold `fold`'s dev queries (an untrained variant: on every query)."""
    tc = recipe_for(name, seed, args.folds, fold, args.fold_seed, args.max_docs)
    fields_key = tuple(f.name for f in tc.config.fields)
    if fields_key not in cache:
        cache[fields_key] = load_training_data(tc)
    data = cache[fields_key]
    started = time.monotonic()
    no_mining = dataclasses.replace(tc.train.data, mine_negatives=0)  # the trainer mines; this only evaluates
    setup = prepare(dataclasses.replace(tc, train=dataclasses.replace(tc.train, data=no_mining)), data)
    if VARIANTS[name][0]:
        result = train(tc, data=data, progress=not args.quiet)
        setup.towers.encoder = load_trainable(
            EncoderSpec(backend="sentence-transformers", model=str(result.model_dir), device="cpu")
        )
        queries = sorted(setup.dev_judgments)
    else:
        queries = sorted({t.query for t in data.triples})
    # One corpus for every fold and variant: all products judged for any query, plus a seeded sample
    doc_ids = dev_corpus(list(setup.towers.catalogue), icecat_judgments(), args.max_docs, args.fold_seed)
    docs = setup.towers.encode_catalogue(doc_ids, 128, progress=not args.quiet)
    run = retrieve(setup.towers.encode_queries(queries, 128), queries, docs, doc_ids, 100)
    if VARIANTS[name][0]:
        shutil.rmtree(tc.train.output_dir, ignore_errors=True)  # ~0.5 GB of checkpoints per fold
    return run, time.monotonic() - started


def run_variant(name: str, seed: int, args, cache: dict) -> dict:
    folds_dir = OUT / "folds"
    folds_dir.mkdir(parents=True, exist_ok=True)
    merged: dict = {}
    seconds = 0.0
    for fold in range(args.folds if VARIANTS[name][0] else 1):
        path = folds_dir / f"{name}-s{seed}-k{args.folds}-fs{args.fold_seed}-d{args.max_docs}-f{fold}.json"
        if path.is_file() and not args.fresh:
            saved = json.loads(path.read_text(encoding="utf-8"))
        else:
            run, spent = run_fold(name, seed, fold, args, cache)
            saved = {"run": run, "seconds": round(spent, 1), "load": os.getloadavg()[0]}
            path.write_text(json.dumps(saved), encoding="utf-8")
            print(f"{name} seed {seed} fold {fold}: {spent:.0f} s, load {saved['load']:.2f}", flush=True)
        merged.update(saved["run"])
        seconds += saved["seconds"]
    runs_dir(args.max_docs).mkdir(parents=True, exist_ok=True)
    write_run(runs_dir(args.max_docs) / f"{run_name(name, seed)}.jsonl", merged, tag=run_name(name, seed))
    result = score_run(icecat_judgments(), merged, METRICS)
    row = {
        "variant": name,
        "seed": seed,
        "folds": args.folds,
        "fold_seed": args.fold_seed,
        "max_docs": args.max_docs,
        "seconds": round(seconds, 1),
        "load_end": round(os.getloadavg()[0], 2),
        "queries": result.queries,
        **result.flat(),
    }
    with open(OUT / "results.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)
    return row


def _p_values(judgments: dict, runs: dict, baseline: str, condensed: bool) -> dict[str, float]:
    if baseline not in runs or len(runs) < 2:
        return {}
    ordered = {baseline: runs[baseline], **{k: v for k, v in runs.items() if k != baseline}}
    comparison = compare(
        judgments, ordered, ["ndcg@10"], baseline=baseline, test="randomisation", condensed=condensed
    )
    return {t.run: t.p_adjusted for t in comparison.tests}


def _fold_means(judgments: dict, run: dict, folds: list[set[str]]) -> list[float]:
    from gcl_search.evaluation import evaluate

    per_query = evaluate(judgments, run, ["ndcg@10"]).per_query
    means = []
    for fold in folds:
        values = [v["ndcg@10"] for q, v in per_query.items() if q in fold]
        means.append(sum(values) / len(values) if values else float("nan"))
    return means


def _corpus(max_docs: int) -> str:
    if not max_docs:
        return "all 19,406 products"
    return (
        f"{max_docs:,} products (the 2,056 judged for any query plus a seeded sample of the others; the "
        "same corpus for every fold and variant; with fewer distractors standard metrics are higher than "
        "on the whole catalogue)"
    )


def report(max_docs: int) -> str:
    rows = [json.loads(line) for line in (OUT / "results.jsonl").read_text().splitlines() if line.strip()]
    latest = {run_name(r["variant"], r["seed"]): r for r in rows if r.get("max_docs") == max_docs}
    order = list(VARIANTS)
    names = sorted(latest, key=lambda k: (order.index(latest[k]["variant"]), latest[k]["seed"]))
    judgments = icecat_judgments()
    runs = {k: read_run(runs_dir(max_docs) / f"{k}.jsonl") for k in names}
    first = latest[names[0]]
    data = load_training_data(recipe_for("base", 0, first["folds"], 0, first["fold_seed"], 0))
    folds = query_folds(data.triples, first["folds"], first["fold_seed"])
    p = {(b, c): _p_values(judgments, runs, b, c) for b in ("base", "binary") for c in (False, True)}

    def fmt(value: float | None) -> str:
        return "-" if value is None else ("<0.001" if value < 0.001 else f"{value:.3f}")

    lines = [
        "| variant | seed | nDCG@10 | condensed nDCG@10 | ERR@10 | judged@10 | p vs base (std / cond) "
        "| p vs binary (std / cond) | nDCG@10 per fold | s (sum of folds) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for k in names:
        r = latest[k]
        per_fold = " / ".join(f"{m:.3f}" for m in _fold_means(judgments, runs[k], folds))
        lines.append(
            f"| {r['variant']} | {r['seed']} | {r['ndcg@10']:.4f} | {r['condensed/ndcg@10']:.4f} "
            f"| {r['err@10']:.4f} | {r['judged@10']:.3f} "
            f"| {fmt(p['base', False].get(k))} / {fmt(p['base', True].get(k))} "
            f"| {fmt(p['binary', False].get(k))} / {fmt(p['binary', True].get(k))} | {per_fold} "
            f"| {r['seconds']:.0f} (load {r['load_end']}) |"
        )
    head = [
        "# Icecat: base all-MiniLM-L6-v2 vs binary vs GCL fine-tunes, query-level cross-validation",
        "",
        f"Protocol (training/icecat_ablations.py): the {len(data.triples):,} judged pairs' "
        f"{sum(map(len, folds))} queries are dealt into {first['folds']} folds (fold_seed "
        f"{first['fold_seed']}); for each fold a variant fine-tunes on the other folds' pairs (recipe "
        "training/icecat-minilm-gcl.toml: 2 epochs, batch 32, lr 2e-5, max_length 32, title field unless "
        "'multifield', plus the variant's overrides) and ranks that fold's queries by exact cosine search "
        f"over {_corpus(first['max_docs'])}. "
        f"The out-of-fold runs are concatenated ({runs_dir(max_docs)}/<variant>.jsonl): {first['queries']} "
        "queries with a relevant product are scored, each once (queries without one are skipped). p: paired "
        "randomisation test on nDCG@10 (10,000 resamples, two-sided), Holm-adjusted over every other run in "
        "the table. Base models are not trained, so one pass ranks all queries. Seconds are wall time on a "
        "shared 2-core CPU (load average at the end in brackets).",
        "",
    ]
    return "\n".join([*head, *lines])


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["run", "report"])
    parser.add_argument("variants", nargs="*", help=f"any of: {', '.join(VARIANTS)}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--fold-seed", type=int, default=0)
    parser.add_argument(
        "--max-docs",
        type=int,
        default=DEFAULT_MAX_DOCS,
        help="0 = the whole catalogue; N = the 2,056 judged products plus a sample, N in all",
    )
    parser.add_argument("--fresh", action="store_true", help="recompute folds already on disk")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}; use any of: {', '.join(VARIANTS)}")
    if args.command == "run":
        cache: dict = {}
        for seed in args.seeds:
            for name in args.variants:
                if VARIANTS[name][0] or seed == args.seeds[0]:  # the base model has no seed
                    run_variant(name, seed, args, cache)
    else:
        text = report(args.max_docs)
        target = (
            REPORT
            if args.max_docs == DEFAULT_MAX_DOCS
            else REPORT.with_stem(f"{REPORT.stem}_docs{args.max_docs}")
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        old = target.read_text(encoding="utf-8") if target.is_file() else ""
        notes = old[old.index(NOTES) :] if NOTES in old else ""  # hand-written discussion survives a rerun
        target.write_text(text + "\n" + ("\n" + notes if notes else ""), encoding="utf-8")
        print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
