"""The bundled Icecat sample (examples/icecat): 19,406 electronics products and graded judgments
(0-3) for 105 shopper queries. See examples/icecat/README.md for provenance and licence.

The loaders turn it into the project's own formats:
- catalogue: one dict per product with `doc_id` and flat text/numeric fields (JSONL when written);
- judgments: CSV `query,docid,rating`, read by the evaluation module with those header names;
- training scores: `(query, doc_id, score)` with the mean of the three raters' ratings where known.
"""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

from gcl_search.errors import InputFileError

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "examples" / "icecat"
CATALOGUE_ZIPS = ("1.json.zip", "2.json.zip", "3.json.zip", "4.json.zip")
JUDGMENTS_FILE = "judgments.csv"
RATINGS_FILE = "individual_ratings.csv"
# The judgments file's header names, for the evaluation module's CSV reader.
JUDGMENT_COLUMNS = {"query": "query", "doc_id": "docid", "grade": "rating"}


def icecat_dir(path: str | Path | None = None) -> Path:
    """The Icecat sample directory: `path` if given, else the copy in the source tree."""
    directory = Path(path) if path is not None else DEFAULT_DIR
    if not (directory / JUDGMENTS_FILE).is_file():
        raise InputFileError(
            directory,
            None,
            f"no {JUDGMENTS_FILE} here; pass the Icecat sample directory "
            "(examples/icecat in the gcl-search source tree)",
        )
    return directory


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def to_catalogue_record(product: dict) -> dict:
    """Map one raw Icecat product to a flat catalogue record (the catalogue format ingest reads)."""
    record = {
        "doc_id": str(product["id"]),
        "title": _text(product.get("title")),
        "name": _text(product.get("name")),
        "brand": _text(product.get("supplier")),
        "description": _text(product.get("short_description")),
        "price": product["price"] / 100 if isinstance(product.get("price"), (int, float)) else None,
        "ean": list(product.get("ean") or []),
        "image_url": product.get("img_500x500") or product.get("img_high") or "",
    }
    colour = _text(product.get("attr_t_product_colour"))
    if colour:
        record["colour"] = colour
    return record


def iter_products(path: str | Path | None = None) -> Iterator[dict]:
    """Yield the raw Icecat product dicts from the four zips, in file order."""
    directory = icecat_dir(path)
    for name in CATALOGUE_ZIPS:
        zpath = directory / name
        try:
            with zipfile.ZipFile(zpath) as archive:
                products = json.loads(archive.read(archive.namelist()[0]))
        except (OSError, zipfile.BadZipFile, json.JSONDecodeError, IndexError) as err:
            raise InputFileError(zpath, None, f"cannot read the Icecat catalogue zip ({err})") from err
        yield from products


def iter_catalogue(path: str | Path | None = None) -> Iterator[dict]:
    """Yield catalogue records (see `to_catalogue_record`) for all 19,406 products."""
    for product in iter_products(path):
        yield to_catalogue_record(product)


def write_catalogue(out_path: str | Path, path: str | Path | None = None) -> int:
    """Write the catalogue as JSONL; returns the number of records."""
    count = 0
    with open(out_path, "w", encoding="utf-8") as out:
        for record in iter_catalogue(path):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def judgments_path(path: str | Path | None = None) -> Path:
    """Path of the graded judgments CSV (`query,docid,rating`, grades 0-3; the query text is the query id)."""
    return icecat_dir(path) / JUDGMENTS_FILE


def training_scores(path: str | Path | None = None) -> list[tuple[str, str, float]]:
    """(query, doc_id, score) for every judged pair, score in [0, 3].

    The score is the mean of the three raters' ratings where individual ratings exist (10 levels), else the
    final judgment grade. Pairs with score 0 are judged irrelevant: negatives, never positives.
    """
    directory = icecat_dir(path)
    means: dict[tuple[str, str], float] = {}
    with open(directory / RATINGS_FILE, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            ratings = [row[f"agent_{i}_rating"] for i in (1, 2, 3)]
            values = [float(r) for r in ratings if r not in ("", None)]
            if values:
                means[(row["query"], str(row["docid"]))] = sum(values) / len(values)
    triples = []
    with open(directory / JUDGMENTS_FILE, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            key = (row["query"], str(row["docid"]))
            triples.append((key[0], key[1], means.get(key, float(row["rating"]))))
    return triples
