"""The live mode of `gcl-search evaluate`: its options, and the runs they ask for through the client."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gcl_search.cli.options import connection_options
from gcl_search.cli.request import REQUEST_OPTIONS, build_client, build_request, request_options

F = Callable[..., Any]


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
