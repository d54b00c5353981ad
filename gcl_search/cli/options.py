"""Options that several commands share, written once: where the index lives and how to reach it.

`store_target` also settles the one precedence rule every command follows: an explicit `--store` beats an
`$OPENSEARCH_URL` that only comes from the environment; `--store` with an explicit `--opensearch-url` is a
usage error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gcl_search.stores import DEFAULT_STORE_DIR

F = Callable[..., Any]


def connection_options(func: F) -> F:
    """--store, --opensearch-url, --ca-certs, --insecure, --timeout."""
    options = [
        click.option("--store", "store_dir", type=click.Path(file_okay=False, path_type=Path),
                     help=f"Local store parent directory (default: {DEFAULT_STORE_DIR}, when no OpenSearch "
                          "URL)."),
        click.option("--opensearch-url", envvar="OPENSEARCH_URL", show_envvar=True,
                     help="OpenSearch URL, or comma-separated node URLs of one cluster (credentials from "
                          "OPENSEARCH_USERNAME/PASSWORD or OPENSEARCH_API_KEY)."),
        click.option("--ca-certs", envvar="OPENSEARCH_CA_CERTS", type=click.Path(dir_okay=False),
                     help="CA bundle for TLS verification."),
        click.option("--insecure", is_flag=True,
                     help="Do not verify TLS certificates (throwaway clusters only)."),
        click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
                     help="Seconds per OpenSearch request."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def store_target(store_dir: Path | None, opensearch_url: str | None) -> tuple[Path, str | None]:
    """(local store parent directory, OpenSearch URL or None) for the current command's options.

    Raises:
        click.UsageError: --store together with an explicit --opensearch-url.
    """
    if store_dir is not None and opensearch_url is not None:
        source = click.get_current_context().get_parameter_source("opensearch_url")
        if source is not click.core.ParameterSource.ENVIRONMENT:
            raise click.UsageError("give --store or --opensearch-url, not both")
        opensearch_url = None
    return store_dir or DEFAULT_STORE_DIR, opensearch_url
