"""`gcl-search tune`: search field (and lexical) weights on judged queries; write the best into a config."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from gcl_search.cli.search import build_client, build_request, request_options, store_options

if TYPE_CHECKING:
    from gcl_search.search.tune import TuneResult


@click.command("tune", short_help="Tune field and lexical weights on judged queries (coordinate ascent).")
@store_options
@request_options
@click.option("--judgments", "-j", required=True, type=click.Path(dir_okay=False),
              help="Judgments: TREC qrels or CSV/TSV with a header (query, doc_id, grade columns).")
@click.option("--queries", type=click.Path(dir_okay=False),
              help="Queries file (JSONL or id<TAB>text); default: the judged query ids are the query texts.")
@click.option("--metric", "-m", default="ndcg@10", show_default=True, help="Metric to maximise.")
@click.option("--condensed", is_flag=True, help="Judged-only evaluation (drop unjudged documents first).")
@click.option("--heldout", type=click.FloatRange(0, 1, max_open=True), default=0.3, show_default=True,
              help="Share of queries kept out of the search and used to report the result.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the train/held-out split.")
@click.option("--k", "-k", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="Hits per query.")
@click.option("--pool-depth", type=click.IntRange(1, 10_000), default=200, show_default=True,
              help="Candidates per query from each search that builds the tuning pool.")
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Maximum coordinate-ascent rounds.")
@click.option("--write-config", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a copy of --config with the best weights here.")
@click.option("--in-place", is_flag=True, help="Write the best weights into --config itself.")
def tune_command(config_path: Path, index: str, store_dir: Path | None, opensearch_url: str | None,
                 ca_certs: str | None, insecure: bool, timeout: float, retries: int, weights: tuple[str, ...],
                 lexical: bool, lexical_fields: str | None, lexical_weight: float | None, fusion: str,
                 rank_constant: float, filters: tuple[str, ...], judgments: str, queries: str | None,
                 metric: str, condensed: bool, heldout: float, seed: int, k: int, pool_depth: int,
                 rounds: int, write_config: Path | None, in_place: bool) -> None:
    """Tune the weights of --config's fields (and the BM25 weight with --lexical) to maximise --metric on
    the train queries, then print the metric of live runs on train and held-out queries, default vs best."""
    from gcl_search.evaluation import read_judgments
    from gcl_search.search.config_io import write_weights
    from gcl_search.search.live import queries_from_judgments, read_queries
    from gcl_search.search.tune import tune_weights

    if write_config is not None and in_place:
        raise click.UsageError("give --write-config or --in-place, not both")
    if weights or filters:
        raise click.UsageError("tune starts from the config's weights and uses no filters; drop "
                               "--weight/--filter")
    client = build_client(config_path, index, store_dir, opensearch_url, ca_certs, insecure, timeout, retries)
    request = build_request(client, (), lexical, lexical_fields, lexical_weight, fusion, rank_constant, ())
    spec = request["lexical"]
    qrels = read_judgments(judgments)
    query_list = read_queries(queries) if queries else queries_from_judgments(qrels)
    result = tune_weights(client, query_list, qrels, metric, lexical=spec, heldout=heldout, seed=seed, k=k,
                          pool_depth=pool_depth, rounds=rounds, condensed=condensed)
    click.echo(summary(result))
    target = config_path if in_place else write_config
    if target is not None:
        held = result.scores.get("heldout/best")
        note = f"{metric}{' (condensed)' if condensed else ''}"
        note += f" held-out {held:.4f}" if held is not None else ""
        written = write_weights(config_path, target, result.weights, result.lexical, note=note)
        click.echo(f"weights written to {written}", err=True)


def summary(result: TuneResult) -> str:
    """Best weights, then one line per split: default vs best."""
    lines = [f"metric: {result.metric}; trials: {result.trials}; train queries: {len(result.train_queries)}, "
             f"held-out: {len(result.heldout_queries)}",
             "best weights: " + ", ".join(f"{n}={w:.4g}" for n, w in result.weights.items())]
    if result.lexical is not None:
        lines.append(f"best lexical: weight={result.lexical.weight:.4g} fusion={result.lexical.fusion} "
                     f"fields={','.join(result.lexical.fields or ()) or 'all'}")
    for split in ("train", "heldout"):
        if f"{split}/best" in result.scores:
            default, best = result.scores[f"{split}/default"], result.scores[f"{split}/best"]
            lines.append(f"{split:8s} default {default:.4f}  best {best:.4f}  delta {best - default:+.4f}")
    return "\n".join(lines) + "\n"
