"""Generate docs/results.md (never edit it by hand): Icecat retrieval quality of the base model through the
store `make demo` built, the cross-validated fine-tune tables from training/results/, the benchmark ratios
from benchmarks/results/*.txt, and plots in docs/results/.

    scripts/venv.sh >/dev/null && "$(scripts/venv.sh)/bin/python" scripts/make_results.py

Rows (full catalogue, every judged query): BM25 (combined and per-field sum), dense title, dense multi-field
(fused and summed score), hybrid (the config's fusion and min-max 0.5), live through the SearchClient.
Fine-tunes are not rows here: the recipes train on every visible query, so they are compared only under
query-level cross-validation (the copied sections). Paired randomisation tests against BM25, Holm-adjusted.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("ndcg@10", "err@10", "rbp@0.8", "map@100", "mrr@10", "judged@10")
COLUMNS = (
    ("ndcg@10", False, "nDCG@10"),
    ("ndcg@10", True, "nDCG@10 condensed"),
    ("err@10", False, "ERR@10"),
    ("rbp@0.8", False, "RBP@0.8"),
    ("map@100", False, "MAP@100"),
    ("mrr@10", False, "MRR@10"),
    ("judged@10", False, "judged@10"),
)
BASELINE = "BM25"
JUDGMENTS = "examples/icecat/judgments.csv"


# ---- pure parts (unit-tested) ----


def quality_table(
    rows: Sequence[str],
    means: Mapping[tuple[str, bool], Mapping[str, float]],
    significant: Mapping[tuple[str, bool], Mapping[str, bool]],
    baseline: str = BASELINE,
    columns: Sequence[tuple[str, bool, str]] = COLUMNS,
) -> str:
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


_COMMAND = re.compile(
    r"^[#$\s]*(?:command:\s*)?((?:python\S*|gcl-search)\s+\S*bench\S*.*?)"
    r"(?:\s{2,}[(#].*)?$",
    re.IGNORECASE,
)


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
    return "\n".join(
        [
            "## Fine-tunes under query-level cross-validation\n",
            f"Copied from `{source}` (written by `training/icecat_ablations.py report`; its "
            "notes explain the numbers). " + protocol + "\n",
            *lines[start : end + 1],
            "",
        ]
    )


EVIDENCE = "training/results/icecat_gcl_evidence.md"
COPIED_FROM = "## Fine-tunes under query-level cross-validation"  # where the copied sections start


def evidence_section(text: str, source: str) -> str:
    """Issue 14's evidence (written by `training/icecat_gcl_evidence.py report`): everything but its title
    line and its hand-written notes, under a heading that points at the file."""
    body = text.split("<!-- notes:", 1)[0].splitlines()
    if not any(line.startswith("|") for line in body):
        return ""
    body = [line for line in body if not line.startswith("# ")]
    return (
        "\n".join(
            [
                "## Base vs binary vs GCL: human / teacher-ranked / both, multi-field, seeds\n",
                f"Copied from `{source}` (its notes and `training/results/icecat_gcl_evidence_plan.md` "
                "explain the numbers and what was not run).",
                *body,
            ]
        ).rstrip()
        + "\n"
    )


def copied_sections(head: str, curves: list[str], summaries) -> str:
    """`head` (the document up to the copied sections) plus freshly copied ablation / evidence / benchmark
    sections: what `--copied-only` writes without re-running any search or model."""
    parts = [head.rstrip() + "\n"]
    for path, section in (
        (ROOT / "training/results/icecat_ablations.md", ablation_section),
        (ROOT / EVIDENCE, evidence_section),
    ):
        if path.exists():
            parts.append(section(path.read_text(encoding="utf-8"), _rel(path, ROOT)))
    if curves:
        parts.append("Training curves (loss and dev metrics per epoch, written by the trainer):\n")
        parts += [line + "\n" for line in curves]
    parts += [
        "## Benchmark ratios (from benchmarks/results/*.txt, not re-run here)\n",
        "Each block is copied from the file; read the file's header for the machine and its load.\n",
        benchmarks_markdown(summaries),
    ]
    return "\n".join(parts)


def _refresh_copied(out: Path, log) -> None:
    text = out.read_text(encoding="utf-8")
    cut = min(
        (
            i
            for i in (
                text.find(COPIED_FROM),
                text.find("\n## Base vs binary vs GCL"),
                text.find("\n## Benchmark ratios"),
            )
            if i >= 0
        ),
        default=len(text),
    )
    curves = [line for line in text[cut:].splitlines() if line.startswith("![curves-")]
    summaries = [
        benchmark_summary(p.name, p.read_text(encoding="utf-8"))
        for p in sorted((ROOT / "benchmarks" / "results").glob("*.txt"))
    ]
    out.write_text(copied_sections(text[:cut], curves, summaries), encoding="utf-8")
    log(f"refreshed the copied sections of {out} (the run sections above them are unchanged)")


# ---- the runs ----


def _runs(args: argparse.Namespace, qrels, log) -> dict[str, dict]:
    """BM25, dense and hybrid runs of the base model over every judged query, live through the store."""
    from gcl_search.cli.request import build_client
    from gcl_search.search.live import SearchQuery, run_queries
    from gcl_search.search.options import resolve_lexical

    if args.opensearch_url is None and not (args.store / args.index).is_dir():
        sys.exit(
            f"make_results: no index {args.index!r} under {args.store}; build it with `make demo` (or "
            f"`gcl-search ingest -c {args.config} --catalogue icecat --store {args.store} --index "
            f"{args.index}`), or pass --store/--index"
        )
    client = build_client(
        args.config,
        args.index,
        None if args.opensearch_url else args.store,
        args.opensearch_url,
        None,
        False,
        60.0,
        3,
    )
    queries = [SearchQuery(q, q) for q in sorted(qrels)]
    defaults = client.config.search

    def lexical(**overrides):
        return resolve_lexical(
            defaults,
            lexical=True,
            fields=None,
            weight=overrides.get("weight"),
            fusion=overrides.get("fusion"),
            rank_constant=None,
            mode=overrides.get("mode"),
            boosts=None,
        )

    hybrid = lexical()
    requests = {
        BASELINE: {"lexical": lexical(weight=1.0)},
        "BM25 per-field sum": {"lexical": lexical(weight=1.0, mode="most_fields")},
        "dense title": {"weights": {n: float(n == "title") for n in client.field_names}},
        "dense multi-field": {},
        "dense multi-field, sum": {"dense_score": "sum"},
        f"hybrid ({hybrid.fusion}, {hybrid.weight:g})": {"lexical": hybrid},
        "hybrid (minmax, 0.5)": {"lexical": lexical(weight=0.5, fusion="minmax")},
    }
    runs = {}
    for name, request in requests.items():
        log(f"{len(queries)} queries through the store: {name}")
        runs[name] = run_queries(client, queries, 100, progress=True, **request)
    return runs


# ---- the document ----


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=Path("runs/demo/store"),
        help="local store parent dir with the base-model index (default: make demo's)",
    )
    parser.add_argument("--index", default="icecat-demo", help="index name (default: icecat-demo)")
    parser.add_argument("--opensearch-url", help="use this OpenSearch node for the base rows instead")
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("configs/icecat-demo.toml"),
        help="the config the index was built with",
    )
    parser.add_argument("--judgments", type=Path, default=Path(JUDGMENTS), help="graded judgments")
    parser.add_argument("--out", type=Path, default=Path("docs/results.md"))
    parser.add_argument("--assets", type=Path, default=Path("docs/results"), help="plots dir")
    parser.add_argument("--resamples", type=int, default=10_000, help="randomisation-test resamples")
    parser.add_argument(
        "--copied-only",
        action="store_true",
        help="only re-copy the sections taken from training/results and benchmarks/results "
        "into the existing --out (no search, no model)",
    )
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"[make_results] {message}", file=sys.stderr, flush=True)

    if args.copied_only:
        _refresh_copied(args.out, log)
        return

    from gcl_search.evaluation import compare, read_judgments

    qrels = read_judgments(args.judgments)
    runs = _runs(args, qrels, log)

    means, significant, comparisons = {}, {}, {}
    for condensed in (False, True):
        comparison = compare(
            qrels, runs, METRICS, baseline=BASELINE, n_resamples=args.resamples, seed=0, condensed=condensed
        )
        comparisons[condensed] = comparison
        for metric in METRICS:
            means[(metric, condensed)] = {name: r.means[metric] for name, r in comparison.reports.items()}
            significant[(metric, condensed)] = {
                t.run: t.significant for t in comparison.tests if t.metric == metric
            }
    args.assets.mkdir(parents=True, exist_ok=True)
    bars = _metric_bars(rows=list(runs), means=means, path=args.assets / "metrics.png")
    curves = sorted(args.assets.glob("curves-*.png"))
    summaries = [
        benchmark_summary(p.name, p.read_text(encoding="utf-8"))
        for p in sorted((ROOT / "benchmarks" / "results").glob("*.txt"))
    ]
    scored = len(next(iter(comparisons[False].reports.values())).query_ids)
    document = _document(args, argv, qrels, scored, list(runs), means, significant, bars, curves, summaries)
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
    fig.legend(
        [plt.Rectangle((0, 0), 1, 1, color=colours[i % len(colours)]) for i in range(len(rows))],
        rows,
        loc="lower center",
        ncol=len(rows),
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _rel(path: Path, start: Path) -> str:
    return str(Path(path).resolve().relative_to(start.resolve()))


def _document(args, argv, qrels, scored, rows, means, significant, bars, curves, summaries) -> str:
    command = '"$(scripts/venv.sh)/bin/python" scripts/make_results.py' + "".join(
        f" {shlex.quote(a)}" for a in (argv or sys.argv[1:])
    )
    parts = [
        "# Results (generated by scripts/make_results.py: do not edit by hand)\n",
        "Regenerate (from the repository root, after `make demo`, whose store it searches; a few minutes "
        f"on 2 CPU cores):\n\n```\n{command}\n```\n",
        "## Retrieval quality on Icecat: the base model through the store\n",
        f"Queries: every query of `{args.judgments}` ({len(qrels)}); the {scored} with a relevant product "
        "are scored, the rest skipped. Catalogue: all 19,406 products; unjudged products count as not "
        "relevant (except in the condensed column, which drops them). k = 100. Model: all-MiniLM-L6-v2, not "
        "fine-tuned (fine-tunes are compared under cross-validation below). Live runs through the "
        f"SearchClient over the index `{args.index}` built with `{args.config}`, at its `[search]` defaults "
        "except where a row says:\n",
        "- BM25: the catch-all field with the English analyzer (`lexical_mode` combined); per-field sum: "
        "`most_fields` over title, description and brand.",
        "- dense title: weight 1 on title; dense multi-field: the config's weights with the seed's fused "
        "score (`dense_score` fused); `, sum`: the weighted sum of per-field similarities (docs/search.md).",
        "- hybrid: dense multi-field + BM25, fused as the row says; the first is the config's default "
        "(chosen by query-level cross-validation, benchmarks/results/lexical.md).",
        f"- `*`: paired randomisation test against `{BASELINE}` ({args.resamples} resamples, seed 0), "
        "Holm-adjusted per metric over the other runs, adjusted p < 0.05 (condensed column: the same test "
        "on condensed scores).\n",
        quality_table(rows, means, significant),
        f"![metric means per run]({_rel(bars, args.out.parent)})\n",
    ]
    curve_lines = [f"![{Path(c).stem}]({_rel(Path(c), args.out.parent)})" for c in curves]
    return copied_sections("\n".join(parts), curve_lines, summaries)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
