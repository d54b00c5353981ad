"""One ingest run end to end, as `gcl-search ingest` does it: config, catalogue, target store, resume state,
encoders, the pipeline, and (with an alias) the versioned build and atomic alias swap.

Targets: the local store is the directory `<store_dir>/<index>`; OpenSearch is the index `<index>` at a URL,
or with `alias`, a new `<alias>-v<n>` that the alias moves to once the load has finished (zero downtime:
searches through the alias see the old index until the swap). A resumed aliased build continues into the same
version.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from gcl_search.config import Config, load_config
from gcl_search.encoders.base import Encoder
from gcl_search.encoders.registry import load_encoders
from gcl_search.errors import ConfigError
from gcl_search.ingest.checkpoint import Checkpoint
from gcl_search.ingest.formats import ICECAT_NAME, count_rows, detect_format
from gcl_search.ingest.pipeline import DEFAULT_BATCH_SIZE, ingest
from gcl_search.ingest.read import read_for_config
from gcl_search.records import CatalogueRecord, FailedDoc, IngestReport
from gcl_search.stores import DEFAULT_STORE_DIR
from gcl_search.stores.base import VectorStore, layout_from_config

STATE_DIR = Path(".gcl-search")


@dataclass(frozen=True)
class IngestJob:
    """Everything `gcl-search ingest` takes (see the CLI's --help for each option).

    Args:
        config: the TOML config file (document fields and encoders).
        catalogue: a .jsonl/.csv/.tsv/.parquet file, an Icecat directory, or `icecat` (the bundled sample).
        index: the index name (a sub-directory of `store_dir` for the local store); optional with `alias`.
        store_dir: the local store's parent directory (used when `opensearch_url` is None).
        opensearch_url: the cluster URL; credentials come from the environment (see stores.connection).
        alias: build `<alias>-v<n>` and move the alias to it at the end (OpenSearch only).
        id_column: the catalogue column holding document ids.
        fmt: catalogue format (default: from the suffix).
        base_dir: directory relative image paths resolve against.
        failures_file / checkpoint_file: default `.gcl-search/ingest-<target>.failures.jsonl` /
            `.checkpoint.json`.
        resume: continue from the checkpoint if there is one (False: start over).
        batch_size: catalogue items per encode/write batch.
        limit: read only the first `limit` catalogue items.
        swap_with_failures: move the alias even when some documents failed.
        ca_certs, verify_certs: TLS settings for OpenSearch.
        progress: tqdm bar on stderr.
    """

    config: Path
    catalogue: str
    index: str | None = None
    store_dir: Path = DEFAULT_STORE_DIR
    opensearch_url: str | None = None
    alias: str | None = None
    id_column: str = "doc_id"
    fmt: str | None = None
    base_dir: Path | None = None
    failures_file: Path | None = None
    checkpoint_file: Path | None = None
    resume: bool = True
    batch_size: int = DEFAULT_BATCH_SIZE
    limit: int | None = None
    swap_with_failures: bool = False
    ca_certs: str | None = None
    verify_certs: bool = True
    progress: bool = True

    @property
    def target(self) -> str:
        """The alias or index name (names the state files)."""
        return self.alias or self.index or ""


@dataclass
class IngestOutcome:
    """What a job did: the pipeline report, where it wrote, and the alias swap (if any)."""

    report: IngestReport
    store: str
    failures_file: Path
    alias: str | None = None
    alias_moved: bool = False
    alias_left: list[str] = field(default_factory=list)


def run_job(job: IngestJob, encoders: Mapping[str, Encoder] | None = None) -> IngestOutcome:
    """Run one ingest (see the module docstring).

    Args:
        job: the options.
        encoders: already loaded encoders (default: load the ones the config's document fields use).

    Raises:
        ConfigError: bad options, config, or a checkpoint of another run; CatalogueError: unreadable catalogue
        or a mapped column it lacks; StoreUnavailable: the cluster is unreachable or refuses the credentials;
        DimensionMismatch: the index was built with other dimensions.
    """
    _check_job(job)
    config = load_config(job.config)
    records = _records(job, config)  # reads the header/sample now: a bad mapping fails before model loading
    checkpoint = Checkpoint.open(_state_path(job, "checkpoint.json"), _fingerprint(job, config), job.resume)
    if encoders is None:
        encoders = load_encoders(config, {spec.encoder for spec in config.fields})
    store = _open_store(job, config, encoders, checkpoint)
    failures = job.failures_file or _state_path(job, "failures.jsonl")
    report = ingest(
        records,
        config,
        encoders,
        store,
        batch_size=job.batch_size,
        failures_file=failures,
        checkpoint=checkpoint,
        progress=job.progress,
        total=_total(job) if job.progress else None,
    )
    outcome = IngestOutcome(report, store.name, failures, job.alias)
    if job.alias and (not report.failed or job.swap_with_failures):
        from gcl_search.stores.engines import swap_alias

        outcome.alias_left = swap_alias(store, job.alias, store.index)  # type: ignore[attr-defined]
        outcome.alias_moved = True
    return outcome


def _check_job(job: IngestJob) -> None:
    if not job.index and not job.alias:
        raise ConfigError("name the target: --index NAME (or --alias NAME for a versioned build)")
    if job.alias and job.opensearch_url is None:
        raise ConfigError(
            "--alias needs OpenSearch (--opensearch-url or OPENSEARCH_URL); the local store "
            "has no aliases: ingest into a new --index directory instead"
        )
    if job.index and job.alias:
        raise ConfigError("give --index or --alias, not both: with --alias the index is <alias>-v<n>")
    if job.limit is not None and job.limit < 1:
        raise ConfigError(f"--limit {job.limit} must be >= 1")


def _records(job: IngestJob, config: Config) -> Iterator[CatalogueRecord | FailedDoc]:
    records = read_for_config(
        job.catalogue, config, id_column=job.id_column, base_dir=job.base_dir, fmt=job.fmt
    )
    return islice(records, job.limit) if job.limit is not None else records


def _total(job: IngestJob) -> int | None:
    """The progress bar's total: the catalogue's item count where it is cheap to know, capped by --limit."""
    count = count_rows(Path(job.catalogue), detect_format(Path(job.catalogue), job.fmt))
    if count is None or job.limit is None:
        return count if count is not None else job.limit
    return min(count, job.limit)


def _state_path(job: IngestJob, suffix: str) -> Path:
    if suffix == "checkpoint.json" and job.checkpoint_file is not None:
        return job.checkpoint_file
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in job.target)
    return STATE_DIR / f"ingest-{safe}.{suffix}"


def _fingerprint(job: IngestJob, config: Config) -> dict[str, object]:
    """What must not change between an interrupted run and its resume."""
    source: dict[str, object] = {"catalogue": job.catalogue}
    path = Path(job.catalogue)
    if job.catalogue != ICECAT_NAME and path.is_file():
        stat = path.stat()
        source = {"catalogue": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return {
        **source,
        "format": detect_format(path, job.fmt),
        "id_column": job.id_column,
        "limit": job.limit,
        "fields": [[s.name, s.source, s.encoder, s.modality] for s in config.fields],
        "encoders": {n: dataclasses.asdict(e) for n, e in sorted(config.encoders.items())},
        "target": job.target,
        "opensearch": job.opensearch_url is not None,
        "store_dir": None if job.opensearch_url else str(Path(job.store_dir).resolve()),
    }


def _open_store(
    job: IngestJob, config: Config, encoders: Mapping[str, Encoder], checkpoint: Checkpoint
) -> VectorStore:
    from gcl_search.search.options import open_store

    connection = {
        "ca_certs": job.ca_certs,
        "verify_certs": job.verify_certs,
        "shards": config.index.shards,
        "replicas": config.index.replicas,
    }
    if not job.alias:
        return open_store(job.index or "", job.store_dir, job.opensearch_url, **connection)
    from gcl_search.stores.engines import create_versioned_index  # OpenSearch or Elasticsearch

    base = open_store(job.alias, job.store_dir, job.opensearch_url, **connection)
    building = checkpoint.extra.get("index")  # set only by a checkpoint loaded for resuming
    if isinstance(building, str):
        return base.with_index(building)  # type: ignore[attr-defined]
    dims = {name: encoder.dim for name, encoder in encoders.items()}
    store = create_versioned_index(base, job.alias, layout_from_config(config, dims))
    # Remember the version now, so a crash before the first batch still resumes into it.
    checkpoint.extra["index"] = store.index
    checkpoint.commit(0, 0)
    return store
