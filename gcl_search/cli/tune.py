"""`gcl-search tune`: choose field (and lexical) weights on judged queries; write them into a config."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from gcl_search.cli.request import build_client, build_request, request_options, store_options
from gcl_search.search.tune import FOLDS, GRID_STEP, LEXICAL_STEP

if TYPE_CHECKING:
    from gcl_search.search.client import LexicalSpec
    from gcl_search.search.tune import TuneResult


@click.command("tune", short_help="Tune field and lexical weights on judged queries (k-fold shrinkage).")
@store_options
@request_options
@click.option(
    "--judgments",
    "-j",
    required=True,
    type=click.Path(dir_okay=False),
    help="Judgments: TREC qrels or CSV/TSV with a header (query, doc_id, grade columns).",
)
@click.option(
    "--queries",
    type=click.Path(dir_okay=False),
    help="Queries file (JSONL or id<TAB>text); default: the judged query ids are the query texts.",
)
@click.option("--metric", "-m", default="ndcg@10", show_default=True, help="Metric to maximise.")
@click.option("--condensed", is_flag=True, help="Judged-only evaluation (drop unjudged documents first).")
@click.option(
    "--heldout",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.3,
    show_default=True,
    help="Share of queries kept out of the search and used to report the result.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the train/held-out split.")
@click.option(
    "--k", "-k", type=click.IntRange(1, 10_000), default=100, show_default=True, help="Hits per query."
)
@click.option(
    "--pool-depth",
    type=click.IntRange(1, 10_000),
    default=200,
    show_default=True,
    help="Candidates per query from each search that builds the tuning pool.",
)
@click.option(
    "--grid-step",
    type=click.FloatRange(0, 1, min_open=True),
    default=GRID_STEP,
    show_default=True,
    help="Field-weight grid spacing on the simplex (1/step a whole number).",
)
@click.option(
    "--lexical-step",
    type=click.FloatRange(0, 1, min_open=True),
    default=LEXICAL_STEP,
    show_default=True,
    help="Lexical-weight grid spacing (with --lexical).",
)
@click.option(
    "--folds",
    type=click.IntRange(min=1),
    default=FOLDS,
    show_default=True,
    help="Cross-validation folds over the tuning queries that choose the shrinkage toward the "
    "config's weights (1: no shrinkage).",
)
@click.option(
    "--try-oversample",
    "try_oversample",
    help="Hybrid: comma-separated candidate depths (oversample, >= 1) to try besides the start's, "
    "e.g. 1,5,10. The fusion methods and lexical modes are always tried.",
)
@click.option(
    "--write-config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a copy of --config with the chosen field weights and [search] lexical settings.",
)
@click.option("--in-place", is_flag=True, help="Write the chosen weights into --config itself.")
@click.option(
    "--heldout-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the held-out queries here (JSONL), to evaluate the written config on them with "
    "`gcl-search evaluate --queries`.",
)
def tune_command(
    config_path: Path,
    index: str,
    store_dir: Path | None,
    opensearch_url: str | None,
    ca_certs: str | None,
    insecure: bool,
    timeout: float,
    retries: int,
    weights: tuple[str, ...],
    lexical: bool | None,
    lexical_fields: str | None,
    lexical_weight: float | None,
    fusion: str | None,
    rank_constant: float | None,
    filters: tuple[str, ...],
    dense_score: str | None,
    lexical_mode: str | None,
    lexical_boosts: tuple[str, ...],
    oversample: float | None,
    judgments: str,
    queries: str | None,
    metric: str,
    condensed: bool,
    heldout: float,
    seed: int,
    k: int,
    pool_depth: int,
    grid_step: float,
    lexical_step: float,
    folds: int,
    try_oversample: str | None,
    write_config: Path | None,
    in_place: bool,
    heldout_out: Path | None,
) -> None:
    """Tune the weights of --config's fields (and the BM25 weight of a hybrid: --lexical or [search] lexical)
    for --metric on the tuning queries: a coarse grid, then shrinkage toward the config's weights chosen by
    k-fold cross-validation. Prints the cross-validated scores and live runs on the tuning and held-out
    queries, default vs chosen; writes the field weights and the [search] lexical settings on request."""
    from gcl_search.evaluation import read_judgments
    from gcl_search.search.config_io import write_weights
    from gcl_search.search.live import queries_from_judgments, read_queries, write_queries
    from gcl_search.search.tune import split_queries, tune_weights

    if write_config is not None and in_place:
        raise click.UsageError("give --write-config or --in-place, not both")
    if weights or filters:
        raise click.UsageError(
            "tune starts from the config's weights and uses no filters; drop --weight/--filter"
        )
    client = build_client(config_path, index, store_dir, opensearch_url, ca_certs, insecure, timeout, retries)
    client.dense_score = dense_score or client.dense_score  # tuning ranks by the score the runs use
    request = build_request(
        client,
        (),
        lexical,
        lexical_fields,
        lexical_weight,
        fusion,
        rank_constant,
        (),
        None,
        lexical_mode,
        lexical_boosts,
        oversample,
    )
    spec = request["lexical"]
    qrels = read_judgments(judgments)
    query_list = read_queries(queries) if queries else queries_from_judgments(qrels)
    result = tune_weights(
        client,
        query_list,
        qrels,
        metric,
        lexical=spec,
        heldout=heldout,
        seed=seed,
        k=k,
        pool_depth=pool_depth,
        grid_step=grid_step,
        lexical_step=lexical_step,
        folds=folds,
        condensed=condensed,
        oversamples=_depths(try_oversample),
    )
    click.echo(summary(result))
    if heldout_out is not None:
        written = write_queries(heldout_out, split_queries(query_list, heldout, seed)[1])
        click.echo(f"held-out queries written to {written}", err=True)
    target = config_path if in_place else write_config
    if target is not None:
        note = f"{metric}{' (condensed)' if condensed else ''}"
        if "heldout/best" in result.scores:
            note += (
                f" held-out {result.scores['heldout/best']:.4f} (config's weights "
                f"{result.scores['heldout/default']:.4f})"
            )
        written = write_weights(config_path, target, result.weights, result.lexical, note=note)
        click.echo(f"weights and [search] lexical settings written to {written}", err=True)


def _depths(text: str | None) -> list[float]:
    try:
        depths = [float(x) for x in (text or "").split(",") if x.strip()]
    except ValueError as err:
        raise click.BadParameter(
            f"{text!r} is not a comma-separated list of numbers", param_hint="--try-oversample"
        ) from err
    if any(not d >= 1 for d in depths):
        raise click.BadParameter("every oversample must be >= 1", param_hint="--try-oversample")
    return depths


def summary(result: TuneResult) -> str:
    """Chosen weights, the cross-validation that chose the shrinkage, then live runs: default vs chosen."""
    lines = [
        f"metric: {result.metric}; candidates: {result.trials}; tuning queries: "
        f"{len(result.train_queries)}, held-out: {len(result.heldout_queries)}",
        "default weights: " + _weights(result.default_weights, result.default_lexical),
        "chosen weights:  " + _weights(result.weights, result.lexical),
    ]
    if result.folds:
        cv = ", ".join(f"a={a:g} {v:.4f}" for a, v in result.cv_scores.items())
        lines.append(
            f"shrinkage a={result.shrinkage:g} toward the defaults (0: defaults, 1: in-sample "
            f"best), chosen by {result.folds}-fold cross-validation: {cv}"
        )
    else:
        lines.append("too few tuning queries to cross-validate: no shrinkage")
    for split, label in (("train", "tuning "), ("heldout", "held-out")):
        if f"{split}/best" in result.scores:
            default, best = result.scores[f"{split}/default"], result.scores[f"{split}/best"]
            lines.append(f"{label} default {default:.4f}  chosen {best:.4f}  delta {best - default:+.4f}")
    if not result.heldout_queries:
        lines.append(
            "no held-out queries (--heldout 0): only the cross-validated scores estimate how the "
            "chosen weights generalise"
        )
    return "\n".join(lines) + "\n"


def _weights(weights: dict[str, float], lexical: LexicalSpec | None) -> str:
    text = ", ".join(f"{n}={w:.4g}" for n, w in weights.items())
    if lexical is not None:
        text += (
            f"; lexical weight={lexical.weight:.4g} fusion={lexical.fusion} "
            f"mode={lexical.mode or 'auto'} oversample={lexical.oversample or 'index'} "
            f"fields={','.join(lexical.fields or ()) or 'all'}"
        )
    return text
