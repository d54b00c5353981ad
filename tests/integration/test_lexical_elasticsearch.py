"""BM25 on a real Elasticsearch 8 node against the local store, on the 500 Icecat products of
test_lexical_opensearch.py, both modes, with boosts.

`standard`: the same analyzer and formula (Lucene BM25 at the (k1 + 1) scale, one-byte length norms), so
scores agree to float32 rounding and rankings exactly, up to ties. `english`: the test node has no
analysis-common module, so the index gets the documented fallback (standard + English stop words: no
possessive, no minimal_english stemming); the rankings then differ, by the amount measured here and quoted
in docs/elasticsearch.md.
"""

from __future__ import annotations

import uuid

import pytest

from gcl_search.stores.base import DenseField, IndexLayout, LayoutOptions
from gcl_search.stores.bm25 import analyze
from gcl_search.stores.local import LocalStore
from tests.integration.test_lexical_opensearch import (
    TEXT_FIELDS,
    _documents,
    _queries,
    assert_ties_break_by_id,
)

pytestmark = pytest.mark.elasticsearch
MODES = [
    ("combined", None, None),
    ("combined", None, {"title": 0.5}),
    ("most_fields", None, None),
    ("most_fields", ("title", "description"), {"title": 2.0}),
]


def _stores(analyzer, tmp_path_factory, elasticsearch_url):
    from gcl_search.stores.elasticsearch import ElasticsearchStore

    layout = IndexLayout(
        (DenseField("title", 4, "m"),),
        TEXT_FIELDS,
        options=LayoutOptions(analyzer=analyzer, catch_all=True),
    )
    local = LocalStore(tmp_path_factory.mktemp("local") / "lex")
    remote = ElasticsearchStore(elasticsearch_url, f"test-lexical-{uuid.uuid4().hex[:8]}")
    docs = _documents()
    for store in (local, remote):
        store.create(layout)
        assert not store.upsert(docs).failed
        store.refresh()
    return local, remote, docs


@pytest.fixture(scope="module")
def standard(tmp_path_factory, elasticsearch_url):
    local, remote, docs = _stores("standard", tmp_path_factory, elasticsearch_url)
    yield local, remote, docs
    remote.drop()


@pytest.fixture(scope="module")
def english(tmp_path_factory, elasticsearch_url):
    local, remote, docs = _stores("english", tmp_path_factory, elasticsearch_url)
    yield local, remote, docs
    remote.drop()


def _has_analysis_common(remote) -> bool:
    return remote.engine_meta()["gcl_search_es"]["analysis"] == "gcl_english"


def _assert_parity(local, remote, mode, fields, boosts) -> None:
    compared = 0
    for query in _queries():
        a = local.lexical(query, fields, 20, mode=mode, boosts=boosts)
        b = remote.lexical(query, fields, 20, mode=mode, boosts=boosts)
        assert [s for _, s in a] == pytest.approx([s for _, s in b], rel=2e-6), (mode, query)
        last = a[-1][1] if a else None
        untied = lambda hits: [d for d, s in hits if abs(s - last) > 1e-5 * max(1.0, last)]  # noqa: E731
        assert untied(a) == untied(b), (mode, query)
        compared += len(a)
    assert compared > 200


def test_standard_analyzer_tokens_match(standard):
    _, remote, docs = standard
    texts = [t for d in docs[:100] for t in d.texts.values()]
    for text in texts:
        tokens = remote.client.indices.analyze(index=remote.index, analyzer="standard", text=text)["tokens"]
        assert [t["token"] for t in tokens] == analyze(text, "standard")


@pytest.mark.parametrize("mode,fields,boosts", MODES)
def test_standard_lexical_parity(standard, mode, fields, boosts):
    local, remote, _ = standard
    _assert_parity(local, remote, mode, fields, boosts)


@pytest.mark.parametrize("mode,fields,boosts", MODES)
def test_english_lexical(english, mode, fields, boosts):
    """With analysis-common the node runs our `gcl_english` and must agree exactly; without it (the test
    node) the index records the fallback (standard + English stop words), and its top 10 must overlap the
    local `english` one by the amount docs/elasticsearch.md quotes (mean printed with -s)."""
    local, remote, _ = english
    if _has_analysis_common(remote):
        _assert_parity(local, remote, mode, fields, boosts)
        return
    overlaps = []
    for query in _queries():
        a = {d for d, _ in local.lexical(query, fields, 10, mode=mode, boosts=boosts)}
        b = {d for d, _ in remote.lexical(query, fields, 10, mode=mode, boosts=boosts)}
        if a or b:
            overlaps.append(len(a & b) / max(len(a), len(b)))
    mean = sum(overlaps) / len(overlaps)
    print(
        f"english fallback vs gcl_english, {mode}: mean top-10 overlap {mean:.3f} "
        f"over {len(overlaps)} queries"
    )
    assert mean >= 0.6, mean


def test_tied_scores_break_by_id(elasticsearch_url, tmp_path):
    from gcl_search.stores.elasticsearch import ElasticsearchStore

    remote = ElasticsearchStore(elasticsearch_url, f"test-lexical-{uuid.uuid4().hex[:8]}")
    assert_ties_break_by_id(remote, tmp_path)
