"""Resume state for an ingest: a checkpoint file and the failures file, kept consistent with each other.

The catalogue is a stream of items (records and per-record errors) numbered 0, 1, 2, ... in file order.
After the store confirms a batch, the pipeline commits it: first the batch's failures are appended to the
failures file (each line carries its item `position`) and synced, then the checkpoint is atomically replaced
with `position` = the number of items fully handled. An interrupted ingest resumes by skipping that many items
(without encoding them) and pruning failure lines at or past `position`, which a crash between the two writes
may have left behind. So every item is counted exactly once, whenever the process dies.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gcl_search.errors import ConfigError
from gcl_search.records import FailedDoc

CHECKPOINT_VERSION = 1


@dataclass
class Checkpoint:
    """The resume point of one ingest (a JSON file, replaced atomically on every commit).

    Attributes:
        path: the checkpoint file.
        fingerprint: what the ingest reads and writes (catalogue identity, fields, index); a resume with a
            different fingerprint is refused.
        position: number of catalogue items (records and per-record errors) fully handled.
        indexed: documents indexed so far, over all runs.
        extra: caller state that must survive a restart (e.g. the versioned index name being built).
    """

    path: Path
    fingerprint: Mapping[str, object]
    position: int = 0
    indexed: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str | Path, fingerprint: Mapping[str, object], resume: bool = True) -> Checkpoint:
        """Load the checkpoint at `path` to resume from it, or start afresh.

        Args:
            path: the checkpoint file (its directory is created on the first commit).
            fingerprint: JSON-able identity of the run; must equal the stored one to resume.
            resume: False discards any existing checkpoint (a full re-run; ids keep it idempotent).

        Raises:
            ConfigError: resuming, but the checkpoint is unreadable or belongs to a different run.
        """
        path = Path(path)
        fingerprint = json.loads(json.dumps(fingerprint))
        if not resume or not path.is_file():
            return cls(path, fingerprint)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            stored = data["fingerprint"]
            if data.get("version") != CHECKPOINT_VERSION:
                raise ValueError(f"version {data.get('version')!r}")
            point = cls(path, fingerprint, int(data["position"]), int(data["indexed"]), dict(data["extra"]))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ConfigError(
                f"{path}: unreadable ingest checkpoint ({err}); delete it or pass --no-resume to start over"
            ) from err
        if stored != fingerprint:
            changed = sorted(k for k in set(stored) | set(fingerprint) if stored.get(k) != fingerprint.get(k))
            raise ConfigError(
                f"{path}: this checkpoint belongs to a different ingest ({', '.join(changed)} "
                "changed); pass --no-resume to start over, or restore the original inputs"
            )
        return point

    @property
    def resuming(self) -> bool:
        """True when an earlier run committed something."""
        return self.position > 0

    def commit(self, position: int, indexed: int) -> None:
        """Record that items before `position` are handled and `indexed` more documents were written."""
        self.position = position
        self.indexed += indexed
        data = {
            "version": CHECKPOINT_VERSION,
            "fingerprint": self.fingerprint,
            "position": self.position,
            "indexed": self.indexed,
            "extra": self.extra,
        }
        _atomic_write(self.path, json.dumps(data, indent=1))

    def clear(self) -> None:
        """Remove the checkpoint (the ingest finished)."""
        self.path.unlink(missing_ok=True)


class FailureLog:
    """The failures file: one JSON line per failed item (doc_id, location, stage, reason, status, position).

    Args:
        path: the JSONL file, or None to keep failures in memory only.
        keep_before: resuming from this position: keep (and return in `earlier`) the lines before it and
            drop the rest; None starts a new, empty file.
    """

    def __init__(self, path: str | Path | None, keep_before: int | None = None):
        self.path = None if path is None else Path(path)
        self.earlier: list[FailedDoc] = []
        if self.path is None:
            return
        lines = self._kept_lines(keep_before) if keep_before is not None else []
        self.earlier = [_failed_from(json.loads(line)) for line in lines]
        _atomic_write(self.path, "".join(lines))

    def append(self, failures: Iterable[tuple[int, FailedDoc]]) -> None:
        """Append (position, failure) pairs and sync them to disk before returning."""
        lines = [json.dumps({**asdict(f), "position": pos}, ensure_ascii=False) + "\n" for pos, f in failures]
        if self.path is None or not lines:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.writelines(lines)
            handle.flush()
            os.fsync(handle.fileno())

    def _kept_lines(self, keep_before: int) -> list[str]:
        if self.path is None or not self.path.is_file():
            return []
        kept = []
        with open(self.path, encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    position = json.loads(line)["position"]
                except (ValueError, KeyError, TypeError) as err:
                    raise ConfigError(
                        f"{self.path}:{line_no}: not a failures-file line ({err}); move the "
                        "file away or pass --no-resume"
                    ) from err
                if position < keep_before:
                    kept.append(line if line.endswith("\n") else line + "\n")
        return kept


def _failed_from(data: Mapping[str, object]) -> FailedDoc:
    return FailedDoc(
        data.get("doc_id"),
        data.get("location"),
        str(data.get("stage")),  # type: ignore[arg-type]
        str(data.get("reason")),
        data.get("status"),
    )  # type: ignore[arg-type]


def _atomic_write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise ConfigError(
            f"{path}: cannot write ({err.strerror}); check the directory and its permissions"
        ) from err
