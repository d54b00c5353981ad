"""The lexical side on a real node: the local analyzers against `_analyze`, and BM25 rankings and scores of
the local store against OpenSearch in both modes, both analyzers, with boosts, on 500 Icecat products.

Both stores compute the same formula (gcl_search.stores.bm25: Lucene's BM25 with its one-byte length norms),
so scores agree to float32 rounding and rankings exactly, except for the order of documents tied on score.
"""

from __future__ import annotations

import itertools
import json
import uuid

import numpy as np
import pytest

from gcl_search.datasets.icecat import iter_catalogue, judgments_path
from gcl_search.evaluation import read_judgments
from gcl_search.records import Document
from gcl_search.stores.base import DenseField, IndexLayout, LayoutOptions
from gcl_search.stores.bm25 import analyze
from gcl_search.stores.local import LocalStore
from gcl_search.stores.opensearch_mapping import ANALYZER_NAMES
from tests.unit.test_bm25 import TRICKY

pytestmark = pytest.mark.opensearch

TEXT_FIELDS = ("title", "name", "brand", "description")
N_DOCS = 500


def _documents() -> list[Document]:
    rng = np.random.default_rng(0)
    docs = []
    for record in itertools.islice(iter_catalogue(), N_DOCS):
        texts = {f: record[f] for f in TEXT_FIELDS if isinstance(record.get(f), str) and record[f]}
        docs.append(Document(record["doc_id"], {"title": rng.normal(size=4).astype(np.float32)}, texts, {}))
    return docs


@pytest.fixture(scope="module", params=["english", "standard"])
def stores(request, tmp_path_factory, opensearch_url):
    from gcl_search.stores.opensearch import OpenSearchStore

    layout = IndexLayout(
        (DenseField("title", 4, "m"),),
        TEXT_FIELDS,
        options=LayoutOptions(analyzer=request.param, catch_all=True),
    )
    local = LocalStore(tmp_path_factory.mktemp("local") / "lex")
    remote = OpenSearchStore(opensearch_url, f"test-lexical-{uuid.uuid4().hex[:8]}")
    docs = _documents()
    for store in (local, remote):
        store.create(layout)
        assert not store.upsert(docs).failed
        store.refresh()
    yield request.param, local, remote, docs
    remote.drop()


def _remote_tokens(remote, analyzer: str, texts: list[str]) -> list[list[str]]:
    out = []
    for text in texts:
        body = {"analyzer": ANALYZER_NAMES[analyzer], "text": text}
        tokens = remote.client.indices.analyze(index=remote.index, body=body)["tokens"]
        out.append([t["token"] for t in tokens])
    return out


def test_analyzer_parity_tricky_strings(stores):
    analyzer, _, remote, _ = stores
    texts = [text for text, _, _ in TRICKY] + ["The series' cookies", "batteries", "LED-TV's", "\u00bd inch"]
    assert _remote_tokens(remote, analyzer, texts) == [analyze(t, analyzer) for t in texts]


def test_analyzer_parity_on_catalogue_texts(stores):
    analyzer, _, remote, docs = stores
    texts = [t for d in docs[:150] for t in d.texts.values()]
    assert _remote_tokens(remote, analyzer, texts) == [analyze(t, analyzer) for t in texts]


def _queries(n=40) -> list[str]:
    return list(read_judgments(judgments_path()))[:n]


@pytest.mark.parametrize(
    "mode,fields,boosts",
    [
        ("combined", None, None),
        ("combined", None, {"title": 0.5}),
        ("most_fields", None, None),
        ("most_fields", ("title", "description"), {"title": 2.0}),
    ],
)
def test_lexical_ranking_parity(stores, mode, fields, boosts):
    _, local, remote, _ = stores
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


def test_combined_needs_a_catch_all_field(opensearch_url, tmp_path):
    from gcl_search.errors import ConfigError
    from gcl_search.stores.opensearch import OpenSearchStore

    layout = IndexLayout((DenseField("title", 4, "m"),), ("title",))  # catch_all False: an older index
    remote = OpenSearchStore(opensearch_url, f"test-lexical-{uuid.uuid4().hex[:8]}")
    remote.create(layout)
    try:
        with pytest.raises(ConfigError, match="no catch-all text field"):
            remote.lexical("usb", None, 5, mode="combined")
        mapping = remote.client.indices.get_mapping(index=remote.index)
        assert "gcl_all" not in json.dumps(mapping)
    finally:
        remote.drop()


def tied_documents() -> list[Document]:
    """40 products with the same text: every BM25 score ties. Written in a shuffled order."""
    ids = [f"tie-{i:03d}" for i in range(40)]
    np.random.default_rng(3).shuffle(ids)
    return [Document(i, {"title": np.ones(4, dtype=np.float32) / 2}, {"title": "usb cable"}) for i in ids]


def assert_ties_break_by_id(remote, tmp_path) -> None:
    """The top 5 of 40 tied documents are the 5 smallest ids, as in the local store, not the first 5 the
    shard indexed (a replica may have indexed them in another order), through both `lexical` and the
    lexical list of `candidates`; an index from before the option still searches. One shard: with several,
    each scores with its own term statistics, so the scores would not tie."""
    from gcl_search.stores.base import LexicalQuery

    layout = IndexLayout((DenseField("title", 4, "m"),), ("title",))
    legacy = IndexLayout(layout.dense_fields, ("title",), options=LayoutOptions(id_tiebreak=False))
    docs = tied_documents()
    local = LocalStore(tmp_path / "ties")
    local.create(layout)
    local.upsert(docs)
    expected = sorted(d.doc_id for d in docs)[:5]
    assert [d for d, _ in local.lexical("usb", None, 5)] == expected
    try:
        remote.create(layout)
        assert not remote.upsert(docs).failed
        remote.refresh()
        assert [d for d, _ in remote.lexical("usb", None, 5)] == expected
        _, lex = remote.candidates({}, {}, 5, lexical=LexicalQuery("usb", None, 5), attributes=False)
        assert sorted(c.doc_id for c in lex) == expected
        remote.drop()
        remote.create(legacy)
        assert not remote.upsert(docs).failed
        remote.refresh()
        assert len(remote.lexical("usb", None, 5)) == 5
    finally:
        remote.drop()


def test_tied_scores_break_by_id(opensearch_url, tmp_path):
    from gcl_search.stores.opensearch import OpenSearchStore

    remote = OpenSearchStore(opensearch_url, f"test-lexical-{uuid.uuid4().hex[:8]}")
    assert_ties_break_by_id(remote, tmp_path)
