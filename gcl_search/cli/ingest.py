"""`gcl-search ingest`: read a catalogue, encode every field, write it into the local store or OpenSearch."""

from __future__ import annotations

from pathlib import Path

import click

from gcl_search.cli.options import elasticsearch_option, store_target
from gcl_search.ingest.formats import FORMATS
from gcl_search.ingest.job import IngestJob, IngestOutcome, run_job
from gcl_search.ingest.pipeline import DEFAULT_BATCH_SIZE
from gcl_search.stores import DEFAULT_STORE_DIR


@click.command("ingest", short_help="Encode a catalogue into the local store or an OpenSearch k-NN index.")
@click.option(
    "--config",
    "-c",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML config: document fields and their encoders.",
)
@click.option(
    "--catalogue",
    required=True,
    help="A .jsonl/.csv/.tsv/.parquet file, an Icecat sample directory, or 'icecat' (bundled).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Catalogue format (default: from suffix).")
@click.option("--id-column", default="doc_id", show_default=True, help="Catalogue column holding the ids.")
@click.option(
    "--base-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory relative image paths resolve against (default: [images] root, else the "
    "catalogue's directory).",
)
@click.option("--index", help="Index name (a directory under --store for the local store).")
@click.option("--alias", help="OpenSearch: build <alias>-v<n> and move the alias to it atomically when done.")
@click.option(
    "--store",
    "store_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Local store parent directory (default: {DEFAULT_STORE_DIR}, when no OpenSearch URL).",
)
@click.option(
    "--opensearch-url",
    envvar="OPENSEARCH_URL",
    show_envvar=True,
    help="OpenSearch URL. Credentials come from the environment: OPENSEARCH_USERNAME and "
    "OPENSEARCH_PASSWORD, or OPENSEARCH_API_KEY.",
)
@elasticsearch_option
@click.option(
    "--ca-certs",
    envvar="OPENSEARCH_CA_CERTS",
    type=click.Path(dir_okay=False),
    help="CA bundle for TLS verification.",
)
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates (throwaway clusters only).")
@click.option(
    "--failures-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONL of failed records (default: .gcl-search/ingest-<index>.failures.jsonl).",
)
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Resume checkpoint (default: .gcl-search/ingest-<index>.checkpoint.json).",
)
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Continue an interrupted ingest from its checkpoint, or start over.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Catalogue records per encode/write batch.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Ingest only the first N catalogue records.")
@click.option("--swap-with-failures", is_flag=True, help="Move --alias even if some documents failed.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
@click.pass_context
def ingest_command(
    ctx: click.Context,
    config_path: Path,
    catalogue: str,
    fmt: str | None,
    id_column: str,
    base_dir: Path | None,
    index: str | None,
    alias: str | None,
    store_dir: Path | None,
    opensearch_url: str | None,
    ca_certs: str | None,
    insecure: bool,
    failures_file: Path | None,
    checkpoint_file: Path | None,
    resume: bool,
    batch_size: int,
    limit: int | None,
    swap_with_failures: bool,
    progress: bool,
) -> None:
    """Read --catalogue, encode its fields with the config's encoders, and write them with explicit ids.

    Re-running is safe: ids make writes idempotent, and an interrupted run resumes from its checkpoint
    without re-encoding what was written. Exits 1 when any record failed (all listed in --failures-file).
    """
    store_dir, opensearch_url = store_target(store_dir, opensearch_url)
    job = IngestJob(
        config_path,
        catalogue,
        index,
        store_dir,
        opensearch_url,
        alias,
        id_column,
        fmt,
        base_dir,
        failures_file,
        checkpoint_file,
        resume,
        batch_size,
        limit,
        swap_with_failures,
        ca_certs,
        not insecure,
        progress,
    )
    outcome = run_job(job)
    click.echo(summary(outcome))
    if outcome.report.failed:
        click.echo(failure_line(outcome), err=True)
        ctx.exit(1)


def summary(outcome: IngestOutcome) -> str:
    """The one-line result on stdout."""
    report = outcome.report
    line = (
        f"indexed {report.indexed}, skipped {report.skipped}, failed {len(report.failed)} "
        f"in {report.seconds:.1f} s ({report.docs_per_second:.0f} docs/s) into {outcome.store}"
    )
    if outcome.alias_moved:
        left = f" (was: {', '.join(outcome.alias_left)})" if outcome.alias_left else ""
        line += f"; alias moved{left}"
    return line


def failure_line(outcome: IngestOutcome) -> str:
    """The stderr line for a run with failures: count, the first one, and where the rest are."""
    report = outcome.report
    first = report.failed[0]
    what = first.doc_id or first.location or "?"
    code = first.status if first.status is not None else first.stage
    line = (
        f"indexed {report.indexed}, failed {len(report.failed)} (first: {what} {code} {first.reason}); "
        f"every failure is in {outcome.failures_file}"
    )
    if outcome.alias and not outcome.alias_moved:
        line += f"; alias {outcome.alias!r} NOT moved (fix and re-run, or pass --swap-with-failures)"
    return line
