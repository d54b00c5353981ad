"""Live evaluation (`run_queries`, queries files) and weight tuning on the keyword catalogue.

Judgments are built so that the description field is what matters: each query's relevant document is the one
whose DESCRIPTION matches it, while the titles point elsewhere. The config's default 0.9 title / 0.1
description weights rank it low, so tuning must move weight to the description.
"""

from __future__ import annotations

import json

import pytest
from test_search_fakes import KeywordEncoder, make_config, make_store

from gcl_search.config import load_config
from gcl_search.errors import ConfigError, InputFileError
from gcl_search.evaluation import evaluate
from gcl_search.search.client import LexicalSpec, SearchClient
from gcl_search.search.config_io import write_weights
from gcl_search.search.live import SearchQuery, queries_from_judgments, read_queries, run_queries
from gcl_search.search.tune import split_queries, tune_weights

# doc_id -> (title, description, price, brand)
WORDS = ["usb", "hdmi", "mouse", "red"]
CATALOGUE = {f"t{i}": (word, "laptop", 1.0, "x") for i, word in enumerate(WORDS)}
CATALOGUE.update({f"d{i}": ("laptop", word, 1.0, "x") for i, word in enumerate(WORDS)})
# query "usb wireless": title "usb" (t0) and description "usb" (d0) tie on the one matching word.
JUDGMENTS = {f"{w} wireless": {f"d{i}": 2, f"t{i}": 0} for i, w in enumerate(["usb", "hdmi", "mouse", "red"])}


@pytest.fixture
def client(tmp_path):
    store = make_store(tmp_path / "store", catalogue=CATALOGUE)
    config = make_config(title_weight=0.9, description_weight=0.1)
    return SearchClient(store, config, {"kw": KeywordEncoder()})


def test_run_queries_builds_a_run_in_hit_order(client):
    run = run_queries(client, [SearchQuery("q1", "usb"), SearchQuery("q2", "nothing matches")], k=2)
    assert list(run["q1"]) == ["t0", "d0"]  # 0.9 vs 0.1
    assert run["q1"]["t0"] == pytest.approx(0.9)
    assert set(run) == {"q1", "q2"}


def test_default_weights_rank_the_relevant_document_second(client):
    queries = queries_from_judgments(JUDGMENTS)
    report = evaluate(JUDGMENTS, run_queries(client, queries, k=10), ["mrr@10"])
    assert report.means["mrr@10"] == pytest.approx(0.5)  # every relevant d_i sits at rank 2 behind t_i


def test_tuning_moves_weight_to_the_description(client):
    queries = queries_from_judgments(JUDGMENTS)
    result = tune_weights(client, queries, JUDGMENTS, "mrr@10", heldout=0.25, seed=1, k=10)
    assert len(result.train_queries) == 3 and len(result.heldout_queries) == 1
    assert result.weights["description"] > result.weights["title"]
    assert sum(result.weights.values()) == pytest.approx(1.0)
    assert result.scores["heldout/default"] == pytest.approx(0.5)
    assert result.scores["heldout/best"] == pytest.approx(1.0)
    assert result.scores["train/best"] == pytest.approx(1.0)
    assert result.trials > 1


def test_tuning_a_hybrid_reports_the_lexical_weight(client):
    queries = queries_from_judgments(JUDGMENTS)
    start = LexicalSpec(fields=("description",), weight=0.0, fusion="minmax")
    result = tune_weights(client, queries, JUDGMENTS, "mrr@10", lexical=start, heldout=0.25, k=10,
                          weight_grid=(0.0, 1.0))
    assert result.lexical is not None and result.lexical.fields == ("description",)
    assert result.scores["heldout/best"] == pytest.approx(1.0)


def test_split_is_seeded_and_disjoint():
    queries = [SearchQuery(str(i), str(i)) for i in range(10)]
    train, held = split_queries(queries, 0.3, seed=7)
    assert len(held) == 3 and not {q.query_id for q in train} & {q.query_id for q in held}
    assert split_queries(queries, 0.3, seed=7) == (train, held)
    with pytest.raises(ConfigError, match="heldout"):
        split_queries(queries, 1.0)


def test_read_queries_jsonl_and_tsv(tmp_path):
    jsonl = tmp_path / "q.jsonl"
    lines = [json.dumps({"query_id": "a", "text": "usb"}), "", json.dumps({"id": "b", "query": "ü"})]
    jsonl.write_text("\n".join(lines), encoding="utf-8")
    assert read_queries(jsonl) == [SearchQuery("a", "usb"), SearchQuery("b", "ü")]
    tsv = tmp_path / "q.tsv"
    tsv.write_text("q1\tred mouse\nhdmi cable\n", encoding="utf-8")
    assert read_queries(tsv) == [SearchQuery("q1", "red mouse"), SearchQuery("hdmi cable", "hdmi cable")]
    tsv.write_text("q1\tred\nq1\tblue\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"q\.tsv:2: query id 'q1' repeats line 1"):
        read_queries(tsv)
    jsonl.write_text('{"query_id": "a"}\n')
    with pytest.raises(InputFileError, match="neither text nor image"):
        read_queries(jsonl)


CONFIG = """# a comment that must survive
[encoders.kw]
backend = "sentence-transformers"
model = "fake"

[[fields]]
name = "title"
encoder = "kw"
weight = 0.7   # default title weight

[[fields]]
name = "description"
encoder = "kw"

[[query_fields]]
name = "query"
encoder = "kw"
weight = 1.0
"""


def test_write_weights_keeps_comments_and_other_keys(tmp_path):
    src, out = tmp_path / "c.toml", tmp_path / "tuned.toml"
    src.write_text(CONFIG, encoding="utf-8")
    write_weights(src, out, {"title": 0.25, "description": 0.75}, LexicalSpec(weight=0.3), note="ndcg@10 0.5")
    text = out.read_text(encoding="utf-8")
    assert "# a comment that must survive" in text and "weight = 0.25   # default title weight" in text
    assert "lexical fields=all text fields weight=0.3 fusion=minmax" in text
    config = load_config(out)
    assert {f.name: f.weight for f in config.fields} == {"title": 0.25, "description": 0.75}
    assert config.query_fields[0].weight == 1.0
    write_weights(out, out, {"title": 1.0})  # in place; the old tune comments are replaced, not stacked
    assert out.read_text(encoding="utf-8").count("gcl-search tune:") == 0
    with pytest.raises(ConfigError, match="no \\[\\[fields\\]\\] table named 'brand'"):
        write_weights(src, out, {"brand": 1.0})
