"""`gcl-search triples` pieces: rank scores, query generation, merging with judgments, the CLI, and the
`[train.data] extra_triples` rows reaching training (never a dev query's)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from gcl_search.cli import main
from gcl_search.errors import ConfigError
from gcl_search.training.data import load_pairs, read_triples
from gcl_search.training.setup import load_training_data, train_dev
from gcl_search.training.spec import parse_train_config
from gcl_search.training.teacher import (
    RankScore,
    generate_queries,
    product_queries,
    ranking_from_client,
    ranking_from_run,
    teacher_triples,
    title_phrase,
    write_triples,
)

CATALOGUE = [
    {"doc_id": "1", "title": "Xerox 006R90321 toner cartridge Original Black 6 pc(s)", "brand": "Xerox"},
    {"doc_id": "2", "title": "Lexmark 08A0476 toner cartridge Original Black 1 pc(s)", "brand": "Lexmark"},
    {"doc_id": "3", "title": "Thule Construct CONBP-116 Carbon Blue backpack Nylon", "brand": "Thule"},
    {
        "doc_id": "4",
        "title": "StarTech.com 35 ft Coax VGA Monitor Extension Cable",
        "brand": "StarTech.com",
        "category": "Cables",
    },
]


def test_linear_rank_score_is_the_papers_101_minus_position():
    score = RankScore()
    assert [score(r, 100) for r in (1, 2, 100)] == [100, 99, 1]
    assert RankScore(scale=3)(1, 10) == 3 and RankScore(scale=3)(10, 10) == pytest.approx(0.3)


def test_reciprocal_rank_score_and_bad_values():
    assert [RankScore("reciprocal")(r, 10) for r in (1, 2, 4)] == [1, 0.5, 0.25]
    assert RankScore("reciprocal", scale=2)(4, 10) == 0.5
    with pytest.raises(ConfigError, match="rank score"):
        RankScore("cubic")
    with pytest.raises(ValueError, match="outside"):
        RankScore()(11, 10)


def test_title_phrase_skips_brand_model_numbers_and_attributes():
    assert title_phrase(CATALOGUE[0]["title"], "Xerox") == "toner cartridge"
    assert title_phrase(CATALOGUE[2]["title"], "Thule") == "backpack"
    assert title_phrase(CATALOGUE[3]["title"], "StarTech.com") == "monitor extension cable"  # no lower run
    assert title_phrase("12345 678", "") == ""


def test_product_queries_priority_and_cap():
    assert product_queries(CATALOGUE[0]) == ["toner cartridge", "xerox toner cartridge", "cartridge"]
    assert product_queries(CATALOGUE[3], type_fields=["category"], per_product=2) == [
        "cables",
        "monitor extension cable",
    ]


def test_generate_queries_is_deduplicated_frequency_ordered_capped_and_excludes():
    queries = generate_queries(CATALOGUE)
    assert queries[:2] == ["cartridge", "toner cartridge"]  # two products each, then alphabetical
    assert len(queries) == len(set(queries))
    assert generate_queries(CATALOGUE, max_queries=1) == ["cartridge"]
    assert generate_queries(CATALOGUE, min_products=2) == ["cartridge", "toner cartridge"]
    assert "toner cartridge" not in generate_queries(CATALOGUE, exclude=["Toner  Cartridge"])
    assert generate_queries(list(reversed(CATALOGUE))) == queries  # order-independent


def test_teacher_rows_merge_with_human_grades():
    rankings = {"q": ["a", "b", "c", "a"], "r": ["x"]}
    rows = teacher_triples(
        rankings, depth=3, score=RankScore(scale=3), judgments={"q": {"b": 3, "c": 0}, "s": {"y": 1}}
    )
    got = {(t.query, t.doc_id): (t.score, t.location) for t in rows}
    assert got["q", "a"] == (3.0, "teacher:rank 1")
    assert got["q", "b"] == (3.0, "human:grade 3")  # the human grade wins
    assert got["q", "c"] == (0.0, "human:grade 0")  # judged irrelevant: stays a negative though ranked 3rd
    assert got["r", "x"][0] == 3.0 and got["s", "y"] == (1.0, "human:grade 1")
    assert len(rows) == 5  # the duplicate "a" counted once


def test_ranking_from_run_orders_by_score_then_id():
    assert ranking_from_run({"q": {"b": 1.0, "a": 1.0, "c": 2.0}}) == {"q": ["c", "a", "b"]}


@dataclass
class _Hit:
    doc_id: str
    lexical_score: float | None


@dataclass
class _Lexical:
    weight: float


class _FakeClient:
    def __init__(self):
        self.requests = []

    def search(self, text, k, attributes, **request):
        self.requests.append((text, k, request))
        return [_Hit("a", 2.0), _Hit("b", None), _Hit("c", 1.0)][:k]


def test_live_teacher_passes_request_options_and_pure_lexical_drops_unmatched():
    client = _FakeClient()
    assert ranking_from_client(client, ["q"], 3, lexical=_Lexical(1.0)) == {"q": ["a", "c"]}
    assert client.requests == [("q", 3, {"lexical": _Lexical(1.0)})]
    assert ranking_from_client(client, ["q"], 3, lexical=_Lexical(0.5)) == {"q": ["a", "b", "c"]}


def _write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cli_generates_queries_ranks_with_a_run_file_and_merges_judgments(tmp_path):
    catalogue = _write_jsonl(tmp_path / "cat.jsonl", CATALOGUE)
    run = _write_jsonl(
        tmp_path / "run.jsonl",
        [
            {
                "query_id": "toner cartridge",
                "hits": [{"doc_id": "1", "score": 9.0}, {"doc_id": "2", "score": 8.0}],
            },
            {"query_id": "backpack", "hits": [{"doc_id": "3", "score": 5.0}]},
        ],
    )
    qrels = tmp_path / "qrels.csv"
    qrels.write_text("query,doc_id,grade\ntoner cartridge,2,0\nbackpack,3,2\n")
    out = tmp_path / "triples.jsonl"
    result = CliRunner().invoke(
        main,
        [
            "triples",
            "--generate",
            "--catalogue",
            str(catalogue),
            "--run",
            str(run),
            "--judgments",
            str(qrels),
            "--depth",
            "5",
            "--score-scale",
            "3",
            "--write-queries",
            str(tmp_path / "q.jsonl"),
            "-o",
            str(out),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["negatives"] == 1 and summary["human_rows"] == 2
    rows = {(t.query, t.doc_id): t.score for t in read_triples(out)}
    assert rows["toner cartridge", "1"] == pytest.approx(3.0)
    assert rows["toner cartridge", "2"] == 0.0  # judged irrelevant
    assert rows["backpack", "3"] == pytest.approx(3.0 * 2 / 2)  # grade 2 of max 2 -> the top score
    data = load_pairs(out, catalogue, ["title"])  # readable as [train.data] source = "pairs"
    assert len(data.triples) == len(rows)
    assert (tmp_path / "q.jsonl").is_file()


def test_cli_needs_one_query_source_and_one_teacher(tmp_path):
    result = CliRunner().invoke(main, ["triples", "-o", str(tmp_path / "o.jsonl"), "--run", __file__])
    assert result.exit_code == 1 and "--queries" in result.output
    queries = tmp_path / "q.tsv"
    queries.write_text("q1\tusb cable\n")
    result = CliRunner().invoke(main, ["triples", "--queries", str(queries), "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1 and "teacher" in result.output


def test_extra_triples_train_only_never_a_dev_query_and_human_wins(tmp_path):
    catalogue = _write_jsonl(tmp_path / "cat.jsonl", [{"doc_id": d, "title": f"t{d}"} for d in "abcdefgh"])
    human = [{"query": q, "doc_id": d, "score": 2} for q in ("q1", "q2", "q3", "q4") for d in "ab"]
    triples = _write_jsonl(tmp_path / "human.jsonl", human)
    extra_rows = [
        Triple_row("q1", "a", 0.5),
        Triple_row("q1", "c", 1.0),
        Triple_row("q2", "d", 1.0),
        Triple_row("gen", "e", 3.0),
    ]
    extra = tmp_path / "extra.jsonl"
    write_triples(extra, extra_rows)
    raw = {
        "encoders": {"m": {"backend": "sentence-transformers", "model": "x"}},
        "fields": [{"name": "title", "encoder": "m", "weight": 1.0}],
        "train": {
            "data": {
                "source": "pairs",
                "triples": str(triples),
                "catalogue": str(catalogue),
                "extra_triples": str(extra),
                "folds": 2,
                "fold": 0,
            }
        },
    }
    tc = parse_train_config(raw)
    data = load_training_data(tc)
    assert ("q1", "a") not in {(t.query, t.doc_id) for t in data.extra}  # the human pair wins
    train, dev = train_dev(data, tc.train.data)
    dev_queries = {t.query for t in dev}
    assert dev_queries and not dev_queries & {t.query for t in train}
    assert ("gen", "e") in {(t.query, t.doc_id) for t in train}
    bad = tmp_path / "bad.jsonl"
    write_triples(bad, [Triple_row("q1", "zzz", 1.0)])
    bad_data = {**raw["train"]["data"], "extra_triples": str(bad)}
    tc_bad = parse_train_config({**raw, "train": {"data": bad_data}})
    with pytest.raises(Exception, match="zzz"):
        load_training_data(tc_bad)


def Triple_row(query: str, doc_id: str, score: float):  # noqa: N802 (reads like the dataclass it builds)
    from gcl_search.training.data import Triple

    return Triple(query, doc_id, score, "teacher:rank 1")
