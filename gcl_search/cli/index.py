"""`gcl-search index list|info|delete`: what indices a store holds, what each one is, and removing one.

The same store options and errors as every other command; `--format json` for scripts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from gcl_search.cli.options import connection_options, store_target

_FORMATS = click.Choice(["table", "json"])


@click.group("index", short_help="List, describe and delete indices (local store or OpenSearch).")
def index_group() -> None:
    """List, describe and delete the indices `gcl-search ingest` built."""


@index_group.command("list", short_help="The gcl-search indices in a store.")
@connection_options
@click.option(
    "--format",
    "fmt",
    type=_FORMATS,
    default="table",
    show_default=True,
    help="A table, or one JSON object per line.",
)
def list_command(
    store_dir: Path | None,
    opensearch_url: str | None,
    ca_certs: str | None,
    insecure: bool,
    timeout: float,
    fmt: str,
) -> None:
    """List the gcl-search indices in --store (local) or on the OpenSearch cluster: docs, size, fields."""
    from gcl_search.stores.catalog import local_indices

    root, url = store_target(store_dir, opensearch_url)
    summaries = (
        local_indices(root) if url is None else _opensearch(url, "*", ca_certs, insecure, timeout).summaries()
    )
    rows = [s.row() for s in summaries]
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps(row))
        return
    if not rows:
        where = root if url is None else "the cluster"
        click.echo(f"no gcl-search indices in {where}", err=True)
        return
    _table(rows, ("name", "docs", "size", "dense_fields", "text_fields", "aliases"))


@index_group.command("info", short_help="One index's layout, size and store.")
@click.argument("name")
@connection_options
@click.option(
    "--format",
    "fmt",
    type=_FORMATS,
    default="table",
    show_default=True,
    help="Readable lines, or one JSON object.",
)
def info_command(
    name: str,
    store_dir: Path | None,
    opensearch_url: str | None,
    ca_certs: str | None,
    insecure: bool,
    timeout: float,
    fmt: str,
) -> None:
    """Show index NAME: fields, encoders, dimensions, text fields, attributes, options (preset weights,
    HNSW settings), document count, size, aliases, and the store (OpenSearch version)."""
    info = _summary(name, store_dir, opensearch_url, ca_certs, insecure, timeout)[0].details()
    if fmt == "json":
        click.echo(json.dumps(info))
        return
    layout = info.pop("layout")
    for key in ("name", "store", "location", "engine_version", "docs", "size_bytes", "aliases", "compatible"):
        if info.get(key) not in (None, []):
            click.echo(f"{key}: {_show(info[key])}")
    click.echo(f"layout_version: {layout.get('layout_version')}")
    for f in layout.get("dense_fields", []):
        details = ", ".join(f"{k}={v}" for k, v in f.items() if k != "name")
        click.echo(f"dense field {f.get('name')}: {details}")
    for key in ("text_fields", "attributes"):
        click.echo(f"{key}: {_show(layout.get(key, []))}")
    for key, value in sorted(layout.get("options", {}).items()):
        click.echo(f"option {key}: {_show(value)}")


@index_group.command("delete", short_help="Delete an index and everything in it.")
@click.argument("name")
@connection_options
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def delete_command(
    name: str,
    store_dir: Path | None,
    opensearch_url: str | None,
    ca_certs: str | None,
    insecure: bool,
    timeout: float,
    yes: bool,
) -> None:
    """Delete index NAME (asks first unless --yes). On OpenSearch NAME must be an index, not an alias."""
    summary, url = _summary(name, store_dir, opensearch_url, ca_certs, insecure, timeout)
    if summary.store == "opensearch" and summary.name != name:
        raise click.UsageError(
            f"{name!r} is an alias of {summary.name!r}; delete the index by its own name "
            "(or move the alias first)"
        )
    if not yes:
        click.confirm(
            f"delete {summary.store} index {name!r} ({summary.docs} documents, {_size(summary.size_bytes)})?",
            abort=True,
            err=True,
        )
    if summary.store == "local":
        from gcl_search.stores.local import LocalStore

        LocalStore(summary.location).drop()
    else:
        _opensearch(url, name, ca_certs, insecure, timeout).drop()
    click.echo(f"deleted {summary.store} index {name!r}", err=True)


def _summary(
    name: str,
    store_dir: Path | None,
    opensearch_url: str | None,
    ca_certs: str | None,
    insecure: bool,
    timeout: float,
) -> tuple[Any, str | None]:
    from gcl_search.errors import IndexNotFound
    from gcl_search.stores.catalog import local_index

    root, url = store_target(store_dir, opensearch_url)
    if url is None:
        return local_index(root / name), None
    found = _opensearch(url, name, ca_certs, insecure, timeout).summaries()
    if len(found) != 1:
        raise IndexNotFound(
            f"{name!r} is not one gcl-search index at the cluster "
            f"({len(found)} match); `gcl-search index list` shows them"
        )
    return found[0], url


def _opensearch(url: str, index: str, ca_certs: str | None, insecure: bool, timeout: float) -> Any:
    from gcl_search.search.options import open_store

    return open_store(
        index, opensearch_url=url, ca_certs=ca_certs, verify_certs=not insecure, timeout=timeout
    )


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    cells = [
        [_size(row["size_bytes"]) if c == "size" else _show(row.get(c)) for c in columns] for row in rows
    ]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ",".join(_show(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
