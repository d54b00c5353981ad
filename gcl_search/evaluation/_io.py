"""Shared helpers for the judgment and run readers: line splitting and format detection.

A TREC file is whitespace-separated (trec_eval accepts any mix of spaces and tabs); a CSV/TSV file has a
header.
A line that carries the other format's separator is reported as a mixed-separator error, because silently
splitting `q1,0,d1,2` on whitespace would yield one bogus field.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from gcl_search.errors import InputFileError


def open_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, stripped line) for every non-blank line; raise on an empty file."""
    try:
        handle = open(path, encoding="utf-8-sig")
    except OSError as err:
        raise InputFileError(path, None, f"cannot open ({err.strerror}); check the path") from err
    seen = False
    with handle:
        try:
            for line_no, raw in enumerate(handle, start=1):
                line = raw.strip()
                if line and not line.startswith("#"):
                    seen = True
                    yield line_no, line
        except UnicodeDecodeError as err:
            raise InputFileError(path, None, f"not UTF-8 text ({err.reason}); re-encode the file") from err
    if not seen:
        raise InputFileError(path, None, "the file is empty; it needs at least one line")


def split_trec(path: str | Path, line_no: int, line: str, n_fields: int, layout: str) -> list[str]:
    """Split a TREC line on whitespace, checking the field count and rejecting comma/semicolon lines."""
    fields = line.split()
    if len(fields) != n_fields:
        for sep in (",", ";"):
            if len(line.split(sep)) >= n_fields - 1:
                raise InputFileError(
                    path,
                    line_no,
                    f"mixed separators: this line uses '{sep}' but the file is "
                    f"read as whitespace-separated TREC ({layout}); use one format throughout",
                )
        raise InputFileError(
            path, line_no, f"expected {n_fields} whitespace-separated fields ({layout}), got {len(fields)}"
        )
    return fields


def detect_format(path: str | Path, first_line: str, choices: tuple[str, ...]) -> str:
    """Pick a format from the file extension, else from the first line (JSON object / CSV header / TREC)."""
    suffix = Path(path).suffix.lower()
    by_suffix = {
        ".csv": "csv",
        ".tsv": "csv",
        ".jsonl": "jsonl",
        ".json": "jsonl",
        ".ndjson": "jsonl",
        ".qrels": "trec",
        ".trec": "trec",
        ".run": "trec",
        ".txt": "trec",
    }
    fmt = by_suffix.get(suffix)
    if fmt is None:
        if first_line.startswith("{"):
            fmt = "jsonl"
        elif "," in first_line or len(first_line.split("\t")) == 3:
            fmt = "csv"
        else:
            fmt = "trec"
    if fmt not in choices:
        raise InputFileError(
            path, None, f"{fmt} is not a format this file can have here; use one of: {', '.join(choices)}"
        )
    return fmt


def parse_grade(path: str | Path, line_no: int, text: str) -> int:
    """An integer grade: '2.0' is accepted, '1.5' and 'high' are not (ranx and trec_eval use int grades)."""
    try:
        value = float(text)
    except ValueError as err:
        raise InputFileError(
            path, line_no, f"grade {text!r} is not a number; grades are integers such as 0, 1, 2, 3"
        ) from err
    if value != value or value in (float("inf"), float("-inf")) or value != int(value):
        raise InputFileError(
            path, line_no, f"grade {text!r} is not an integer; round or rescale the grades to integers first"
        )
    return int(value)


def parse_score(path: str | Path, line_no: int, value: object) -> float:
    """A finite float score."""
    try:
        score = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise InputFileError(path, line_no, f"score {value!r} is not a number") from err
    if score != score or score in (float("inf"), float("-inf")):
        raise InputFileError(path, line_no, f"score {value!r} is not finite; scores must be real numbers")
    return score
