"""k-NN mapping helper: the lucene-engine guard and the score <-> similarity formulas (notes §4.6)."""

from __future__ import annotations

import inspect
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml

from gcl_search.errors import ConfigError
from gcl_search.stores.knn import (
    check_knn_engines,
    knn_index_settings,
    knn_vector_mapping,
    score_from_similarity,
    similarity_from_score,
)


def _index(**fields):
    return {"settings": knn_index_settings(), "mappings": {"properties": fields}}


def test_default_mapping_names_lucene_hnsw():
    mapping = knn_vector_mapping(384)
    assert mapping == {
        "type": "knn_vector",
        "dimension": 384,
        "space_type": "innerproduct",
        "method": {"name": "hnsw", "engine": "lucene", "parameters": {"m": 16, "ef_construction": 100}},
    }


def test_default_engine_cannot_silently_become_faiss():
    # The signature default is the contract: a refactor that flips it (or drops it) fails here.
    assert inspect.signature(knn_vector_mapping).parameters["engine"].default == "lucene"
    assert inspect.signature(knn_vector_mapping).parameters["allow_native_engine"].default is False
    for space in ("innerproduct", "cosinesimil", "l2"):
        assert knn_vector_mapping(8, space_type=space)["method"]["engine"] == "lucene"


@pytest.mark.parametrize("engine", ["faiss", "nmslib"])
def test_native_engine_refused_without_opt_in(engine):
    with pytest.raises(ConfigError, match=rf"engine '{engine}'.*allow_native_engine=True"):
        knn_vector_mapping(8, engine=engine)


def test_native_engine_allowed_with_explicit_opt_in():
    mapping = knn_vector_mapping(8, space_type="l2", engine="faiss", allow_native_engine=True)
    assert mapping["method"]["engine"] == "faiss"
    check_knn_engines(_index(v=mapping), allow_native_engine=True)
    with pytest.raises(ConfigError, match="'v'.*native libraries"):
        check_knn_engines(_index(v=mapping))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "Lucene"}, "unknown k-NN engine 'Lucene'"),
        ({"space_type": "l1"}, "space_type 'l1' is not supported by the lucene engine"),
        ({"space_type": "hamming"}, "not supported by the lucene engine"),
        ({"m": 1}, "m must be an integer >= 2"),
        ({"ef_construction": 1.5}, "ef_construction must be an integer"),
    ],
)
def test_invalid_mapping_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        knn_vector_mapping(8, **kwargs)


@pytest.mark.parametrize("dim", [0, 16_001, 3.0, True])
def test_invalid_dimension(dim):
    with pytest.raises(ConfigError, match="dimension must be an integer in 1..16000"):
        knn_vector_mapping(dim)


def test_guard_accepts_lucene_fields_at_any_depth():
    body = _index(
        title_vec=knn_vector_mapping(4),
        parts={"type": "nested", "properties": {"vec": knn_vector_mapping(4, space_type="l2")}},
        title={"type": "text"},
    )
    check_knn_engines(body)
    check_knn_engines({"template": body})
    check_knn_engines(body["mappings"])


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"type": "knn_vector", "dimension": 4}, "'obj.vec' names no method.*default to faiss"),
        ({"type": "knn_vector", "dimension": 4, "method": {"name": "hnsw"}}, "names no engine"),
        ({"type": "knn_vector", "dimension": 4, "mode": "on_disk"}, "mode selects a native engine"),
        (
            {
                "type": "knn_vector",
                "dimension": 4,
                "compression_level": "32x",
                "method": {"name": "hnsw", "engine": "lucene"},
            },
            "compression_level selects a native engine",
        ),
        ({"type": "knn_vector", "model_id": "m1"}, "model_id selects a native engine"),
        ({"type": "knn_vector", "dimension": 4, "method": {"name": "hnsw", "engine": "faiss"}}, "'faiss'"),
    ],
)
def test_guard_refuses_fields_that_resolve_to_a_native_engine(field, message):
    body = _index(obj={"properties": {"vec": field}})
    with pytest.raises(ConfigError, match=message):
        check_knn_engines(body)
    # Bare mappings (no settings) are checked as if index.knn were true: they may go into a k-NN index.
    with pytest.raises(ConfigError):
        check_knn_engines(body["mappings"])


def test_flat_field_allowed_only_when_index_knn_is_false():
    flat = {"type": "knn_vector", "dimension": 4}
    check_knn_engines({"settings": {"index.knn": False}, "mappings": {"properties": {"v": flat}}})
    check_knn_engines({"settings": {"index": {"knn": "false"}}, "mappings": {"properties": {"v": flat}}})
    with pytest.raises(ConfigError, match="default to faiss"):
        check_knn_engines({"settings": {"index.knn": "true"}, "mappings": {"properties": {"v": flat}}})


# Hand-computed (similarity, _score) pairs per space type, from the formulas in opensearch-notes §4.6.
CASES = [
    ("innerproduct", 0.6, 1.6),  # dot > 0: 1 + dot
    ("innerproduct", 0.0, 1.0),  # dot <= 0: 1 / (1 - dot)
    ("innerproduct", -0.6, 0.625),  # 1 / 1.6
    ("innerproduct", -3.0, 0.25),  # 1 / 4
    ("cosinesimil", 0.6, 0.8),  # (1 + cos) / 2
    ("cosinesimil", -0.6, 0.2),
    ("l2", 0.0, 1.0),  # 1 / (1 + squared distance)
    ("l2", 3.0, 0.25),
    ("l1", 1.0, 0.5),
    ("linf", 4.0, 0.2),
]


@pytest.mark.parametrize(("space", "similarity", "score"), CASES)
def test_score_formulas_against_hand_computation(space, similarity, score):
    assert score_from_similarity(similarity, space) == pytest.approx(score, abs=1e-12)
    assert similarity_from_score(score, space) == pytest.approx(similarity, abs=1e-12)


def test_opposite_cosine_scores_zero_which_cannot_be_inverted():
    assert score_from_similarity(-1.0, "cosinesimil") == 0.0
    with pytest.raises(ConfigError, match="score <= 0"):
        similarity_from_score(0.0, "cosinesimil")


def test_boost_is_divided_out_before_inverting():
    # A clause with boost 0.3 matching a dot product of 0.5 scores 0.3 * 1.5 = 0.45.
    assert similarity_from_score(0.45, "innerproduct", boost=0.3) == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="boost must be > 0"):
        similarity_from_score(1.0, "innerproduct", boost=0.0)


def test_arrays_round_trip_across_the_innerproduct_kink():
    dots = np.linspace(-5.0, 5.0, 101)
    scores = score_from_similarity(dots, "innerproduct")
    assert isinstance(scores, np.ndarray) and scores.shape == (101,)
    assert np.all(np.diff(scores) > 0)  # monotone, so ranking by score equals ranking by dot product
    np.testing.assert_allclose(similarity_from_score(scores, "innerproduct"), dots, atol=1e-12)


def test_invalid_scores_and_spaces():
    with pytest.raises(ConfigError, match="score <= 0"):
        similarity_from_score(np.array([0.5, 0.0]), "l2")
    with pytest.raises(ConfigError, match="unknown space_type 'dot'"):
        similarity_from_score(1.0, "dot")
    with pytest.raises(ConfigError, match="unknown space_type 'hamming'"):
        score_from_similarity(1.0, "hamming")


# --- the Docker-free test node and docker/docker-compose.yml must describe the same node --------------------

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "tools" / "opensearch-node"
SHARED_SETTINGS = (
    "cluster.name",
    "node.name",
    "discovery.type",
    "knn.algo_param.index_thread_qty",
    "cluster.routing.allocation.disk.threshold_enabled",
    "action.auto_create_index",
)


def _pom_properties(version: str) -> dict[str, str]:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    pom = NODE / ("pom.xml" if version == "2.19.1" else f"pom-{version}.xml")
    props = ET.parse(pom).getroot().find("m:properties", ns)
    return {child.tag.split("}")[1]: child.text for child in props}


def test_launcher_and_compose_pin_the_same_versions_and_settings():
    services = yaml.safe_load((ROOT / "docker" / "docker-compose.yml").read_text())["services"]
    compose = services["opensearch"]
    node_config = yaml.safe_load((NODE / "config" / "opensearch.yml").read_text())
    version = compose["image"].rsplit(":", 1)[1]
    # the compose file runs node.sh's default version (3.5.0, pom-3.5.0.xml; 2.19.1 is pom.xml)
    default = re.search(r"^DEFAULT_VERSION=(\S+)$", (NODE / "node.sh").read_text(), re.M)
    assert default and version == default.group(1)
    pom = _pom_properties(version)
    assert pom["opensearch.version"] == version
    assert pom["knn.version"] == f"{version}.0"
    assert services["dashboards"]["image"].rsplit(":", 1)[1] == version
    env = compose["environment"]
    for key in SHARED_SETTINGS:
        assert str(env[key]).lower() == str(node_config[key]).lower(), key
    assert "-Xmx1g" in env["OPENSEARCH_JAVA_OPTS"]
    assert "local default_heap=1g" in (NODE / "node.sh").read_text()
    assert node_config["network.host"] == "127.0.0.1"
    assert all(port.startswith("127.0.0.1:") for port in compose["ports"])
