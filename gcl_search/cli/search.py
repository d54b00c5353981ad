"""`gcl-search search`: weighted hybrid retrieval from the command line (JSON lines or a table on stdout).

The store and request options it shares with `gcl-search tune`, `triples` and the live mode of `gcl-search
evaluate` live in `cli/request.py`, the live mode's own in `cli/live.py`; both are re-exported here for the
callers that import them from this module.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from gcl_search.cli.live import live_options, live_runs
from gcl_search.cli.request import (
    REQUEST_OPTIONS,
    build_client,
    build_request,
    request_options,
    store_options,
)
from gcl_search.records import Hit

__all__ = [
    "REQUEST_OPTIONS",
    "build_client",
    "build_request",
    "live_options",
    "live_runs",
    "render_hits",
    "request_options",
    "search_command",
    "store_options",
]


@click.command("search", short_help="Weighted multi-field (hybrid) search of an index.")
@store_options
@request_options
@click.option("--text", "-q", help="Query text.")
@click.option(
    "--image", type=click.Path(dir_okay=False, exists=True), help="Query image (for image query fields)."
)
@click.option(
    "--query-weight",
    "query_weights",
    multiple=True,
    help="Query field weights, NAME=W (a multi-field query, e.g. query=0.3,query_image=0.7).",
)
@click.option("--k", "-k", type=click.IntRange(1, 10_000), help="Hits per page (default: [search] k, 10).")
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True, help="Hits to skip.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "jsonl"]),
    default="table",
    show_default=True,
    help="Output: an aligned table, or one JSON object per hit.",
)
def search_command(
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
    text: str | None,
    image: str | None,
    query_weights: tuple[str, ...],
    k: int | None,
    offset: int,
    fmt: str,
) -> None:
    """Search --index with --text and/or --image; every hit shows its combined score, dense score, each
    field's raw similarity and its BM25 score."""
    from gcl_search.search.options import parse_weights

    if not (text and text.strip()) and image is None:
        raise click.UsageError("give --text and/or --image")
    client = build_client(config_path, index, store_dir, opensearch_url, ca_certs, insecure, timeout, retries)
    request = build_request(
        client,
        weights,
        lexical,
        lexical_fields,
        lexical_weight,
        fusion,
        rank_constant,
        filters,
        dense_score,
        lexical_mode,
        lexical_boosts,
        oversample,
    )
    hits = client.search(
        text,
        image,
        query_weights=parse_weights(query_weights, "query weight") or None,
        k=k or client.config.search.k,
        offset=offset,
        **request,
    )
    click.echo(render_hits(hits, client.field_names, fmt, offset), nl=False)


def render_hits(hits: list[Hit], field_names: tuple[str, ...], fmt: str, offset: int = 0) -> str:
    """Hits as JSON lines or as a table (rank, doc_id, score, dense, lexical, one column per field)."""
    if fmt == "jsonl":
        return "".join(
            json.dumps(
                {
                    "rank": offset + i + 1,
                    "doc_id": h.doc_id,
                    "score": h.score,
                    "dense_score": h.dense_score,
                    "field_scores": dict(h.field_scores),
                    "lexical_score": h.lexical_score,
                    "attributes": dict(h.attributes),
                },
                ensure_ascii=False,
                default=str,
            )
            + "\n"
            for i, h in enumerate(hits)
        )
    if not hits:
        return "no hits\n"
    header = ["rank", "doc_id", "score", "dense", "lexical", *field_names]
    rows = [
        [
            str(offset + i + 1),
            h.doc_id,
            f"{h.score:.4f}",
            f"{h.dense_score:.4f}",
            "-" if h.lexical_score is None else f"{h.lexical_score:.3f}",
            *(f"{h.field_scores[f]:.4f}" if f in h.field_scores else "-" for f in field_names),
        ]
        for i, h in enumerate(hits)
    ]
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]
    return "".join(
        "  ".join(c.rjust(w) if j != 1 else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))).rstrip()
        + "\n"
        for r in [header, *rows]
    )
