"""Options that several commands share, written once: where the index lives and how to reach it.

`store_target` also settles the one precedence rule every command follows: an explicit `--store` beats an
`$OPENSEARCH_URL` that only comes from the environment; `--store` with an explicit `--opensearch-url` is a
usage error. `--elasticsearch-url` / `$ELASTICSEARCH_URL` (Elasticsearch 8.x) is the third target, with the
same rule against `--store` and `--opensearch-url` (with both URLs only in the environment: OpenSearch); it
reaches the commands through the same URL slot, tagged (`elasticsearch_connection.tag_url`), so no command
needs its own Elasticsearch parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gcl_search.stores import DEFAULT_STORE_DIR

F = Callable[..., Any]
_ES_META = "gcl_search.elasticsearch_url"


def _remember_elasticsearch(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.meta[_ES_META] = (value, ctx.get_parameter_source(param.name or ""))


def elasticsearch_option(func: F) -> F:
    """--elasticsearch-url / $ELASTICSEARCH_URL; read by `store_target`, not passed to the command."""
    return click.option(
        "--elasticsearch-url",
        envvar="ELASTICSEARCH_URL",
        show_envvar=True,
        expose_value=False,
        callback=_remember_elasticsearch,
        help="Elasticsearch 8.x URL instead of OpenSearch (credentials from "
        "ELASTICSEARCH_USERNAME/PASSWORD or ELASTICSEARCH_API_KEY).",
    )(func)


def connection_options(func: F) -> F:
    """--store, --opensearch-url, --elasticsearch-url, --ca-certs, --insecure, --timeout."""
    options = [
        click.option(
            "--store",
            "store_dir",
            type=click.Path(file_okay=False, path_type=Path),
            help=f"Local store parent directory (default: {DEFAULT_STORE_DIR}, when no OpenSearch URL).",
        ),
        click.option(
            "--opensearch-url",
            envvar="OPENSEARCH_URL",
            show_envvar=True,
            help="OpenSearch URL, or comma-separated node URLs of one cluster (credentials from "
            "OPENSEARCH_USERNAME/PASSWORD or OPENSEARCH_API_KEY).",
        ),
        elasticsearch_option,
        click.option(
            "--ca-certs",
            envvar="OPENSEARCH_CA_CERTS",
            type=click.Path(dir_okay=False),
            help="CA bundle for TLS verification.",
        ),
        click.option(
            "--insecure", is_flag=True, help="Do not verify TLS certificates (throwaway clusters only)."
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            default=30.0,
            show_default=True,
            help="Seconds per OpenSearch request.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def store_target(store_dir: Path | None, opensearch_url: str | None) -> tuple[Path, str | None]:
    """(local store parent directory, cluster URL or None) for the current command's options; an
    Elasticsearch URL comes back tagged (`elasticsearch_connection.tag_url`).

    An explicit flag beats a URL that only comes from the environment, and two explicit targets are a usage
    error; with both OPENSEARCH_URL and ELASTICSEARCH_URL in the environment alone, OpenSearch is used.

    Raises:
        click.UsageError: --store together with an explicit cluster URL, or two cluster URLs.
    """
    from gcl_search.stores.elasticsearch_connection import tag_url

    ctx = click.get_current_context()
    env = click.core.ParameterSource.ENVIRONMENT
    os_explicit = opensearch_url is not None and ctx.get_parameter_source("opensearch_url") is not env
    es_url, es_source = ctx.meta.get(_ES_META, (None, None))
    es_explicit = es_url is not None and es_source is not env
    if store_dir is not None and (os_explicit or es_explicit):
        raise click.UsageError(
            "give --store or a cluster URL (--opensearch-url / --elasticsearch-url), not both"
        )
    if store_dir is not None:
        return store_dir, None
    if es_url is not None and opensearch_url is not None:
        if os_explicit and es_explicit:
            raise click.UsageError("give --opensearch-url or --elasticsearch-url, not both")
        # Both from the environment: OpenSearch, as before Elasticsearch existed here.
        return DEFAULT_STORE_DIR, tag_url(es_url) if es_explicit else opensearch_url
    if es_url is not None:
        return DEFAULT_STORE_DIR, tag_url(es_url)
    return DEFAULT_STORE_DIR, opensearch_url
