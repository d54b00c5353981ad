"""Training data: readers, validation errors, query-level splits, Marqo-GS-10M layout, batches."""

from __future__ import annotations

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from gcl_search.errors import ConfigError, InputFileError
from gcl_search.training.batches import PairSampler
from gcl_search.training.data import (
    Triple,
    load_pairs,
    query_folds,
    read_triples,
    split_by_fold,
    split_by_query,
)
from gcl_search.training.setup import split_data
from gcl_search.training.sources import load_marqo_gs
from gcl_search.training.spec import DataSpec

CATALOGUE = [
    {"doc_id": "d1", "title": "usb cable", "description": "a cable"},
    {"doc_id": "d2", "title": "hdmi cable", "description": ""},
    {"doc_id": "d3", "title": "", "description": ""},
    {"doc_id": "0042", "title": "laptop bag", "description": "bag"},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


TRIPLES = [
    {"query": "cable", "doc_id": "d1", "score": 3},
    {"query": "cable", "doc_id": "d2", "score": 1.5},
    {"query": "bag", "doc_id": "0042", "score": 2},
    {"query": "bag", "doc_id": "d1", "score": 0},
]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_read_triples_in_every_format_keeps_string_ids(tmp_path, fmt):
    path = tmp_path / f"t.{fmt}"
    if fmt == "jsonl":
        write_jsonl(path, TRIPLES)
    elif fmt == "csv":
        write_csv(path, TRIPLES)
    else:
        pq.write_table(pa.Table.from_pylist([{**r, "score": float(r["score"])} for r in TRIPLES]), path)
    triples = read_triples(path)
    assert [(t.query, t.doc_id, t.score) for t in triples] == [
        ("cable", "d1", 3.0),
        ("cable", "d2", 1.5),
        ("bag", "0042", 2.0),
        ("bag", "d1", 0.0),
    ]


BAD_SCORES = [("nan", "finite"), ("-1", "finite"), ("high", "not a number"), ("", "not a number")]


@pytest.mark.parametrize(("score", "message"), BAD_SCORES)
def test_bad_scores_name_file_and_row(tmp_path, score, message):
    path = write_csv(tmp_path / "t.csv", [TRIPLES[0], {"query": "q", "doc_id": "d2", "score": score}])
    with pytest.raises(InputFileError, match=message) as info:
        read_triples(path)
    assert info.value.line_no == 3 and info.value.path == str(path)  # header is line 1


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        ("t.jsonl", '{"query": "q", "doc_id": "d1", "score": 1}\n{"query": \n', 2, "malformed JSON"),
        ("t.jsonl", '{"query": "q", "doc_id": "d1", "score": 1}\n\n[1, 2]\n', 3, "JSON object"),
        ("t.csv", "query,doc_id,score\nq,d1,1\nq,d2\n", 3, "2 fields but the header has 3"),
        ("t.txt", "query,doc_id,score\n", None, "suffix '.txt'"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, name, text, line, message):
    # the catalogue reader of ingest (ingest/formats.py), with its messages; a bad row stops training data
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError, match=message) as info:
        read_triples(path)
    assert info.value.line_no == line and info.value.path == str(path)
    with pytest.raises(InputFileError, match="no such catalogue file"):
        read_triples(tmp_path / "missing.csv")


def test_unknown_doc_id_names_the_triples_row(tmp_path):
    cat = write_jsonl(tmp_path / "c.jsonl", CATALOGUE)
    triples = write_jsonl(tmp_path / "t.jsonl", [*TRIPLES, {"query": "q", "doc_id": "nope", "score": 1}])
    with pytest.raises(InputFileError, match="'nope' is not in the catalogue") as info:
        load_pairs(triples, cat, ["title", "description"])
    assert info.value.line_no == 5


def test_positive_document_with_only_empty_fields_is_an_error(tmp_path):
    cat = write_jsonl(tmp_path / "c.jsonl", CATALOGUE)
    triples = write_jsonl(tmp_path / "t.jsonl", [{"query": "q", "doc_id": "d3", "score": 2}])
    with pytest.raises(InputFileError, match=r"'d3' \(.*c.jsonl:3\) has no value"):
        load_pairs(triples, cat, ["title", "description"])
    # as a judged-irrelevant negative an empty document is harmless: it is never a positive
    negative = write_jsonl(tmp_path / "n.jsonl", [{"query": "q", "doc_id": "d3", "score": 0}])
    assert load_pairs(negative, cat, ["title"]).catalogue["d3"] == {}


def test_config_field_missing_from_catalogue_is_a_config_error(tmp_path):
    cat = write_jsonl(tmp_path / "c.jsonl", CATALOGUE)
    triples = write_jsonl(tmp_path / "t.jsonl", TRIPLES)
    with pytest.raises(ConfigError, match="'brand' is in no catalogue row"):
        load_pairs(triples, cat, ["title", "brand"])


def test_split_by_query_is_disjoint_seeded_and_complete():
    triples = [Triple(f"q{i}", f"d{j}", 1.0) for i in range(20) for j in range(3)]
    train, dev = split_by_query(triples, 0.25, seed=3)
    assert {t.query for t in train}.isdisjoint({t.query for t in dev})
    assert len({t.query for t in dev}) == 5 and len(train) + len(dev) == len(triples)
    again = split_by_query(list(reversed(triples)), 0.25, seed=3)[1]
    assert {t.query for t in again} == {t.query for t in dev}
    assert {t.query for t in split_by_query(triples, 0.25, seed=4)[1]} != {t.query for t in dev}


def test_query_folds_cover_every_query_once_and_spread_the_scorable_ones():
    # 10 queries with a positive pair, 7 with only judged-irrelevant pairs
    triples = [Triple(f"p{i}", f"d{j}", float(j)) for i in range(10) for j in range(2)]
    triples += [Triple(f"z{i}", "d0", 0.0) for i in range(7)]
    folds = query_folds(triples, 4, seed=1)
    assert sorted(q for f in folds for q in f) == sorted({t.query for t in triples})
    assert sum(map(len, folds)) == 17
    assert sorted(sum(q.startswith("p") for q in f) for f in folds) == [2, 2, 3, 3]
    assert query_folds(list(reversed(triples)), 4, seed=1) == folds
    assert query_folds(triples, 4, seed=2) != folds


def test_split_by_fold_holds_out_one_fold_by_query():
    triples = [Triple(f"q{i}", f"d{j}", 1.0) for i in range(12) for j in range(3)]
    dev_sets = []
    for fold in range(3):
        train, dev = split_by_fold(triples, 3, fold, seed=0)
        assert {t.query for t in train}.isdisjoint({t.query for t in dev})
        assert len(train) + len(dev) == len(triples)
        dev_sets.append({t.query for t in dev})
    assert set().union(*dev_sets) == {t.query for t in triples} and sum(map(len, dev_sets)) == 12
    assert {t.query for t in split_data(triples, DataSpec(folds=3, fold=1))[1]} == dev_sets[1]


@pytest.mark.parametrize("folds, fold", [(1, 0), (4, 4), (-2, 0), (3, -1)])
def test_bad_fold_settings_are_config_errors(folds, fold):
    with pytest.raises(ConfigError, match="folds"):
        DataSpec(folds=folds, fold=fold)


def test_more_folds_than_queries_is_refused():
    with pytest.raises(ConfigError, match="only 2 queries"):
        query_folds([Triple("a", "d", 1.0), Triple("b", "d", 1.0)], 3, seed=0)


def test_marqo_gs_layout(tmp_path):
    split = tmp_path / "marqo" / "query_0_product_id_0.csv"
    split.parent.mkdir()
    rows = [
        {
            "query": "red dress",
            "product_id": f"p{i}",
            "title": f"dress {i}",
            "image_local": f"images/{i}.jpg",
            "position": i,
            "score_linear": 101 - i,
            "score_reciprocal": 1 / i,
        }
        for i in (1, 2, 3)
    ]
    write_csv(split, rows)
    data = load_marqo_gs(tmp_path / "marqo")
    assert [(t.doc_id, t.score) for t in data.triples] == [("p1", 100.0), ("p2", 99.0), ("p3", 98.0)]
    assert data.catalogue["p2"] == {"title": "dress 2", "image": str(split.parent / "images" / "2.jpg")}
    recip = load_marqo_gs(tmp_path / "marqo", score_column="score_reciprocal", limit=2)
    assert [t.score for t in recip.triples] == pytest.approx([1.0, 0.5])
    with pytest.raises(InputFileError, match="no query_1_product_id_1.csv"):
        load_marqo_gs(tmp_path / "marqo", split="query_1_product_id_1")


def make_sampler(**kwargs):
    triples = [
        Triple("cable", "d1", 3),
        Triple("cable", "d2", 1),
        Triple("bag", "d3", 2),
        Triple("bag", "d4", 3),
        Triple("bag", "d1", 0),
        Triple("cable", "d5", 0),
        Triple("cable", "d6", 0),
        Triple("tv", "d7", 2),
    ]
    return PairSampler(triples, **kwargs)


def test_batches_have_one_positive_per_row_and_mark_known_positives():
    sampler = make_sampler(batch_size=5, seed=1)
    (batch,) = list(sampler.epoch(0))
    assert sorted(batch.doc_ids) == ["d1", "d2", "d3", "d4", "d7"]
    for i, (q, di) in enumerate(zip(batch.queries, batch.doc_ids)):
        for j, dj in enumerate(batch.doc_ids):
            same_query_positive = (q, dj) in {
                ("cable", "d1"),
                ("cable", "d2"),
                ("bag", "d3"),
                ("bag", "d4"),
                ("tv", "d7"),
            }
            assert bool(batch.known_positive[i, j]) == same_query_positive
        assert batch.scores[i].item() > 0


def test_judged_irrelevant_documents_are_negatives_of_their_own_query_only():
    sampler = make_sampler(batch_size=5, negatives_per_row=2, seed=0)
    (batch,) = list(sampler.epoch(0))
    judged_irrelevant = {("bag", "d1"), ("cable", "d5"), ("cable", "d6")}
    assert len(batch.negative_doc_ids) == 2 * 1 + 2 * 2  # each bag row: its 1 pool doc; each cable row: 2
    for doc, owner in zip(batch.negative_doc_ids, batch.negative_owner.tolist()):
        assert (batch.queries[owner], doc) in judged_irrelevant
        assert doc not in [d for q, d in zip(batch.queries, batch.doc_ids) if q == batch.queries[owner]]
    # d1 is irrelevant for "bag" but a positive of "cable": masked for the cable rows
    for i, q in enumerate(batch.queries):
        for m, doc in enumerate(batch.negative_doc_ids):
            assert bool(batch.negative_known_positive[i, m]) == (q == "cable" and doc == "d1")


def test_batches_are_a_function_of_seed_and_epoch():
    a, b = make_sampler(batch_size=2, seed=5), make_sampler(batch_size=2, seed=5)
    assert [x.doc_ids for x in a.epoch(1)] == [x.doc_ids for x in b.epoch(1)]
    assert [x.doc_ids for x in a.epoch(1)] != [x.doc_ids for x in a.epoch(2)] or len(a) == 1
    assert len(a) == 2 and all(len(x.doc_ids) == 2 for x in a.epoch(0))  # 5 positives: 2 + 2, 1 dropped
    assert torch.equal(next(iter(a.epoch(0))).scores, next(iter(b.epoch(0))).scores)


def test_sampler_rejects_tiny_batches():
    with pytest.raises(ConfigError, match="batch_size"):
        make_sampler(batch_size=1)


def test_icecat_loader_uses_the_raters_mean_and_the_whole_catalogue(icecat_dir):
    from gcl_search.training.sources import icecat_judgments, load_icecat

    data = load_icecat(["title", "description"], icecat_dir)
    assert len(data.triples) == 2856 and len(data.catalogue) == 19406
    judgments = icecat_judgments(icecat_dir)
    near = [abs(t.score - judgments[t.query][t.doc_id]) <= 1.0 for t in data.triples]
    assert sum(near) / len(near) > 0.95  # the raters' mean mostly sits near the final grade (not always)
    assert all(abs(t.score * 3 - round(t.score * 3)) < 1e-9 for t in data.triples)  # means of 3 ratings
    assert len({t.score for t in data.triples}) == 10
