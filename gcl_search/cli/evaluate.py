"""`gcl-search evaluate`: score runs against graded judgments; with two or more runs, paired tests."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from gcl_search.cli.live import live_options, live_runs
from gcl_search.cli.request import REQUEST_OPTIONS, request_options
from gcl_search.evaluation import DEFAULT_METRICS, compare, evaluate, read_judgments, read_run
from gcl_search.evaluation.compare import TESTS
from gcl_search.evaluation.report import FORMATS, render

F = Callable[..., Any]


def _columns(ctx: click.Context, param: click.Parameter, value: str | None) -> dict[str, str] | None:
    if not value:
        return None
    try:
        pairs = dict(item.split("=", 1) for item in value.split(","))
    except ValueError as err:
        raise click.BadParameter(
            "use key=header pairs, e.g. query=query,doc_id=docid,grade=rating", ctx, param
        ) from err
    return {k.strip(): v.strip() for k, v in pairs.items()}


def _named_runs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, Path]:
    runs: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or "/" in name or not name:
            name, path = Path(value).stem, value
        if name in runs:
            raise click.BadParameter(f"two runs are named {name!r}; name them with NAME=PATH", ctx, param)
        runs[name] = Path(path)
    return runs


def _metrics(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    names = [m.strip() for value in values for m in value.split(",") if m.strip()]
    return names or list(DEFAULT_METRICS)


# The top-level options that shape the single live run; with --live each spec carries its own.
_SINGLE_RUN_OPTIONS = (*REQUEST_OPTIONS, "run_out", "run_name")


@click.command("--live", add_help_option=False)
@request_options
@click.option("--run-out", type=click.Path(dir_okay=False, path_type=Path))
def _live_spec_parser(**options: Any) -> None:
    """Parses the OPTIONS of one --live NAME=OPTIONS (never invoked)."""


def _live_specs(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str, dict[str, Any]]]:
    specs: list[tuple[str, dict[str, Any]]] = []
    for value in values:
        name, sep, text = value.partition("=")
        name = name.strip()
        if not sep or not name or " " in name:
            raise click.BadParameter(
                f"{value!r}: write NAME=OPTIONS, e.g. 'bm25=--lexical-weight 1'", ctx, param
            )
        if name in dict(specs):
            raise click.BadParameter(f"two live runs are named {name!r}", ctx, param)
        try:
            parsed = _live_spec_parser.make_context(f"--live {name}=", shlex.split(text)).params
        except (click.UsageError, ValueError) as err:
            message = err.format_message() if isinstance(err, click.UsageError) else str(err)
            raise click.BadParameter(f"{name}: {message}", ctx, param) from err
        specs.append((name, parsed))
    return specs


def _check_single_run_options_unused() -> None:
    ctx = click.get_current_context()
    given = [
        name
        for name in _SINGLE_RUN_OPTIONS
        if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)
    ]
    if given:
        flag = next(p.opts[0] for p in ctx.command.params if p.name == given[0])
        raise click.UsageError(f"{flag} shapes the single live run; with --live put it inside each spec")


def _options(*options: Callable[[F], F]) -> Callable[[F], F]:
    """One decorator for a block of options, which --help lists in the order given."""

    def apply(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


def _choice(flag: str, choices: Sequence[str], default: str, help: str) -> Callable[[F], F]:
    return click.option(flag, type=click.Choice(choices), default=default, show_default=True, help=help)


_input_options = _options(
    click.option(
        "--judgments",
        "-j",
        required=True,
        type=click.Path(dir_okay=False),
        help="Judgments: TREC qrels (qid 0 docid grade) or CSV/TSV with a header.",
    ),
    click.option("--judgments-format", type=click.Choice(["trec", "csv"]), help="Override format detection."),
    click.option(
        "--columns",
        callback=_columns,
        help="CSV headers: query=..,doc_id=..,grade=.. (e.g. query=query,doc_id=docid,grade=rating).",
    ),
    click.option(
        "--run",
        "-r",
        "runs",
        multiple=True,
        callback=_named_runs,
        help="Run file [NAME=]PATH (TREC or JSONL); repeat to compare runs (the first is the baseline).",
    ),
    click.option("--run-format", type=click.Choice(["trec", "jsonl"]), help="Override run format detection."),
)

_scoring_options = _options(
    click.option(
        "--metric",
        "-m",
        "metrics",
        multiple=True,
        callback=_metrics,
        help=f"Metric(s), repeatable or comma-separated. Default: {','.join(DEFAULT_METRICS)}.",
    ),
    click.option("--condensed", is_flag=True, help="Judged-only: drop unjudged documents before scoring."),
    _choice(
        "--no-relevant",
        ["skip", "zero", "error"],
        "skip",
        "Queries with no document of grade >= 1: leave out, score 0, or fail.",
    ),
    _choice(
        "--missing-queries",
        ["zero", "skip"],
        "zero",
        "Judged queries absent from a run: score 0 (retrieved nothing) or leave out.",
    ),
    _choice("--unknown-queries", ["error", "ignore"], "error", "Run queries absent from the judgments."),
    click.option("--max-grade", type=int, help="g_max for standard ERR/RBP (default: highest judged grade)."),
)

_comparison_options = _options(
    click.option("--baseline", help="Run name the others are tested against (default: the first --run)."),
    _choice("--test", [*TESTS, "both"], "randomisation", "Paired significance test for comparisons."),
    click.option(
        "--resamples",
        type=click.IntRange(100),
        default=10_000,
        show_default=True,
        help="Randomisation-test resamples.",
    ),
    click.option("--seed", type=int, default=0, show_default=True, help="Randomisation-test seed."),
    _choice(
        "--correction",
        ["holm", "none"],
        "holm",
        "Multiple-comparison p-value adjustment across runs (per metric).",
    ),
)

_output_options = _options(
    click.option("--per-query", is_flag=True, help="Also print per-query values."),
    click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Output format on stdout.",
    ),
    click.option(
        "--plot",
        type=click.Path(dir_okay=False),
        help="Write a plot (.png/.svg/.pdf): metric bars for one run, sorted per-query deltas for a "
        "comparison.",
    ),
    click.option("--plot-metric", help="Metric for the per-query delta plot (default: the first metric)."),
)


@click.command("evaluate", short_help="Score runs against graded judgments (nDCG, ERR, RBP, ...).")
@_input_options
@_scoring_options
@_comparison_options
@_output_options
@click.option(
    "--live",
    "live_specs",
    multiple=True,
    metavar="NAME=OPTIONS",
    callback=_live_specs,
    help="Live: one named live run per --live, with its own request options and optional --run-out, e.g. "
    "'title=-w title=1,description=0 --run-out title.jsonl'. The runs share one loaded model and store; "
    "they replace the single live run of the top-level request options.",
)
@live_options
def evaluate_command(
    judgments: str,
    judgments_format: str | None,
    columns: dict[str, str] | None,
    runs: dict[str, Path],
    run_format: str | None,
    metrics: list[str],
    condensed: bool,
    no_relevant: str,
    missing_queries: str,
    unknown_queries: str,
    max_grade: int | None,
    baseline: str | None,
    test: str,
    resamples: int,
    seed: int,
    correction: str,
    per_query: bool,
    fmt: str,
    plot: str | None,
    plot_metric: str | None,
    live_specs: list[tuple[str, dict[str, Any]]],
    **live: object,
) -> None:
    """Score one or more runs against graded judgments and print the metric table to stdout.

    With --config and --index, the queries are also run live through the search client (gcl-search search's
    options apply) and that run is scored too (after the --run files; --run-out saves it)."""
    store_given = live["config_path"] is not None or live["index"] is not None
    n_live = (len(live_specs) or 1) if store_given else 0
    if live_specs:
        _check_single_run_options_unused()
    if not runs and not n_live:
        raise click.UsageError("give --run files, or --config and --index for a live run")
    if baseline and len(runs) + n_live < 2:
        raise click.UsageError("--baseline needs at least two --run options")
    qrels = read_judgments(judgments, fmt=judgments_format, columns=columns)
    loaded = {name: read_run(path, fmt=run_format) for name, path in runs.items()}
    for live_result in live_runs(qrels, live, live_specs):
        if live_result[0] in loaded:
            raise click.UsageError(f"live run name {live_result[0]!r} is also a --run name; choose another")
        loaded[live_result[0]] = live_result[1]
    options = {
        "condensed": condensed,
        "no_relevant": no_relevant,
        "max_grade": max_grade,
        "missing_queries": missing_queries,
        "unknown_queries": unknown_queries,
    }
    comparison = None
    if len(loaded) > 1:
        comparison = compare(
            qrels,
            loaded,
            metrics,
            baseline=baseline,
            test=test,
            n_resamples=resamples,
            seed=seed,
            correction=correction,
            **options,
        )
        reports = comparison.reports
    else:
        reports = {name: evaluate(qrels, run, metrics, **options) for name, run in loaded.items()}
    click.echo(render(reports, comparison, fmt=fmt, per_query=per_query), nl=False)
    if plot:
        _plot(reports, comparison, plot, plot_metric)


def _plot(reports: dict, comparison: object, path: str, metric: str | None) -> None:
    from gcl_search.evaluation.plot import plot_deltas, plot_means  # matplotlib only when asked

    if comparison is None:
        written = plot_means(reports, path)
    else:
        if metric and metric not in comparison.metrics:
            raise click.UsageError(
                f"--plot-metric {metric} is not among the metrics: {', '.join(comparison.metrics)}"
            )
        written = plot_deltas(comparison, path, metric)
    click.echo(f"plot written to {written}", err=True)
