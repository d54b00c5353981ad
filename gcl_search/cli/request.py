"""The store and request options of `gcl-search search`, `tune`, `triples` and the live mode of `evaluate`,
and the search client and `SearchClient.search` keyword arguments their values build.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gcl_search.cli.options import connection_options, store_target
from gcl_search.config import DENSE_SCORES, FUSIONS, LEXICAL_MODES

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
