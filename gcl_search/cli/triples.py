"""`gcl-search triples`: training rows (query, doc_id, score) from a teacher ranking (see
`gcl_search.training.teacher`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gcl_search.cli.options import connection_options
from gcl_search.cli.request import REQUEST_OPTIONS, request_options
from gcl_search.training.teacher import RANK_FORMULAS


@click.command("triples", short_help="Training triples from a teacher ranking (+ human judgments).")
@click.option(
    "--queries",
    "queries_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Queries file (JSONL or TSV, as `gcl-search evaluate` reads; the text is used).",
)
@click.option("--generate", is_flag=True, help="Generate queries from the catalogue's fields instead.")
@click.option("--catalogue", help="Catalogue for --generate: JSONL/CSV/Parquet, or 'icecat' (bundled).")
@click.option("--title-field", default="title", show_default=True, help="Column with the product title.")
@click.option("--brand-field", default="brand", show_default=True, help="Column with the brand.")
@click.option("--type-field", "type_fields", multiple=True, help="Category-like column (repeatable).")
@click.option(
    "--per-product",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Generated queries per product at most.",
)
@click.option(
    "--max-queries",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Keep the most frequent N generated queries (0 = all).",
)
@click.option(
    "--min-products",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Keep generated queries that at least N products produce.",
)
@click.option(
    "--exclude",
    "exclude_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Queries never to generate: a queries file, or judgments whose query ids are texts.",
)
@click.option(
    "--write-queries",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the queries used (JSONL queries file).",
)
@click.option(
    "--run",
    "run_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Teacher run file (TREC or JSONL) instead of a live search.",
)
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Live teacher: the config the index was built with.",
)
@click.option("--index", help="Live teacher: the index name.")
@connection_options
@request_options
@click.option(
    "--depth",
    "-k",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Teacher hits per query kept as rows.",
)
@click.option(
    "--score",
    "formula",
    type=click.Choice(RANK_FORMULAS),
    default="linear",
    show_default=True,
    help="Rank-to-score formula: linear = scale*(depth+1-rank)/depth, reciprocal = scale/rank.",
)
@click.option(
    "--score-scale",
    type=click.FloatRange(min=0, min_open=True),
    help="Score of rank 1 (default: depth for linear, 1 for reciprocal).",
)
@click.option(
    "--judgments",
    "judgments_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Human judgments (TREC qrels or CSV); a human grade wins, grade 0 stays a negative.",
)
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output JSONL (query, doc_id, score, origin) for [train.data] triples / extra_triples.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def triples_command(
    queries_path,
    generate,
    catalogue,
    title_field,
    brand_field,
    type_fields,
    per_product,
    max_queries,
    min_products,
    exclude_path,
    write_queries,
    run_path,
    config_path,
    index,
    store_dir,
    opensearch_url,
    ca_certs,
    insecure,
    timeout,
    depth,
    formula,
    score_scale,
    judgments_path,
    output,
    quiet,
    **request_options_given,
):
    """Build (query, doc_id, score) training rows from a teacher's ranking.

    Queries: --queries FILE, or --generate from --catalogue. Teacher: --run FILE, or a live search
    (--config/--index [--store | --opensearch-url]) with any request options, e.g. `--lexical-weight 1`
    for pure BM25. Scores come from rank position (--score, --score-scale). Prints a JSON
    summary; the output feeds `gcl-search train` ([train.data] triples = ... or extra_triples = ...).
    """
    from gcl_search.errors import ConfigError
    from gcl_search.evaluation.judgments import read_judgments
    from gcl_search.training import teacher

    if bool(queries_path) == bool(generate):
        raise ConfigError("give exactly one of --queries FILE or --generate (with --catalogue)")
    if bool(run_path) == bool(config_path or index):
        raise ConfigError("give exactly one teacher: --run FILE, or --config and --index for a live search")
    judgments = read_judgments(judgments_path) if judgments_path else None
    if generate:
        if not catalogue:
            raise ConfigError("--generate needs --catalogue (a file, or 'icecat')")
        exclude = _read_query_texts(exclude_path) if exclude_path else []
        queries = teacher.generate_queries(
            _catalogue_rows(catalogue),
            title_field=title_field,
            brand_field=brand_field,
            type_fields=type_fields,
            per_product=per_product,
            max_queries=max_queries,
            min_products=min_products,
            exclude=exclude,
        )
    else:
        queries = _read_query_texts(queries_path)
    if write_queries:
        from gcl_search.search.live import SearchQuery
        from gcl_search.search.live import write_queries as write

        write(write_queries, [SearchQuery(q, q) for q in queries])
    if run_path:
        from gcl_search.evaluation.runs import read_run

        run = read_run(run_path)
        rankings = {q: r for q, r in teacher.ranking_from_run(run).items() if q in set(queries)}
    else:
        if not (config_path and index):
            raise ConfigError("a live teacher needs both --config and --index")
        from gcl_search.cli.request import build_client, build_request

        client = build_client(config_path, index, store_dir, opensearch_url, ca_certs, insecure, timeout, 3)
        request = build_request(client, **{k: request_options_given[k] for k in REQUEST_OPTIONS})
        rankings = teacher.ranking_from_client(client, queries, depth, progress=not quiet, **request)
    rows = teacher.teacher_triples(rankings, depth, teacher.RankScore(formula, score_scale), judgments)
    written = teacher.write_triples(output, rows)
    click.echo(
        json.dumps(
            {
                "output": str(output),
                "rows": written,
                "queries": len(queries),
                "ranked_queries": sum(1 for r in rankings.values() if r),
                "human_rows": sum(1 for t in rows if t.location.startswith("human")),
                "negatives": sum(1 for t in rows if t.score <= 0),
            }
        )
    )


def _catalogue_rows(catalogue: str):
    if catalogue == "icecat":
        from gcl_search.datasets.icecat import iter_catalogue

        return iter_catalogue()
    from gcl_search.training.data import table_rows

    return (row for _, row in table_rows(catalogue))


def _read_query_texts(path: Path) -> list[str]:
    """Query texts of a queries file (JSONL / TSV), or the query ids of a judgments CSV / qrels file."""
    from gcl_search.search.live import read_queries

    if path.suffix in (".csv", ".qrels"):
        from gcl_search.evaluation.judgments import read_judgments

        return list(read_judgments(path))
    return list(dict.fromkeys(q.text for q in read_queries(path) if q.text))
