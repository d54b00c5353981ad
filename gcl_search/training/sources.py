"""Ready-made training data sources: the bundled Icecat sample and the Marqo-GS-10M layout.

Marqo-GS-10M (the GCL paper's dataset, https://huggingface.co/datasets/Marqo/marqo-GS-10M) ships one CSV per
split, `query_{a}_product_id_{b}.csv` (a=0 training / a=1 novel queries, b=0 corpus 1 / b=1 corpus 2), with at
least `query`, `product_id`, `title`, `image_local`, `position`, `score_linear`, `score_reciprocal`. The CSV
rows themselves carry each product's title and image path, so the catalogue is built from them (relative
image paths resolve against `image_root`, by default the folder holding the CSV).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from gcl_search.datasets import icecat
from gcl_search.errors import ConfigError, InputFileError
from gcl_search.training.data import (
    TrainingData,
    Triple,
    _check_columns,
    _non_empty,
    _triple,
    table_rows,
    validate,
)

MARQO_SPLITS = (
    "query_0_product_id_0",
    "query_1_product_id_0",
    "query_0_product_id_1",
    "query_1_product_id_1",
)
MARQO_SCORES = ("score_linear", "score_reciprocal")


def load_icecat(columns: Sequence[str], directory: str | Path | None = None) -> TrainingData:
    """The bundled Icecat sample: 2,856 judged pairs (score = the raters' mean, 0..3) over 19,406 products.

    Args:
        columns: catalogue fields to keep (title, name, brand, description, colour).
        directory: the sample folder (default: examples/icecat in the source tree).
    """
    directory = icecat.icecat_dir(directory)
    catalogue, seen = {}, set()
    for record in icecat.iter_catalogue(directory):
        seen.update(record)
        values = {c: str(record[c]).strip() for c in columns if _non_empty(record.get(c))}
        catalogue[record["doc_id"]] = values
    _check_columns(f"{directory} (Icecat)", columns, seen)
    path = icecat.judgments_path(directory)
    scores = icecat.training_scores(directory)
    triples = [Triple(q, d, s, f"{path}:{i}") for i, (q, d, s) in enumerate(scores, start=2)]
    data = TrainingData(triples, catalogue, source=f"Icecat sample ({directory})")
    validate(data, columns)
    return data


def icecat_judgments(directory: str | Path | None = None) -> dict[str, dict[str, int]]:
    """The official integer grades (0-3) of the Icecat sample, for dev evaluation."""
    judgments: dict[str, dict[str, int]] = {}
    with open(icecat.judgments_path(directory), newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            judgments.setdefault(row["query"], {})[str(row["docid"])] = int(row["rating"])
    return judgments


def marqo_split_path(root: str | Path, split: str) -> Path:
    """The CSV of a Marqo-GS-10M split under `root` (searched recursively)."""
    if split not in MARQO_SPLITS:
        raise ConfigError(f"unknown Marqo-GS-10M split {split!r}; use one of {', '.join(MARQO_SPLITS)}")
    root = Path(root)
    matches = sorted(root.rglob(f"{split}.csv"))
    if not matches:
        raise InputFileError(
            root,
            None,
            f"no {split}.csv under this folder; download Marqo-GS-10M and point "
            "the loader at the folder holding the split CSVs",
        )
    return matches[0]


def load_marqo_gs(
    root: str | Path,
    split: str = "query_0_product_id_0",
    score_column: str = "score_linear",
    image_root: str | Path | None = None,
    limit: int | None = None,
) -> TrainingData:
    """A Marqo-GS-10M split as TrainingData with catalogue columns `title` and `image` (a local path).

    Args:
        root: folder holding the split CSVs.
        split: one of `MARQO_SPLITS`.
        score_column: `score_linear` (101 - position) or `score_reciprocal` (1 / position).
        image_root: folder that `image_local` paths are relative to (default: the CSV's folder).
        limit: read only the first `limit` rows (quick runs).
    """
    if score_column not in MARQO_SCORES:
        raise ConfigError(f"score_column = {score_column!r}; use one of {', '.join(MARQO_SCORES)}")
    path = marqo_split_path(root, split)
    base = Path(image_root) if image_root is not None else path.parent
    triples, catalogue = [], {}
    for row_no, row in table_rows(path):
        if limit is not None and len(triples) >= limit:
            break
        missing = [c for c in ("query", "product_id", "title", "image_local", score_column) if c not in row]
        if missing:
            raise InputFileError(path, row_no, f"no column {missing[0]!r}; is this a Marqo-GS-10M split CSV?")
        triple = _triple(path, row_no, row["query"], row["product_id"], row[score_column])
        triples.append(triple)
        record = catalogue.setdefault(triple.doc_id, {})
        if _non_empty(row["title"]):
            record["title"] = str(row["title"]).strip()
        if _non_empty(row["image_local"]):
            record["image"] = str(base / str(row["image_local"]).strip())
    data = TrainingData(triples, catalogue, source=f"Marqo-GS-10M {split} ({path})")
    validate(data, ["title", "image"])
    return data
