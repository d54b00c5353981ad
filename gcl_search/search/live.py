"""Live evaluation: read a queries file, run every query through a SearchClient, and return a run.

Queries files:
- JSONL, one object per line: `{"query_id": "q1", "text": "usb cable"}` (also `id` / `query` as keys, and an
  optional `image` path for image query fields);
- TSV: `query_id<TAB>text` per line; a line without a tab is a query whose text is its id.
When the judgments key their queries by the query text itself (as the Icecat judgments do), the queries can be
taken from the judgments (`queries_from_judgments`). `live_runs` runs them once per named request setting
through one client (`gcl-search evaluate --live`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gcl_search.errors import InputFileError
from gcl_search.evaluation.runs import Run
from gcl_search.search.client import LexicalSpec, SearchClient
from gcl_search.stores.base import Filter


@dataclass(frozen=True)
class SearchQuery:
    """One query of a queries file.

    Args:
        query_id: the id the judgments use.
        text: the query text (None for an image-only query).
        image: an image path, for image query fields.
    """

    query_id: str
    text: str | None = None
    image: str | None = None


def read_queries(path: str | Path) -> list[SearchQuery]:
    """Read a JSONL or TSV queries file (see the module docstring).

    Raises:
        InputFileError: unreadable file, a malformed line, a query without text or image, or a repeated id
            (names the line).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputFileError(path, None, f"cannot read the queries file ({err})") from err
    queries: list[SearchQuery] = []
    seen: dict[str, int] = {}
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        query = _parse_line(path, line_no, line)
        if query.query_id in seen:
            first = seen[query.query_id]
            raise InputFileError(
                path, line_no, f"query id {query.query_id!r} repeats line {first}; give each query one line"
            )
        seen[query.query_id] = line_no
        queries.append(query)
    return queries


def _parse_line(path: Path, line_no: int, line: str) -> SearchQuery:
    if line.lstrip().startswith("{"):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputFileError(path, line_no, f"invalid JSON ({err.msg})") from err
        query_id = obj.get("query_id", obj.get("id"))
        text, image = obj.get("text", obj.get("query")), obj.get("image")
    else:
        query_id, _, text = line.rstrip("\n").partition("\t")
        text, image = (text if text else query_id), None
    if query_id is None or not str(query_id).strip():
        raise InputFileError(path, line_no, 'no query id; use {"query_id": ..., "text": ...} or id<TAB>text')
    if not (isinstance(text, str) and text.strip()) and not image:
        raise InputFileError(path, line_no, f"query {query_id!r} has neither text nor image")
    return SearchQuery(str(query_id), text if isinstance(text, str) else None, image)


def write_queries(path: str | Path, queries: Iterable[SearchQuery]) -> Path:
    """Write queries as JSONL (`query_id`, `text`, and `image` when set), readable by `read_queries`."""
    path = Path(path)
    lines = [
        json.dumps(
            {
                k: v
                for k, v in (("query_id", q.query_id), ("text", q.text), ("image", q.image))
                if v is not None
            },
            ensure_ascii=False,
        )
        for q in queries
    ]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def queries_from_judgments(judgments: Mapping[str, object]) -> list[SearchQuery]:
    """One query per judged query id, with the id as its text (judgments keyed by query text)."""
    return [SearchQuery(query_id, query_id) for query_id in judgments]


def run_queries(
    client: SearchClient,
    queries: Iterable[SearchQuery],
    k: int = 100,
    *,
    weights: Mapping[str, float] | None = None,
    lexical: LexicalSpec | None = None,
    filters: Sequence[Filter] = (),
    progress: bool = False,
    dense_score: str | None = None,
) -> Run:
    """Search every query and collect the top k as a run (`query_id -> {doc_id: score}`).

    Args:
        client: the search client.
        queries: the queries.
        k: hits per query.
        weights, lexical, filters, dense_score: passed to `SearchClient.search` for every query.
        progress: a tqdm bar on stderr.

    Returns:
        A Run; a query with no hits is kept with an empty ranking (it scores 0 rather than vanishing).
    """
    queries = list(queries)
    if progress:
        from tqdm.auto import tqdm

        queries = tqdm(queries, desc="queries", unit="q")
    run = Run(source="live")
    for query in queries:
        hits = client.search(
            query.text,
            query.image,
            weights=weights,
            lexical=lexical,
            k=k,
            filters=filters,
            dense_score=dense_score,
        )
        run[query.query_id] = {hit.doc_id: hit.score for hit in hits}
    return run


@dataclass(frozen=True)
class LiveRequest:
    """One named live run's settings.

    Args:
        name: the run's name (its tag in a written run file).
        options: `run_queries` keyword arguments (weights, lexical, filters, dense_score).
        run_out: write the run here (TREC, or JSONL for a .jsonl path); None: not written.
    """

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    run_out: Path | None = None


def live_runs(
    client: SearchClient,
    queries: Sequence[SearchQuery],
    k: int,
    requests: Sequence[LiveRequest],
    *,
    progress: bool = False,
    announce: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[tuple[str, Run]]:
    """(name, run) per request, in order: every query through one client (model and store loaded once).

    Args:
        client, queries, k, progress: as for `run_queries`.
        requests: the runs' settings.
        announce: log "live run NAME" before each run.
        log: where messages go ("run written to PATH" after each written run); None: nowhere.
    """
    from gcl_search.evaluation import write_run

    results = []
    for request in requests:
        if announce and log is not None:
            log(f"live run {request.name}")
        run = run_queries(client, queries, k, progress=progress, **request.options)
        if request.run_out is not None:
            written = write_run(request.run_out, run, tag=request.name)
            if log is not None:
                log(f"run written to {written}")
        results.append((request.name, run))
    return results
