"""Read graded judgments: TREC qrels (`qid 0 docid grade`) or CSV/TSV with a header (`query,docid,grade`).

Judgments are plain dicts, `query_id -> doc_id -> grade` (int), so the trainer and the search client can build
them in memory. `read_judgments` returns a `Judgments`, a dict that also remembers its file and the line where
each query first appears, so later checks (e.g. a run naming an unknown query) can point at a line.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path

from gcl_search.errors import InputFileError
from gcl_search.evaluation._io import detect_format, open_lines, parse_grade, split_trec

# Header names recognised without `columns=`, in order of preference.
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "query": ("query_id", "qid", "query"),
    "doc_id": ("doc_id", "docid", "product_id", "pid"),
    "grade": ("grade", "rating", "relevance", "rel", "label"),
}


class Judgments(dict):
    """`query_id -> {doc_id: grade}` plus where it came from (`source`, `first_line[query_id]`)."""

    def __init__(self, data: Mapping[str, Mapping[str, int]] | None = None, source: str | None = None):
        super().__init__(data or {})
        self.source = source
        self.first_line: dict[str, int] = {}


def read_judgments(
    path: str | Path, fmt: str | None = None, columns: Mapping[str, str] | None = None
) -> Judgments:
    """Read a judgments file.

    Args:
        path: TREC qrels (`qid iter docid grade`, whitespace-separated; the iter column is ignored) or CSV/TSV
            with a header row.
        fmt: "trec" or "csv"; None detects it from the extension (.csv/.tsv/.qrels/.txt), else the first line.
        columns: CSV header names for the keys "query", "doc_id", "grade", e.g.
            `{"query": "query", "doc_id": "docid", "grade": "rating"}` (the Icecat sample). Missing
            keys fall back to the usual names (query_id/qid/query, doc_id/docid/product_id,
            grade/rating/relevance).

    Returns:
        Judgments: `query_id -> {doc_id: grade}`; grades are ints (negative grades are kept here and count as
        judged non-relevant, gain 0, in every metric).

    Raises:
        InputFileError: empty file, wrong field count, mixed separators, non-integer grade, unknown CSV
            column, or the same (query, doc) judged twice; the message names the file and line.
    """
    lines = open_lines(path)
    first = next(lines)
    fmt = fmt or detect_format(path, first[1], ("trec", "csv"))
    if fmt not in ("trec", "csv"):
        raise InputFileError(path, None, f"unknown judgments format {fmt!r}; use 'trec' or 'csv'")
    if fmt == "csv":
        lines.close()  # the csv module re-reads the file itself: quoted fields may span lines
        rows = _csv_rows(path, columns)
    else:
        rows = _trec_rows(path, first, lines)
    judgments = Judgments(source=str(path))
    where: dict[tuple[str, str], int] = {}
    for line_no, query_id, doc_id, grade_text in rows:
        grade = parse_grade(path, line_no, grade_text)
        per_query = judgments.setdefault(query_id, {})
        if doc_id in per_query:
            raise InputFileError(
                path,
                line_no,
                f"query {query_id!r} judges doc {doc_id!r} twice (first on line "
                f"{where[query_id, doc_id]}); keep one judgment per (query, doc)",
            )
        per_query[doc_id] = grade
        where[query_id, doc_id] = line_no
        judgments.first_line.setdefault(query_id, line_no)
    if not judgments:
        raise InputFileError(path, None, "no judgments after the header; add `query,doc_id,grade` rows")
    return judgments


def _trec_rows(
    path: str | Path, first: tuple[int, str], rest: Iterator[tuple[int, str]]
) -> Iterator[tuple[int, str, str, str]]:
    layout = "qid iter docid grade"
    for line_no, line in itertools.chain([first], rest):
        query_id, _iteration, doc_id, grade = split_trec(path, line_no, line, 4, layout)
        yield line_no, query_id, doc_id, grade


def _csv_rows(path: str | Path, columns: Mapping[str, str] | None) -> Iterator[tuple[int, str, str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        header_line = handle.readline()
        delimiter = "\t" if header_line.count("\t") > header_line.count(",") else ","
        handle.seek(0)
        reader = csv.reader(handle, delimiter=delimiter)
        header = [name.strip() for name in next(reader)]
        names = _resolve_columns(path, header, columns or {})
        index = [header.index(names[key]) for key in ("query", "doc_id", "grade")]
        for row in reader:
            line_no = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                other = ";" if delimiter == "," else ","
                hint = (
                    f"mixed separators: the header uses {delimiter!r} but this row looks {other!r}-separated"
                    if len(row) == 1 and other in row[0]
                    else f"expected {len(header)} fields like the header, got {len(row)}"
                )
                raise InputFileError(path, line_no, hint)
            query_id, doc_id, grade = (row[i].strip() for i in index)
            if not query_id or not doc_id:
                raise InputFileError(path, line_no, "empty query or doc id")
            yield line_no, query_id, doc_id, grade


def _resolve_columns(path: str | Path, header: list[str], columns: Mapping[str, str]) -> dict[str, str]:
    unknown = set(columns) - set(DEFAULT_COLUMNS)
    if unknown:
        raise InputFileError(path, None, f"unknown column key(s) {sorted(unknown)}; use query, doc_id, grade")
    names = {}
    for key, candidates in DEFAULT_COLUMNS.items():
        wanted = [columns[key]] if key in columns else list(candidates)
        found = next((name for name in wanted if name in header), None)
        if found is None:
            raise InputFileError(
                path,
                1,
                f"no {key} column (looked for {', '.join(wanted)}); the header has "
                f"{', '.join(header)}; name it with columns/--columns {key}=<header>",
            )
        names[key] = found
    return names
