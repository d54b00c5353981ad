"""Smoke test of a real OpenSearch + k-NN node (opensearch-notes §3.7), lucene engine only.

The module bulk-loads 1,000 seeded documents into one uniquely named index (deleted afterwards) with an
`innerproduct` field `ip_vec` (unit vectors) and a `cosinesimil` field `cos_vec` (unnormalised vectors), and
checks the node's scores numerically against numpy: score -> raw similarity inversion (§4.6), exact
`knn_score`, named-query scores in a `bool` of two `knn` clauses, and filters inside `knn`.
The tests only read the index, so they share it: a per-test bulk load costs ~2.5 s each on a 2-core box.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from opensearchpy import OpenSearch, helpers

from gcl_search.stores.knn import (
    check_knn_engines,
    knn_index_settings,
    knn_vector_mapping,
    score_from_similarity,
    similarity_from_score,
)

pytestmark = pytest.mark.opensearch

N_DOCS = 1_000
DIM = 16
COLORS = ("red", "green", "blue", "black")
NODE_RUN = Path(__file__).resolve().parents[2] / "tools" / "opensearch-node" / "run"
# float32 vectors on the node, float64 here
TOL = 2e-5


@pytest.fixture(scope="module")
def client(opensearch_url: str) -> OpenSearch:
    return OpenSearch(hosts=[opensearch_url], timeout=60)


@pytest.fixture(scope="module")
def corpus() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240535)
    ip = rng.normal(size=(N_DOCS, DIM))
    ip /= np.linalg.norm(ip, axis=1, keepdims=True)
    cos = rng.normal(size=(N_DOCS, DIM)) * rng.uniform(0.5, 3.0, size=(N_DOCS, 1))
    colors = np.array([COLORS[i % len(COLORS)] for i in range(N_DOCS)])
    return {"ip": ip, "cos": cos, "color": colors}


@pytest.fixture(scope="module")
def index(client: OpenSearch, corpus: dict[str, np.ndarray]):
    name = f"gcl-smoke-{uuid.uuid4().hex[:12]}"
    body = {
        "settings": knn_index_settings(),
        "mappings": {
            "properties": {
                "ip_vec": knn_vector_mapping(DIM, space_type="innerproduct"),
                "cos_vec": knn_vector_mapping(DIM, space_type="cosinesimil"),
                "color": {"type": "keyword"},
                "n": {"type": "integer"},
            }
        },
    }
    check_knn_engines(body)
    client.indices.create(index=name, body=body)
    try:
        actions = (
            {
                "_index": name,
                "_id": str(i),
                "_source": {
                    "ip_vec": corpus["ip"][i].tolist(),
                    "cos_vec": corpus["cos"][i].tolist(),
                    "color": str(corpus["color"][i]),
                    "n": i,
                },
            }
            for i in range(N_DOCS)
        )
        ok, errors = helpers.bulk(client, actions, chunk_size=500, raise_on_error=False, refresh=True)
        assert (ok, errors) == (N_DOCS, [])
        yield name
    finally:
        client.indices.delete(index=name, ignore_unavailable=True)


def _query(rng_seed: int) -> np.ndarray:
    q = np.random.default_rng(rng_seed).normal(size=DIM)
    return q / np.linalg.norm(q)


def _cosines(vectors: np.ndarray, q: np.ndarray) -> np.ndarray:
    return vectors @ q / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(q))


def _hits(response: dict) -> list[dict]:
    return response["hits"]["hits"]


def test_node_is_a_supported_opensearch_with_knn(client: OpenSearch):
    # scripts/test.sh names the version it started (GCL_SEARCH_NODE_VERSION); 3.x renamed the module classes.
    version = client.info()["version"]["number"]
    assert version == os.environ.get("GCL_SEARCH_NODE_VERSION", version) and version in ("2.19.1", "3.5.0")
    netty = "Netty4Plugin" if version.startswith("2.") else "Netty4ModulePlugin"
    components = {row["component"] for row in client.cat.plugins(format="json")}
    assert {"org.opensearch.knn.plugin.KNNPlugin", f"org.opensearch.transport.{netty}"} <= components


def test_mapping_on_node_names_lucene_engine(client: OpenSearch, index: str):
    props = client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    for field in ("ip_vec", "cos_vec"):
        assert props[field]["method"]["engine"] == "lucene"
    assert client.count(index=index)["count"] == N_DOCS


@pytest.mark.parametrize(("field", "space"), [("ip_vec", "innerproduct"), ("cos_vec", "cosinesimil")])
def test_knn_query_scores_invert_to_exact_similarities(client, index, corpus, field, space):
    q = _query(1)
    exact = corpus["ip"] @ q if space == "innerproduct" else _cosines(corpus["cos"], q)
    # A wide beam (ef_search 200 > k): with the default beam of k the HNSW top 10 missed 2 of the exact top
    # 10 in one CI run; the score inversion, not HNSW recall, is what this test checks.
    knn = {"vector": q.tolist(), "k": 10, "method_parameters": {"ef_search": 200}}
    body = {"size": 10, "_source": False, "query": {"knn": {field: knn}}}
    hits = _hits(client.search(index=index, body=body))
    ids = [int(h["_id"]) for h in hits]
    scores = np.array([h["_score"] for h in hits])
    assert len(ids) == 10
    np.testing.assert_allclose(similarity_from_score(scores, space), exact[ids], atol=TOL)
    # HNSW on 1,000 docs with ef_search >= k: expect (nearly) the exact top 10.
    true_top = set(np.argsort(-exact)[:10].tolist())
    assert len(true_top & set(ids)) >= 9


def test_bool_of_two_knn_clauses_sums_named_scores(client, index, corpus):
    q = _query(2)
    body = {
        "size": 50,
        "_source": False,
        "query": {
            "bool": {
                "should": [
                    {"knn": {"ip_vec": {"vector": q.tolist(), "k": 20, "boost": 0.7, "_name": "ip"}}},
                    {"knn": {"cos_vec": {"vector": q.tolist(), "k": 20, "boost": 0.3, "_name": "cos"}}},
                ]
            }
        },
    }
    hits = _hits(client.search(index=index, body=body, params={"include_named_queries_score": "true"}))
    dots, cosines = corpus["ip"] @ q, _cosines(corpus["cos"], q)
    only_one_clause = 0
    for hit in hits:
        doc = int(hit["_id"])
        named = hit["matched_queries"]
        assert hit["_score"] == pytest.approx(sum(named.values()), abs=TOL)
        # Named scores include the clause's boost: divide it out to recover the raw similarity.
        if "ip" in named:
            dot = similarity_from_score(named["ip"], "innerproduct", boost=0.7)
            assert dot == pytest.approx(dots[doc], abs=TOL)
        if "cos" in named:
            cos = similarity_from_score(named["cos"], "cosinesimil", boost=0.3)
            assert cos == pytest.approx(cosines[doc], abs=TOL)
        only_one_clause += len(named) == 1
    # The bool-of-knn caveat (docs/search.md, "Scoring"): a doc outside one clause's top-k gets 0 from that
    # clause.
    assert only_one_clause > 0
    assert len(hits) <= 40


@pytest.mark.parametrize(
    ("field", "space"),
    [("ip_vec", "innerproduct"), ("cos_vec", "cosinesimil"), ("ip_vec", "l2")],
)
def test_script_score_knn_score_is_exact_for_every_doc(client, index, corpus, field, space):
    q = _query(3)
    vectors = corpus["ip"] if field == "ip_vec" else corpus["cos"]
    if space == "innerproduct":
        raw = vectors @ q
    elif space == "cosinesimil":
        raw = _cosines(vectors, q)
    else:
        raw = ((vectors - q) ** 2).sum(axis=1)
    body = {
        "size": N_DOCS,
        "_source": False,
        "query": {
            "script_score": {
                "query": {"match_all": {}},
                "script": {
                    "lang": "knn",
                    "source": "knn_score",
                    "params": {"field": field, "query_value": q.tolist(), "space_type": space},
                },
            }
        },
    }
    hits = _hits(client.search(index=index, body=body))
    assert len(hits) == N_DOCS
    ids = np.array([int(h["_id"]) for h in hits])
    scores = np.array([h["_score"] for h in hits])
    np.testing.assert_allclose(scores, score_from_similarity(raw[ids], space), atol=TOL)


def test_script_score_on_an_ids_filter_rescores_exactly_those_docs(client, index, corpus):
    q = _query(4)
    wanted = [3, 141, 592, 653]
    body = {
        "size": 10,
        "_source": False,
        "query": {
            "script_score": {
                "query": {"bool": {"filter": [{"ids": {"values": [str(i) for i in wanted]}}]}},
                "script": {
                    "lang": "knn",
                    "source": "knn_score",
                    "params": {"field": "ip_vec", "query_value": q.tolist(), "space_type": "innerproduct"},
                },
            }
        },
    }
    hits = _hits(client.search(index=index, body=body))
    got = {int(h["_id"]): similarity_from_score(h["_score"], "innerproduct") for h in hits}
    assert sorted(got) == wanted
    for doc, dot in got.items():
        assert dot == pytest.approx(float(corpus["ip"][doc] @ q), abs=TOL)


@pytest.mark.parametrize("k", [10, 300])
def test_filter_inside_knn_returns_k_matching_docs(client, index, corpus, k):
    q = _query(5)
    body = {
        "size": k,
        "_source": ["color"],
        "query": {"knn": {"ip_vec": {"vector": q.tolist(), "k": k, "filter": {"term": {"color": "red"}}}}},
    }
    hits = _hits(client.search(index=index, body=body))
    red = np.flatnonzero(corpus["color"] == "red")
    # Efficient filtering: k hits when enough docs match (250 red docs here), all of them matching.
    assert len(hits) == min(k, len(red))
    assert {h["_source"]["color"] for h in hits} == {"red"}
    ids = [int(h["_id"]) for h in hits]
    dots = corpus["ip"] @ q
    true_top = set(red[np.argsort(-dots[red])][: len(hits)].tolist())
    assert len(true_top & set(ids)) >= 0.9 * len(hits)
    scores = np.array([h["_score"] for h in hits])
    np.testing.assert_allclose(similarity_from_score(scores, "innerproduct"), dots[ids], atol=TOL)


def test_painless_knn_functions_are_registered(client, index, corpus):
    # The launcher feeds k-NN's painless allowlist to PainlessPlugin (classpath plugins don't get it in 2.x).
    q = _query(6)
    body = {
        "size": 5,
        "_source": False,
        "query": {
            "script_score": {
                "query": {"match_all": {}},
                "script": {
                    "source": "2.0 + innerProduct(params.q, doc['ip_vec'])",
                    "params": {"q": q.tolist()},
                },
            }
        },
    }
    hits = _hits(client.search(index=index, body=body))
    dots = corpus["ip"] @ q
    assert [int(h["_id"]) for h in hits] == np.argsort(-dots)[:5].tolist()
    for hit in hits:
        assert hit["_score"] - 2.0 == pytest.approx(dots[int(hit["_id"])], abs=TOL)


def test_node_log_has_no_native_library_errors(opensearch_url: str, index: str):
    log = NODE_RUN / str(urlparse(opensearch_url).port) / "node.log"
    if not log.exists():
        pytest.skip(f"node not started by tools/opensearch-node/node.sh (no {log})")
    assert "UnsatisfiedLinkError" not in log.read_text(errors="replace")


NEURAL_PLUGIN = "org.opensearch.neuralsearch.plugin.NeuralSearch"


def _knn_ranking(client, index, field, q, k) -> list[tuple[int, float]]:
    body = {"size": k, "_source": False, "query": {"knn": {field: {"vector": q.tolist(), "k": k}}}}
    return [(int(h["_id"]), h["_score"]) for h in _hits(client.search(index=index, body=body))]


def _expected_min_max_mean(rankings, weights) -> dict[int, float]:
    # neural-search 2.19.1 semantics (notes §4.5): min-max per sub-query over its own hits, a 0 after
    # normalisation becomes 0.001, a doc missing from a sub-query counts 0 there and its weight still counts.
    combined: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        scores = np.array([s for _, s in ranking])
        low, high = scores.min(), scores.max()
        for doc, s in ranking:
            norm = 1.0 if high == low else (s - low) / (high - low)
            combined[doc] = combined.get(doc, 0.0) + weight * max(norm, 0.001)
    return {doc: s / sum(weights) for doc, s in combined.items()}


@pytest.fixture()
def neural(client: OpenSearch):
    components = {row["component"] for row in client.cat.plugins(format="json")}
    if NEURAL_PLUGIN not in components:
        pytest.skip("neural-search not loaded; start the node with `node.sh start --neural-search`")
    pipelines: list[str] = []
    yield pipelines
    for pipeline in pipelines:
        client.search_pipeline.delete(id=pipeline)


@pytest.mark.parametrize("technique", ["min_max", "rrf"])
def test_hybrid_query_matches_client_side_fusion(client, index, neural, technique):
    q, k, weights = _query(7), 10, [0.3, 0.7]
    pipeline = f"gcl-smoke-{technique}-{uuid.uuid4().hex[:8]}"
    if technique == "min_max":
        processor = {
            "normalization-processor": {
                "normalization": {"technique": "min_max"},
                "combination": {"technique": "arithmetic_mean", "parameters": {"weights": weights}},
            }
        }
    else:
        processor = {"score-ranker-processor": {"combination": {"technique": "rrf", "rank_constant": 60}}}
    client.search_pipeline.put(id=pipeline, body={"phase_results_processors": [processor]})
    neural.append(pipeline)
    body = {
        "size": 2 * k,
        "_source": False,
        "query": {
            "hybrid": {
                "queries": [
                    {"knn": {"ip_vec": {"vector": q.tolist(), "k": k}}},
                    {"knn": {"cos_vec": {"vector": q.tolist(), "k": k}}},
                ]
            }
        },
    }
    hits = _hits(client.search(index=index, body=body, params={"search_pipeline": pipeline}))
    got = {int(h["_id"]): h["_score"] for h in hits}
    rankings = [_knn_ranking(client, index, field, q, k) for field in ("ip_vec", "cos_vec")]
    if technique == "min_max":
        expected = _expected_min_max_mean(rankings, weights)
    else:
        expected = {}
        for ranking in rankings:
            for rank, (doc, _) in enumerate(ranking, start=1):
                expected[doc] = expected.get(doc, 0.0) + 1.0 / (60 + rank)
    assert set(got) == set(expected)
    for doc, score in got.items():
        assert score == pytest.approx(expected[doc], abs=1e-5)
