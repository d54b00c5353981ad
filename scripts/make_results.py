"""Generate docs/results.md (never edit it by hand): Icecat retrieval quality on the training recipes' dev
queries, the benchmark ratios from benchmarks/results/*.txt, and plots in docs/results/.

    scripts/venv.sh >/dev/null && "$(scripts/venv.sh)/bin/python" scripts/make_results.py

Rows (all over the full catalogue, dev queries of the recipes' query-level split, exactly the trainer's):
BM25, base MiniLM title only, base multi-field (config weights), tuned weights and tuned hybrid (tuned on the
TRAIN queries with gcl_search.search.tune, applied to dev) through a store that `make demo` built; the
binary and GCL fine-tunes by exact search over their own title embeddings (cached under --cache).
Paired randomisation tests against the base title-only run, Holm-adjusted per metric.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("ndcg@10", "err@10", "rbp@0.8", "map@100", "mrr@10", "judged@10")
COLUMNS = (("ndcg@10", False, "nDCG@10"), ("ndcg@10", True, "nDCG@10 condensed"), ("err@10", False, "ERR@10"),
           ("rbp@0.8", False, "RBP@0.8"), ("map@100", False, "MAP@100"), ("mrr@10", False, "MRR@10"),
           ("judged@10", False, "judged@10"))
BASELINE = "base title"
RECIPES = {"binary": "training/icecat-minilm-binary.toml", "gcl": "training/icecat-minilm-gcl.toml"}


# ---- pure parts (unit-tested) ----

def quality_table(rows: Sequence[str], means: Mapping[tuple[str, bool], Mapping[str, float]],
                  significant: Mapping[tuple[str, bool], Mapping[str, bool]], baseline: str = BASELINE,
                  columns: Sequence[tuple[str, bool, str]] = COLUMNS) -> str:
    """A markdown table: one row per run, one column per (metric, condensed); `*` after a value whose paired
    test against `baseline` is significant (adjusted p < 0.05); the baseline row is marked `(baseline)`."""
    head = "| run | " + " | ".join(label for _, _, label in columns) + " |"
    lines = [head, "|---" * (len(columns) + 1) + "|"]
    for run in rows:
        cells = []
        for metric, condensed, _ in columns:
            value = means.get((metric, condensed), {}).get(run)
            mark = "*" if significant.get((metric, condensed), {}).get(run) else ""
            cells.append("-" if value is None else f"{value:.4f}{mark}")
        name = f"{run} (baseline)" if run == baseline else run
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_COMMAND = re.compile(r"^[#$\s]*(?:command:\s*)?((?:python\S*|gcl-search)\s+\S*bench\S*.*?)"
                      r"(?:\s{2,}[(#].*)?$", re.IGNORECASE)


def benchmark_summary(name: str, text: str) -> dict[str, list[str]]:
    """The commands that produced a benchmarks/results file and its ratio lines.

    Commands: lines (comments included) that run a `bench_*` script. Ratio lines: result lines (not
    comments) that mention a ratio; a file with none contributes its result lines (its table) instead.
    """
    commands, ratios, results = [], [], []
    for raw in text.splitlines():
        line = raw.rstrip()
        match = _COMMAND.match(line)
        if match and "bench_" in match.group(1):
            command = match.group(1).split("   ")[0].split(" | tee ")[0].strip()
            if command not in commands:
                commands.append(command)
            continue
        if not line.strip() or line.lstrip().startswith("#") or line.lstrip().startswith("$"):
            continue
        results.append(line)
        if "ratio" in line.lower():
            ratios.append(line.strip())
    return {"file": [name], "commands": commands, "ratios": ratios or results[:20]}


def benchmarks_markdown(summaries: Sequence[Mapping[str, list[str]]]) -> str:
    """Markdown for the benchmark section: per file, its commands and its ratio lines in a code block."""
    out = []
    for summary in summaries:
        out.append(f"### {summary['file'][0]}\n")
        commands = summary["commands"] or ["(the file does not record its command)"]
        out.append("Command: " + "; ".join(f"`{c}`" for c in commands) + "\n")
        out.append("```\n" + "\n".join(summary["ratios"]) + "\n```\n")
    return "\n".join(out)


def ablation_section(text: str, source: str) -> str:
    """The cross-validated fine-tune table of training/results/icecat_ablations.md (written by
    `training/icecat_ablations.py report`): its protocol paragraph and table, with a pointer to the file."""
    lines = text.splitlines()
    table = [i for i, line in enumerate(lines) if line.startswith("|")]
    if not table:
        return ""
    start = table[0]
    end = start
    while end + 1 < len(lines) and lines[end + 1].startswith("|"):
        end += 1
    protocol = next((line for line in lines[:start] if line.startswith("Protocol")), "")
    return "\n".join(["## Fine-tunes under query-level cross-validation\n",
                      f"Copied from `{source}` (written by `training/icecat_ablations.py report`; its "
                      "notes explain the numbers). " + protocol + "\n", *lines[start:end + 1], ""])


EVIDENCE = "training/results/icecat_gcl_evidence.md"
COPIED_FROM = "## Fine-tunes under query-level cross-validation"  # where the copied sections start


def evidence_section(text: str, source: str) -> str:
    """Issue 14's evidence (written by `training/icecat_gcl_evidence.py report`): everything but its title
    line and its hand-written notes, under a heading that points at the file."""
    body = text.split("<!-- notes:", 1)[0].splitlines()
    if not any(line.startswith("|") for line in body):
        return ""
    body = [line for line in body if not line.startswith("# ")]
    return "\n".join(["## Base vs binary vs GCL: human / teacher-ranked / both, multi-field, seeds\n",
                      f"Copied from `{source}` (its notes and `training/results/icecat_gcl_evidence_plan.md` "
                      "explain the numbers and what was not run).", *body]).rstrip() + "\n"


def copied_sections(head: str, curves: list[str], summaries) -> str:
    """`head` (the document up to the copied sections) plus freshly copied ablation / evidence / benchmark
    sections: what `--copied-only` writes without re-running any search or model."""
    parts = [head.rstrip() + "\n"]
    for path, section in ((ROOT / "training/results/icecat_ablations.md", ablation_section),
                          (ROOT / EVIDENCE, evidence_section)):
        if path.exists():
            parts.append(section(path.read_text(encoding="utf-8"), _rel(path, ROOT)))
    if curves:
        parts.append("Training curves (loss and dev metrics per epoch, written by the trainer):\n")
        parts += [line + "\n" for line in curves]
    parts += ["## Benchmark ratios (from benchmarks/results/*.txt, not re-run here)\n",
              "Each block is copied from the file; read the file's header for the machine and its load.\n",
              benchmarks_markdown(summaries)]
    return "\n".join(parts)


def _refresh_copied(out: Path, log) -> None:
    text = out.read_text(encoding="utf-8")
    cut = min((i for i in (text.find(COPIED_FROM), text.find("\n## Base vs binary vs GCL"),
                           text.find("\n## Benchmark ratios")) if i >= 0), default=len(text))
    curves = [line for line in text[cut:].splitlines() if line.startswith("![curves-")]
    summaries = [benchmark_summary(p.name, p.read_text(encoding="utf-8"))
                 for p in sorted((ROOT / "benchmarks" / "results").glob("*.txt"))]
    out.write_text(copied_sections(text[:cut], curves, summaries), encoding="utf-8")
    log(f"refreshed the copied sections of {out} (the run sections above them are unchanged)")


# ---- the runs ----

def _dev_split(recipe: Path):
    """(recipe, train judgments, dev judgments). A recipe that trains on every query (dev_fraction 0, as the
    issue-14 recipes do) gets the earlier default split (dev_fraction 0.25, split_seed 0) here; its own
    models saw those queries, so `_model_dir` then wants --binary / --gcl models trained without them."""
    import dataclasses

    from gcl_search.training.setup import dev_judgments, load_training_data, split_data
    from gcl_search.training.spec import load_train_config

    tc = load_train_config(recipe)
    data = dataclasses.replace(tc.train.data, extra_triples=None)  # the judged split is all that matters here
    if not data.folds and data.dev_fraction == 0:
        data = dataclasses.replace(data, dev_fraction=0.25, split_seed=0)
    tc = dataclasses.replace(tc, train=dataclasses.replace(tc.train, data=data))
    train, dev = split_data(load_training_data(tc).triples, data)
    return tc, dev_judgments(tc, train), dev_judgments(tc, dev)


def _store_runs(args: argparse.Namespace, train_qrels, dev_qrels, log) -> tuple[dict[str, dict], dict]:
    """The BM25, base and tuned runs on the dev queries, and the tuned settings."""
    from gcl_search.cli.search import build_client
    from gcl_search.search.client import LexicalSpec
    from gcl_search.search.live import SearchQuery, run_queries
    from gcl_search.search.tune import tune_weights

    if args.opensearch_url is None and not (args.store / args.index).is_dir():
        sys.exit(f"make_results: no index {args.index!r} under {args.store}; build it with `make demo` (or "
                 f"`gcl-search ingest -c {args.config} --catalogue icecat --store {args.store} --index "
                 f"{args.index}`), or pass --store/--index")
    client = build_client(args.config, args.index, None if args.opensearch_url else args.store,
                          args.opensearch_url, None, False, 60.0, 3)
    dev = [SearchQuery(q, q) for q in sorted(dev_qrels)]
    train = [SearchQuery(q, q) for q in sorted(train_qrels)]
    names = client.field_names
    title_only = {n: float(n == "title") for n in names}
    bm25 = LexicalSpec(weight=1.0)
    hybrid = LexicalSpec(weight=0.5, fusion="minmax")
    log("tuning dense weights on the train queries")
    tuned = tune_weights(client, train, train_qrels, "ndcg@10", heldout=0.0, seed=0)
    log("tuning hybrid weights on the train queries")
    tuned_hybrid = tune_weights(client, train, train_qrels, "ndcg@10", lexical=hybrid, heldout=0.0, seed=0)
    requests = {
        "BM25": {"lexical": bm25},
        BASELINE: {"weights": title_only},
        "base multi-field": {},
        "tuned weights": {"weights": tuned.weights},
        "tuned hybrid": {"weights": tuned_hybrid.weights, "lexical": tuned_hybrid.lexical},
    }
    runs = {}
    for name, request in requests.items():
        log(f"dev queries through the store: {name} {request}")
        runs[name] = run_queries(client, dev, 100, **request)
    return runs, {"tuned weights": tuned, "tuned hybrid": tuned_hybrid}


def _model_key(model_dir: Path) -> str:
    digest = hashlib.sha1()
    for path in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.json")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _title_embeddings(model_dir: Path, cache: Path, log):
    """(doc ids, unit title embeddings, encoder), cached per model content under `cache`."""
    import numpy as np

    from gcl_search.config import EncoderSpec
    from gcl_search.datasets.icecat import iter_catalogue
    from gcl_search.encoders.sentence import load_sentence_transformer

    encoder = load_sentence_transformer(EncoderSpec(backend="sentence-transformers", model=str(model_dir)))
    path = cache / f"titles-{_model_key(model_dir)}.npz"
    if path.is_file():
        data = np.load(path)
        return list(data["ids"]), data["vectors"], encoder
    records = list(iter_catalogue())
    log(f"encoding {len(records)} catalogue titles with {model_dir} (cached in {path})")
    vectors = encoder.encode_texts([r["title"] for r in records], progress=True)
    ids = [r["doc_id"] for r in records]
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, ids=np.array(ids), vectors=vectors)
    return ids, vectors, encoder


def _exact_run(model_dir: Path, queries: Sequence[str], cache: Path, log, k: int = 100) -> dict:
    import numpy as np

    ids, vectors, encoder = _title_embeddings(model_dir, cache, log)
    scores = encoder.encode_texts(list(queries)) @ vectors.T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return {q: {str(ids[j]): float(scores[i, j]) for j in top[i]} for i, q in enumerate(queries)}


def _model_dir(given: Path | None, kind: str, train: bool, log) -> Path:
    from gcl_search.training.spec import load_train_config

    recipe = ROOT / RECIPES[kind]
    tc = load_train_config(recipe)
    if given is None and not tc.train.data.folds and tc.train.data.dev_fraction == 0:
        sys.exit(f"make_results: {RECIPES[kind]} trains on every visible query, so its model cannot be "
                 f"scored on dev queries; pass --{kind} MODEL_DIR trained without them (e.g. "
                 f"runs/icecat-ablations/{kind}-s0/final)")
    out = Path(tc.train.output_dir)
    model = given or out / "best"
    if (model / "modules.json").is_file():
        return model
    command = f"gcl-search train --recipe {RECIPES[kind]}"
    if not train:
        sys.exit(f"make_results: no {kind} fine-tune at {model}; run `{command}` (about 15-25 min on 2 CPU "
                 f"cores), pass --{kind} MODEL_DIR, or add --train")
    log(f"training the {kind} model: {command}")
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    subprocess.run([sys.executable, "-m", "gcl_search", *shlex.split(command)[1:]], check=True, cwd=ROOT,
                   env=env)
    return out / "best"


# ---- the document ----

def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, help="binary fine-tune model dir (default: recipe's best/)")
    parser.add_argument("--gcl", type=Path, help="GCL fine-tune model dir (default: the recipe's best/)")
    parser.add_argument("--train", action="store_true", help="train missing fine-tunes with their recipes")
    parser.add_argument("--store", type=Path, default=Path("runs/demo/store"),
                        help="local store parent dir with the base-model index (default: make demo's)")
    parser.add_argument("--index", default="icecat-demo", help="index name (default: icecat-demo)")
    parser.add_argument("--opensearch-url", help="use this OpenSearch node for the base rows instead")
    parser.add_argument("--config", type=Path, default=Path("configs/icecat-demo.toml"),
                        help="the config the index was built with")
    parser.add_argument("--recipe", type=Path, default=Path(RECIPES["gcl"]),
                        help="recipe whose [train.data] split defines the dev queries")
    parser.add_argument("--cache", type=Path, default=Path("runs/results"), help="embedding cache dir")
    parser.add_argument("--out", type=Path, default=Path("docs/results.md"))
    parser.add_argument("--assets", type=Path, default=Path("docs/results"), help="plots dir")
    parser.add_argument("--resamples", type=int, default=10_000, help="randomisation-test resamples")
    parser.add_argument("--copied-only", action="store_true",
                        help="only re-copy the sections taken from training/results and benchmarks/results "
                             "into the existing --out (no search, no model)")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"[make_results] {message}", file=sys.stderr, flush=True)

    if args.copied_only:
        _refresh_copied(args.out, log)
        return

    from gcl_search.evaluation import compare

    tc, train_qrels, dev_qrels = _dev_split(args.recipe)
    for kind, recipe in RECIPES.items():  # fine-tunes must share the dev split
        if _dev_split(ROOT / recipe)[2].keys() != dev_qrels.keys():
            sys.exit(f"make_results: {recipe} splits the queries differently from {args.recipe}")
    models = {kind: _model_dir(getattr(args, kind), kind, args.train, log) for kind in RECIPES}
    runs, tuned = _store_runs(args, train_qrels, dev_qrels, log)
    for kind, label in (("binary", "binary fine-tune"), ("gcl", "GCL fine-tune")):
        runs[label] = _exact_run(models[kind], sorted(dev_qrels), args.cache, log)

    means, significant, comparisons = {}, {}, {}
    for condensed in (False, True):
        comparison = compare(dev_qrels, runs, METRICS, baseline=BASELINE, n_resamples=args.resamples, seed=0,
                             condensed=condensed)
        comparisons[condensed] = comparison
        for metric in METRICS:
            means[(metric, condensed)] = {name: r.means[metric] for name, r in comparison.reports.items()}
            significant[(metric, condensed)] = {t.run: t.significant for t in comparison.tests
                                                if t.metric == metric}
    args.assets.mkdir(parents=True, exist_ok=True)
    bars = _metric_bars(rows=list(runs), means=means, path=args.assets / "metrics.png")
    curves = []
    for kind, model in models.items():
        source = model.parent / "curves.png"
        if source.is_file():
            curves.append(shutil.copyfile(source, args.assets / f"curves-{kind}.png"))
    summaries = [benchmark_summary(p.name, p.read_text(encoding="utf-8"))
                 for p in sorted((ROOT / "benchmarks" / "results").glob("*.txt"))]
    scored = len(next(iter(comparisons[False].reports.values())).query_ids)
    document = _document(args, argv, tc, train_qrels, dev_qrels, scored, list(runs), means, significant,
                         models, tuned, bars, curves, summaries)
    args.out.write_text(document, encoding="utf-8")
    log(f"wrote {args.out}")


def _metric_bars(rows: Sequence[str], means, path: Path) -> Path:
    """One panel per table column, one bar per run (the table's numbers, drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(COLUMNS), figsize=(2.2 * len(COLUMNS), 3.6), sharey=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (metric, condensed, label) in zip(axes, COLUMNS):
        values = [means[(metric, condensed)][run] for run in rows]
        ax.bar(range(len(rows)), values, color=[colours[i % len(colours)] for i in range(len(rows))])
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_ylim(0, 1)
    fig.legend([plt.Rectangle((0, 0), 1, 1, color=colours[i % len(colours)]) for i in range(len(rows))], rows,
               loc="lower center", ncol=len(rows), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _rel(path: Path, start: Path) -> str:
    return str(Path(path).resolve().relative_to(start.resolve()))


def _document(args, argv, tc, train_qrels, dev_qrels, scored, rows, means, significant, models, tuned, bars,
              curves, summaries) -> str:
    command = '"$(scripts/venv.sh)/bin/python" scripts/make_results.py' + "".join(
        f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    weights = lambda w: ", ".join(f"{k} {v:.2f}" for k, v in w.items())  # noqa: E731
    dense, hybrid = tuned["tuned weights"], tuned["tuned hybrid"]
    data = tc.train.data
    split = (f"fold {data.fold} of {data.folds}" if getattr(data, "folds", 0) else
             f"dev_fraction {data.dev_fraction}")
    parts = [
        "# Results (generated by scripts/make_results.py: do not edit by hand)\n",
        "Regenerate (from the repository root, after `make demo`; about 15 min on 2 CPU cores, a few "
        f"minutes with the title embeddings cached in `{args.cache}`):\n\n```\n{command}\n```\n",
        "## Retrieval quality on the Icecat dev queries\n",
        f"Dev queries: the query-level split of `{args.recipe}` ([train.data] {split}, split_seed "
        f"{data.split_seed}), exactly the trainer's: {len(dev_qrels)} dev queries, {scored} with a relevant "
        f"product scored (the rest skipped), {len(train_qrels)} train queries. Catalogue: all 19,406 "
        "products; unjudged products count as not relevant (except in the condensed column, which drops "
        "them). k = 100.\n",
        "- BM25, base and tuned rows: all-MiniLM-L6-v2, live runs through the SearchClient over the index "
        f"`{args.index}` built with `{args.config}` (exact search in the local store). Title only = weight 1 "
        "on title, 0 elsewhere; multi-field = the config's weights.",
        f"- Tuned weights ({weights(dense.weights)}) and tuned hybrid ({weights(hybrid.weights)}; "
        f"{hybrid.lexical.fusion}, lexical weight {hybrid.lexical.weight:.2f}): `gcl_search.search.tune."
        "tune_weights` maximising nDCG@10 on the TRAIN queries only, then applied to the dev queries. Its "
        "cross-validated shrinkage toward the config's weights chose a = "
        f"{dense.shrinkage:g} (dense) and {hybrid.shrinkage:g} (hybrid); a = 0 keeps the defaults.",
        f"- Fine-tunes: titles encoded with `{models['binary']}` (binary) and `{models['gcl']}` (GCL), exact "
        "inner-product search over the catalogue.",
        f"- `*`: paired randomisation test against `{BASELINE}` ({args.resamples} resamples, seed 0), "
        "Holm-adjusted per metric over the other runs, adjusted p < 0.05 (condensed column: the same test "
        "on condensed scores).\n",
        quality_table(rows, means, significant),
        f"![metric means per run (dev queries)]({_rel(bars, args.out.parent)})\n",
    ]
    curve_lines = [f"![{Path(c).stem}]({_rel(Path(c), args.out.parent)})" for c in curves]
    return copied_sections("\n".join(parts), curve_lines, summaries)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
