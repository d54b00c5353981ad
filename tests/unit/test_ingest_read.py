"""Catalogue readers: each format, each bad-input class, bounded memory, the Icecat sample."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gcl_search.config import parse_config
from gcl_search.errors import CatalogueError
from gcl_search.ingest.formats import count_rows
from gcl_search.ingest.read import read_catalogue, read_for_config
from gcl_search.records import CatalogueRecord, FailedDoc

COLUMNS = {"title": "title", "description": "desc"}
ROWS = [
    {"id": "a1", "title": "usb cable", "desc": "two metres", "price": 3.5},
    {"id": "a2", "title": "hdmi cable", "desc": "", "price": 7},
    {"id": "a3", "title": "red mouse", "desc": "wireless", "brand": "logi"},
]


def _jsonl(path: Path, rows: list[object]) -> Path:
    lines = ((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _split(items):
    items = list(items)
    records = [i for i in items if isinstance(i, CatalogueRecord)]
    return records, [i for i in items if isinstance(i, FailedDoc)]


def test_jsonl_reads_records_in_order_with_locations_and_attributes(tmp_path):
    path = _jsonl(tmp_path / "cat.jsonl", ROWS)
    records, failures = _split(read_catalogue(path, "id", COLUMNS))
    assert failures == []
    assert [r.doc_id for r in records] == ["a1", "a2", "a3"]
    assert records[0].values == {"title": "usb cable", "description": "two metres"}
    assert records[1].values == {"title": "hdmi cable"}  # empty optional text: the field is absent
    assert records[0].attributes == {"price": 3.5}
    assert records[2].attributes == {"brand": "logi"}
    assert records[2].location == f"{path}:3"


def test_csv_and_parquet_give_the_same_records_as_jsonl(tmp_path):
    jsonl = _jsonl(tmp_path / "cat.jsonl", [{k: str(v) for k, v in r.items()} for r in ROWS])
    csv_path = _csv(
        tmp_path / "cat.csv",
        "id,title,desc,price,brand\n"
        "a1,usb cable,two metres,3.5,\na2,hdmi cable,,7,\na3,red mouse,wireless,,logi\n",
    )
    names = ["id", "title", "desc", "price", "brand"]
    table = pa.Table.from_pylist([{k: str(r[k]) if k in r else None for k in names} for r in ROWS])
    pq.write_table(table, tmp_path / "cat.parquet", row_group_size=2)

    def key(path):
        return [(r.doc_id, dict(r.values), dict(r.attributes)) for r in read_catalogue(path, "id", COLUMNS)]

    assert key(csv_path) == key(jsonl)
    assert key(tmp_path / "cat.parquet") == key(jsonl)


def test_csv_locations_are_physical_lines_even_with_multiline_cells(tmp_path):
    path = _csv(tmp_path / "c.csv", 'id,title,desc\nx1,"two\nlines",d\nx2,t,d\n')
    records = list(read_catalogue(path, "id", COLUMNS))
    assert [r.location for r in records] == [f"{path}:3", f"{path}:4"]
    assert records[0].values["title"] == "two\nlines"


def test_tsv_by_suffix(tmp_path):
    path = _csv(tmp_path / "c.tsv", "id\ttitle\tdesc\nx1\tmouse\tgrey\n")
    (record,) = read_catalogue(path, "id", COLUMNS)
    assert record.values == {"title": "mouse", "description": "grey"}


def test_malformed_jsonl_lines_are_per_record_errors_and_the_rest_is_read(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b'{"id": "a", "title": "ok"}\n{"id": "b", "title": \n[1, 2]\n\n'
        b'{"id": "c", "title": "caf\xe9"}\n{"id": "d", "title": "ok too"}\n'
    )
    records, failures = _split(read_catalogue(path, "id", {"title": "title"}))
    assert [r.doc_id for r in records] == ["a", "d"]
    assert [f.location for f in failures] == [f"{path}:2", f"{path}:3", f"{path}:5"]
    assert "malformed JSON" in failures[0].reason
    assert "JSON object" in failures[1].reason
    assert "UTF-8" in failures[2].reason
    assert all(f.stage == "read" for f in failures)


def test_malformed_csv_rows_are_per_record_errors(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,title,desc\na,ok,\nb,too,many,cells\nc,short\nd,caf\xe9,x\ne,fine,\n")
    records, failures = _split(read_catalogue(path, "id", COLUMNS))
    assert [r.doc_id for r in records] == ["a", "e"]
    assert [f.location for f in failures] == [f"{path}:3", f"{path}:4", f"{path}:5"]
    assert "4 fields but the header has 3" in failures[0].reason
    assert "2 fields" in failures[1].reason
    assert "UTF-8" in failures[2].reason


def test_missing_and_duplicate_ids(tmp_path):
    path = _jsonl(
        tmp_path / "ids.jsonl",
        [
            {"id": "a", "title": "one"},
            {"title": "no id"},
            {"id": " ", "title": "x"},
            {"id": "a", "title": "again"},
            {"id": 7, "title": "int id"},
        ],
    )
    records, failures = _split(read_catalogue(path, "id", {"title": "title"}))
    assert [(r.doc_id, r.values["title"]) for r in records] == [("a", "one"), ("7", "int id")]
    assert [(f.doc_id, f.location) for f in failures] == [
        (None, f"{path}:2"),
        (None, f"{path}:3"),
        ("a", f"{path}:4"),
    ]
    assert "missing id" in failures[0].reason and "'id'" in failures[0].reason
    assert all(f.stage == "validate" for f in failures)
    assert "duplicate id 'a'" in failures[2].reason and "first seen at line/row 1" in failures[2].reason


def test_empty_text_required_field_and_empty_record(tmp_path):
    path = _jsonl(
        tmp_path / "e.jsonl",
        [
            {"id": "a", "title": "  ", "desc": "d"},
            {"id": "b", "desc": "d"},
            {"id": "c", "title": "", "desc": None},
            {"id": "d", "title": "t"},
        ],
    )
    records, failures = _split(read_catalogue(path, "id", COLUMNS, required=["title"]))
    assert [r.doc_id for r in records] == ["d"]
    assert [f.doc_id for f in failures] == ["a", "b", "c"]
    assert "required field 'title' (column 'title') is empty" in failures[0].reason
    records, failures = _split(read_catalogue(path, "id", COLUMNS))
    assert [r.doc_id for r in records] == ["a", "b", "d"]
    assert [f.doc_id for f in failures] == ["c"] and "no field has a value" in failures[0].reason


def test_non_text_values(tmp_path):
    path = _jsonl(
        tmp_path / "v.jsonl",
        [{"id": "a", "title": ["usb", 3, "m"]}, {"id": "b", "title": {"x": 1}}, {"id": "c", "title": 12.5}],
    )
    records, failures = _split(read_catalogue(path, "id", {"title": "title"}))
    assert [(r.doc_id, r.values["title"]) for r in records] == [("a", "usb 3 m"), ("c", "12.5")]
    assert failures[0].doc_id == "b" and "holds an object" in failures[0].reason


def test_image_paths_resolve_against_base_dir_and_missing_files_are_errors(tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    (images / "p1.png").write_bytes(b"png")
    path = _jsonl(
        tmp_path / "i.jsonl",
        [
            {"id": "a", "img": "p1.png", "title": "t"},
            {"id": "b", "img": "nope.png", "title": "t"},
            {"id": "c", "img": "https://example.com/x.png"},
            {"id": "d", "img": str(images / "p1.png")},
        ],
    )
    cols = {"title": "title", "image": "img"}
    records, failures = _split(read_catalogue(path, "id", cols, base_dir=images, image_fields=["image"]))
    assert [r.values["image"] for r in records] == [
        str(images / "p1.png"),
        "https://example.com/x.png",
        str(images / "p1.png"),
    ]
    assert failures[0].doc_id == "b" and "image file not found" in failures[0].reason
    assert str(images / "nope.png") in failures[0].reason
    # Without base_dir, paths are relative to the catalogue's directory, where p1.png is not.
    _, failures = _split(read_catalogue(path, "id", cols, image_fields=["image"]))
    assert [f.doc_id for f in failures] == ["a", "b"]


@pytest.mark.parametrize("fmt_text", ["csv", "parquet", "jsonl"])
def test_unknown_mapped_column_fails_before_reading(tmp_path, fmt_text):
    rows = [{"id": "a", "title": "t"}]
    if fmt_text == "csv":
        path = _csv(tmp_path / "c.csv", "id,title\na,t\n")
    elif fmt_text == "parquet":
        path = tmp_path / "c.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        path = _jsonl(tmp_path / "c.jsonl", rows)
    with pytest.raises(CatalogueError) as info:
        read_catalogue(path, "id", {"title": "title", "description": "desc"})
    assert str(path) in str(info.value) and "'desc'" in str(info.value)
    with pytest.raises(CatalogueError, match="'sku'"):
        read_catalogue(path, "sku", {"title": "title"})


def test_sparse_jsonl_column_seen_in_sample_is_known(tmp_path):
    path = _jsonl(tmp_path / "s.jsonl", [{"id": "a", "title": "t"}, {"id": "b", "title": "t", "desc": "d"}])
    assert len(list(read_catalogue(path, "id", COLUMNS))) == 2


def test_whole_file_errors(tmp_path):
    with pytest.raises(CatalogueError, match="no such catalogue file"):
        read_catalogue(tmp_path / "missing.jsonl", "id", COLUMNS)
    with pytest.raises(CatalogueError, match="cannot tell the format"):
        read_catalogue(tmp_path / "x.xml", "id", COLUMNS)
    with pytest.raises(CatalogueError, match="empty file"):
        read_catalogue(_csv(tmp_path / "e.csv", ""), "id", COLUMNS)
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(CatalogueError, match="Parquet"):
        read_catalogue(tmp_path / "bad.parquet", "id", COLUMNS)
    with pytest.raises(CatalogueError, match="not in the column mapping"):
        read_catalogue(_jsonl(tmp_path / "ok.jsonl", ROWS), "id", COLUMNS, image_fields=["photo"])


def test_parquet_streams_with_bounded_memory(tmp_path):
    n, pad = 8_000, "x" * 2000
    table = pa.table({"id": [f"d{i}" for i in range(n)], "title": [f"item {i} {pad}" for i in range(n)]})
    path = tmp_path / "big.parquet"
    # Arrow decodes a whole row group at a time, so memory is bounded by the row group, not the file.
    pq.write_table(table, path, row_group_size=1000, compression="none")
    table_bytes = table.nbytes  # ~16 MB
    del table
    arrow_base = pa.total_allocated_bytes()
    arrow_peak, count = 0, 0
    tracemalloc.start()
    for _ in read_catalogue(path, "id", {"title": "title"}, attributes=()):
        count += 1
        if count % 500 == 0:
            arrow_peak = max(arrow_peak, pa.total_allocated_bytes() - arrow_base)
    _, python_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == n
    # Neither Python objects nor Arrow buffers ever hold the whole file (the id set is small here by design).
    assert python_peak < table_bytes / 4, (python_peak, table_bytes)
    assert arrow_peak < table_bytes / 2, (arrow_peak, table_bytes)


def test_read_for_config_uses_field_sources_and_modalities(tmp_path):
    config = parse_config(
        {
            "encoders": {"e": {"backend": "open_clip", "model": "tiny"}},
            "fields": [
                {"name": "title", "encoder": "e", "source": "name", "required": True},
                {"name": "photo", "encoder": "e", "modality": "image", "source": "img"},
            ],
            "images": {"root": str(tmp_path)},
        }
    )
    (tmp_path / "p.png").write_bytes(b"png")
    sub = tmp_path / "sub"
    sub.mkdir()
    path = _jsonl(
        sub / "c.jsonl", [{"doc_id": "a", "name": "cam", "img": "p.png"}, {"doc_id": "b", "img": "p.png"}]
    )
    records, failures = _split(read_for_config(path, config))
    assert records[0].values == {"title": "cam", "photo": str(tmp_path / "p.png")}
    assert failures[0].doc_id == "b" and "required field 'title'" in failures[0].reason


def test_bundled_icecat_sample(icecat_dir):
    reader = read_catalogue("icecat", "doc_id", {"title": "title", "description": "description"})
    first = [next(reader) for _ in range(50)]
    assert all(isinstance(r, CatalogueRecord) for r in first)
    assert first[0].location == "icecat:1" and first[0].values["title"]
    assert "price" in first[0].attributes or "brand" in first[0].attributes
    same = read_catalogue(icecat_dir, "doc_id", {"title": "title"})
    assert next(same).doc_id == first[0].doc_id


def test_count_rows_matches_what_the_reader_yields(tmp_path):
    # the progress bar's total: one per record or per-record error, blank lines/rows not counted
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_bytes(b'{"id": "a", "title": "x"}\n\n{"id": "b", "title": \n  \n{"id": "c", "title": "y"}\n')
    csv_path = _csv(tmp_path / "c.csv", 'id,title,desc\nx1,"two\nlines",d\n\n,,\nx2,t,d,extra\nx3,t,d\n')
    tsv = _csv(tmp_path / "c.tsv", "id\ttitle\tdesc\nx1\tmouse\tgrey\n")
    table = pa.Table.from_pylist([{"id": f"p{i}", "title": "t"} for i in range(2500)])
    pq.write_table(table, tmp_path / "c.parquet", row_group_size=1000)
    for path, fmt, expected in [
        (jsonl, "jsonl", 3),
        (csv_path, "csv", 3),
        (tsv, "tsv", 1),
        (tmp_path / "c.parquet", "parquet", 2500),
    ]:
        assert count_rows(path, fmt) == expected
        assert len(list(read_catalogue(path, "id", {"title": "title"}))) == expected
    assert count_rows(tmp_path / "absent.jsonl", "jsonl") is None
    assert count_rows(jsonl, "parquet") is None  # not a parquet file: no total, the reader reports it


def test_count_rows_of_the_bundled_icecat_sample(icecat_dir):
    assert count_rows(Path("icecat"), "icecat") == count_rows(icecat_dir, "icecat") == 19_406
