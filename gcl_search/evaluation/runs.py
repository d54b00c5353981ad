"""Read and write runs: TREC run files (`qid Q0 docid rank score tag`) or JSONL.

A run is a plain dict, `query_id -> doc_id -> score`. Ranking order everywhere in gcl-search: score
descending, then doc_id ascending (a deterministic tie-break; trec_eval breaks ties by doc_id *descending*,
so tied runs can differ from it). The rank column of a TREC file is ignored, as trec_eval ignores it.

JSONL accepts two line shapes, mixed freely:
    {"query_id": "q1", "doc_id": "d7", "score": 12.5}
    {"query_id": "q1", "hits": [{"doc_id": "d7", "score": 12.5}, ...]}
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from gcl_search.errors import InputFileError
from gcl_search.evaluation._io import detect_format, open_lines, parse_score, split_trec
from gcl_search.ranking import ranked

TREC_LAYOUT = "qid Q0 docid rank score tag"


class Run(dict):
    """`query_id -> {doc_id: score}` plus where it came from (`source`, `first_line[query_id]`, `tag`)."""

    def __init__(self, data: Mapping[str, Mapping[str, float]] | None = None, source: str | None = None):
        super().__init__(data or {})
        self.source = source
        self.tag: str | None = None
        self.first_line: dict[str, int] = {}


def read_run(path: str | Path, fmt: str | None = None) -> Run:
    """Read a run file.

    Args:
        path: a TREC run file (6 whitespace-separated fields) or JSONL (see the module docstring).
        fmt: "trec" or "jsonl"; None detects it from the extension (.jsonl/.json), else the first line.

    Returns:
        Run: `query_id -> {doc_id: score}`, with `tag` set from the TREC tag column when there is one.

    Raises:
        InputFileError: empty file, wrong field count, mixed separators, bad JSON, non-numeric or non-finite
            score, or the same doc listed twice for a query; the message names the file and line.
    """
    lines = open_lines(path)
    first = next(lines)
    fmt = fmt or detect_format(path, first[1], ("trec", "jsonl"))
    if fmt not in ("trec", "jsonl"):
        raise InputFileError(path, None, f"unknown run format {fmt!r}; use 'trec' or 'jsonl'")
    parse = _trec_hits if fmt == "trec" else _jsonl_hits
    run = Run(source=str(path))
    for line_no, line in itertools.chain([first], lines):
        for query_id, doc_id, score, tag in parse(path, line_no, line):
            hits = run.get(query_id)
            if hits is None:
                hits = run[query_id] = {}
                run.first_line[query_id] = line_no
            if doc_id in hits:
                raise InputFileError(
                    path,
                    line_no,
                    f"doc {doc_id!r} appears twice for query {query_id!r}; "
                    "a run lists each doc at most once per query",
                )
            hits[doc_id] = score
            run.tag = run.tag or tag
    return run


def _trec_hits(path: str | Path, line_no: int, line: str) -> Iterator[tuple[str, str, float, str | None]]:
    query_id, _q0, doc_id, _rank, score, tag = split_trec(path, line_no, line, 6, TREC_LAYOUT)
    yield query_id, doc_id, parse_score(path, line_no, score), tag


def _jsonl_hits(path: str | Path, line_no: int, line: str) -> Iterator[tuple[str, str, float, str | None]]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        hint = " (it looks like a TREC line: pass fmt='trec')" if len(line.split()) == 6 else ""
        raise InputFileError(path, line_no, f"not valid JSON: {err.msg}{hint}") from err
    if not isinstance(obj, dict) or "query_id" not in obj:
        raise InputFileError(path, line_no, "each JSONL line must be an object with a 'query_id'")
    query_id = str(obj["query_id"])
    hits = obj["hits"] if "hits" in obj else [obj]
    if not isinstance(hits, list):
        raise InputFileError(path, line_no, "'hits' must be a list of {doc_id, score} objects")
    for hit in hits:
        if not isinstance(hit, dict) or "doc_id" not in hit or "score" not in hit:
            raise InputFileError(path, line_no, "each hit needs 'doc_id' and 'score'")
        yield query_id, str(hit["doc_id"]), parse_score(path, line_no, hit["score"]), None


def write_run(
    path: str | Path, run: Mapping[str, Mapping[str, float]], tag: str = "gcl-search", fmt: str | None = None
) -> Path:
    """Write a run in ranking order, as TREC (`qid Q0 docid rank score tag`) or JSONL (one line per query).

    Args:
        path: output file; its extension picks the format when `fmt` is None (.jsonl/.json: JSONL, else TREC).
        run: `query_id -> {doc_id: score}`.
        tag: the TREC run tag (last column); must not contain whitespace.
        fmt: "trec" or "jsonl".

    Returns:
        The path written.

    Raises:
        InputFileError: a TREC field (query id, doc id, tag) contains whitespace; write JSONL instead.
    """
    path = Path(path)
    fmt = fmt or ("jsonl" if path.suffix.lower() in (".jsonl", ".json", ".ndjson") else "trec")
    with open(path, "w", encoding="utf-8") as out:
        for query_id, hits in run.items():
            order = ranked(hits)
            if fmt == "jsonl":
                out.write(
                    json.dumps(
                        {"query_id": query_id, "hits": [{"doc_id": d, "score": s} for d, s in order]},
                        ensure_ascii=False,
                    )
                    + "\n"
                )
                continue
            for rank, (doc_id, score) in enumerate(order, start=1):
                for field in (query_id, doc_id, tag):
                    if not field or len(field.split()) != 1:
                        raise InputFileError(
                            path,
                            None,
                            f"{field!r} is empty or contains whitespace, which the "
                            "TREC format cannot hold; write JSONL instead (a .jsonl path)",
                        )
                out.write(f"{query_id} Q0 {doc_id} {rank} {score!r} {tag}\n")
    return path
