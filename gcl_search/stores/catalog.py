"""What indices a store holds, and what each one is: the data behind `gcl-search index list|info|delete`.

Both stores answer the same questions: the gcl-search indices there (local: sub-directories with a
`meta.json`; OpenSearch: indices whose mapping carries `_meta.gcl_search`, with their aliases), and per index
its layout metadata as written at creation, its document count and its size on disk. The layout is reported
as stored, so an index written by another gcl-search version is still listed (with `compatible: false`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gcl_search.errors import ConfigError, IndexNotFound
from gcl_search.stores.layout import IndexLayout


@dataclass
class IndexSummary:
    """One index as `index list` / `index info` show it.

    Attributes:
        name: the index name (local: the directory name under the store directory).
        store: "local" or "opensearch".
        docs: number of documents (None when the store could not count them).
        size_bytes: bytes on disk (local: the directory; OpenSearch: primaries and replicas).
        meta: the `gcl_search` layout metadata as stored.
        aliases: OpenSearch aliases pointing at the index.
        location: the directory (local) or the cluster URL, credentials redacted (OpenSearch).
        engine_version: the OpenSearch version (None for the local store).
    """

    name: str
    store: str
    docs: int | None
    size_bytes: int | None
    meta: dict[str, Any]
    aliases: list[str] = field(default_factory=list)
    location: str = ""
    engine_version: str | None = None

    @property
    def compatible(self) -> bool:
        """Whether this gcl-search version can read the layout."""
        try:
            IndexLayout.from_meta(self.meta)
        except ConfigError:
            return False
        return True

    def row(self) -> dict[str, Any]:
        """A flat, JSON-able summary (the `index list` row)."""
        fields = [f.get("name") for f in self.meta.get("dense_fields", [])]
        return {
            "name": self.name,
            "store": self.store,
            "docs": self.docs,
            "size_bytes": self.size_bytes,
            "dense_fields": fields,
            "text_fields": list(self.meta.get("text_fields", [])),
            "aliases": self.aliases,
            "compatible": self.compatible,
        }

    def details(self) -> dict[str, Any]:
        """Everything `index info` shows: the row plus the whole layout and where the index lives."""
        return {
            **self.row(),
            "location": self.location,
            "engine_version": self.engine_version,
            "layout": self.meta,
        }


def local_indices(store_dir: str | Path) -> list[IndexSummary]:
    """The local stores under `store_dir` (a missing directory holds none), sorted by name."""
    root = Path(store_dir)
    if not root.is_dir():
        return []
    return [local_index(path) for path in sorted(root.iterdir()) if (path / "meta.json").is_file()]


def local_index(path: str | Path) -> IndexSummary:
    """The summary of the local store at `path`.

    Raises:
        IndexNotFound: no local store there.
    """
    path = Path(path)
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        raise IndexNotFound(
            f"no local store at {path} (no meta.json); `gcl-search index list --store "
            f"{path.parent}` lists the ones there"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8")).get("gcl_search", {})
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"{meta_path}: unreadable local store metadata ({err}); re-create the index"
        ) from err
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return IndexSummary(path.name, "local", _local_count(path, meta), size, meta, location=str(path))


def _local_count(path: Path, meta: dict[str, Any]) -> int | None:
    # The store itself counts (it knows segments and replaced ids); an unreadable layout leaves it unknown.
    from gcl_search.stores.local import LocalStore

    try:
        IndexLayout.from_meta(meta)
        return LocalStore(path).count()
    except ConfigError:
        return None
