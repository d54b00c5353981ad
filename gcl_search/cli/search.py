"""`gcl-search search`: weighted hybrid retrieval from the command line (JSON lines or a table on stdout).

The store and request options are shared with `gcl-search tune` and the live mode of `gcl-search evaluate`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gcl_search.cli.options import connection_options, store_target
from gcl_search.config import DENSE_SCORES, FUSIONS, LEXICAL_MODES
from gcl_search.records import Hit

F = Callable[..., Any]


def store_options(func: F) -> F:
    """--config, --index, the connection options (cli/options.py) and --retries."""
    func = click.option(
        "--retries",
        type=click.IntRange(min=1),
        default=3,
        show_default=True,
        help="Attempts per store call on timeouts and connection errors (backoff).",
    )(func)
    func = connection_options(func)
    func = click.option(
        "--index", required=True, help="Index name (a directory under --store for the local store)."
    )(func)
    return click.option(
        "--config",
        "-c",
        "config_path",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The TOML config the index was built with.",
    )(func)


# The parameter names `request_options` adds (the keyword arguments of `build_request` after the client).
REQUEST_OPTIONS = (
    "weights",
    "lexical",
    "lexical_fields",
    "lexical_weight",
    "fusion",
    "rank_constant",
    "filters",
    "dense_score",
    "lexical_mode",
    "lexical_boosts",
    "oversample",
)


def request_options(func: F) -> F:
    """--weight, --lexical/--no-lexical, --lexical-fields, --lexical-weight, --fusion, --rank-constant,
    --filter, --dense-score. Options left out take the config's `[search]` values."""
    options = [
        click.option(
            "--weight",
            "-w",
            "weights",
            multiple=True,
            help="Document field weights for this request, FIELD=W (comma-separated or repeated); "
            "fields left out keep the config's weight.",
        ),
        click.option(
            "--lexical/--no-lexical",
            default=None,
            help="Add BM25 over the text fields, fused with the dense score (or turn it off). "
            "Default: [search] lexical of the config.",
        ),
        click.option(
            "--lexical-fields",
            help="Comma-separated text fields for BM25 (implies --lexical; "
            "default: [search] lexical_fields, else all text fields).",
        ),
        click.option(
            "--lexical-weight",
            type=click.FloatRange(0, 1),
            help="BM25 share of the fused score, in [0, 1] (implies --lexical; default: [search] "
            "lexical_weight, 0.7).",
        ),
        click.option(
            "--fusion",
            type=click.Choice(FUSIONS),
            help="How dense and BM25 scores are combined (default: [search] fusion, rrf).",
        ),
        click.option(
            "--rank-constant",
            type=click.FloatRange(min=0, min_open=True),
            help="RRF rank constant (default: [search] rank_constant, 60).",
        ),
        click.option(
            "--lexical-mode",
            type=click.Choice(LEXICAL_MODES),
            help="combined: BM25 of the catch-all field of all text fields (plus --lexical-boost "
            "terms); most_fields: the sum of per-field BM25 (implies --lexical; default: "
            "[search] lexical_mode, else combined when the index has a catch-all field).",
        ),
        click.option(
            "--lexical-boost",
            "lexical_boosts",
            multiple=True,
            help="Per-field BM25 boosts FIELD=B (> 0; comma-separated or repeated; implies "
            "--lexical). most_fields: multiplies that field's BM25; combined: adds B x its "
            "BM25.",
        ),
        click.option(
            "--oversample",
            type=click.FloatRange(min=1),
            help="With BM25: candidates per requested hit of each search, the set the fusion "
            "normalises over (default: [search] oversample, else the index's, 3).",
        ),
        click.option(
            "--filter",
            "filters",
            multiple=True,
            help="FIELD=VALUE[|VALUE..] or FIELD<=N (also >=, <, >) on declared attributes; repeat to AND.",
        ),
        click.option(
            "--dense-score",
            type=click.Choice(DENSE_SCORES),
            help="Dense score: fused (the seed's multi-field embedding at the request's weights) or "
            "sum (sum_f w_f q.d_f); default: [search] dense_score, fused.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_client(
    config_path: Path,
    index: str,
    store_dir: Path | None,
    opensearch_url: str | None,
    ca_certs: str | None,
    insecure: bool,
    timeout: float,
    retries: int,
) -> Any:
    """A SearchClient for the store options (encoders loaded from the config; oversample and ef_search from
    its `[search]` table). Call it inside a command: the --store / $OPENSEARCH_URL rule needs the context."""
    from gcl_search.config import load_config
    from gcl_search.search.client import SearchClient
    from gcl_search.search.options import open_store

    store_dir, opensearch_url = store_target(store_dir, opensearch_url)
    config = load_config(config_path)
    # searches are small: a short timeout, and opensearch-py retries timeouts on another node
    store = open_store(
        index,
        store_dir,
        opensearch_url,
        ca_certs=ca_certs,
        verify_certs=not insecure,
        timeout=timeout,
        max_retries=3,
        retry_on_timeout=True,
    )
    return SearchClient(
        store, config, retries=retries, oversample=config.search.oversample, ef_search=config.search.ef_search
    )


def build_request(
    client: Any,
    weights: tuple[str, ...],
    lexical: bool | None,
    lexical_fields: str | None,
    lexical_weight: float | None,
    fusion: str | None,
    rank_constant: float | None,
    filters: tuple[str, ...],
    dense_score: str | None = None,
    lexical_mode: str | None = None,
    lexical_boosts: tuple[str, ...] = (),
    oversample: float | None = None,
) -> dict[str, Any]:
    """The keyword arguments of `SearchClient.search` for the request options over the config's
    `[search]` defaults."""
    from gcl_search.search.options import parse_filters, parse_weights, resolve_lexical

    fields = [f.strip() for f in lexical_fields.split(",") if f.strip()] if lexical_fields else None
    spec = resolve_lexical(
        client.config.search,
        lexical=lexical,
        fields=fields,
        weight=lexical_weight,
        fusion=fusion,
        rank_constant=rank_constant,
        mode=lexical_mode,
        boosts=parse_weights(lexical_boosts, "lexical boost") or None,
        oversample=oversample,
    )
    return {
        "weights": parse_weights(weights) or None,
        "lexical": spec,
        "filters": parse_filters(filters, client.layout),
        "dense_score": dense_score,
    }


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


def live_options(func: F) -> F:
    """Options of `gcl-search evaluate` that produce a run live, through the search client."""
    head = [
        click.option(
            "--config",
            "-c",
            "config_path",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Live: the TOML config the index was built with (with --index: run the queries live).",
        ),
        click.option("--index", help="Live: index name (a directory under --store for the local store)."),
    ]
    tail = [
        click.option(
            "--retries",
            type=click.IntRange(min=1),
            default=3,
            show_default=True,
            help="Live: attempts per store call on timeouts and connection errors.",
        ),
        click.option(
            "--queries",
            type=click.Path(dir_okay=False),
            help="Live: queries file (JSONL or id<TAB>text); default: judged query ids as texts.",
        ),
        click.option(
            "--k",
            "-k",
            "live_k",
            type=click.IntRange(1, 10_000),
            default=100,
            show_default=True,
            help="Live: hits per query.",
        ),
        click.option(
            "--run-out",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Live: write the run here (TREC, or JSONL for a .jsonl path; JSONL allows ids with spaces).",
        ),
        click.option(
            "--run-name", default="live", show_default=True, help="Live: the run's name in the report."
        ),
    ]
    for option in reversed(tail):
        func = option(func)
    func = connection_options(func)  # --store, --opensearch-url, --ca-certs, --insecure, --timeout
    for option in reversed(head):
        func = option(func)
    return request_options(func)


def live_runs(
    judgments: Any, live: dict[str, Any], specs: list[tuple[str, dict[str, Any]]] | None = None
) -> list[tuple[str, Any]]:
    """The live runs asked for by `live_options` values (`gcl_search.search.live.live_runs`): one per `specs`
    entry (name, request options with `run_out`; `evaluate --live`), else the single run of the top-level
    options; [] when neither --config nor --index was given.

    Raises:
        click.UsageError: --live without both --config and --index, or only one of them.
    """
    from gcl_search.search import live as live_mod

    if live["config_path"] is None and live["index"] is None and not specs:
        return []
    if live["config_path"] is None or live["index"] is None:
        raise click.UsageError("a live run needs both --config and --index")
    named = bool(specs)  # evaluate --live: say which run is running
    if not specs:
        specs = [(live["run_name"], {name: live[name] for name in (*REQUEST_OPTIONS, "run_out")})]
    client = build_client(
        live["config_path"],
        live["index"],
        live["store_dir"],
        live["opensearch_url"],
        live["ca_certs"],
        live["insecure"],
        live["timeout"],
        live["retries"],
    )
    queries = (
        live_mod.read_queries(live["queries"])
        if live["queries"]
        else live_mod.queries_from_judgments(judgments)
    )
    requests = []
    for name, options in specs:
        options = dict(options)
        run_out = options.pop("run_out")
        requests.append(live_mod.LiveRequest(name, build_request(client, **options), run_out))
    return live_mod.live_runs(
        client,
        queries,
        live["live_k"],
        requests,
        progress=True,
        announce=named,
        log=lambda message: click.echo(message, err=True),
    )
