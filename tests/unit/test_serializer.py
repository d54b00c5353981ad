"""VectorJSONSerializer: float32 vectors in shortest round-trip form, everything else as opensearch-py's."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

import numpy as np
import pytest

pytest.importorskip("opensearchpy")
pytest.importorskip("orjson")
from opensearchpy.serializer import JSONSerializer  # noqa: E402

from gcl_search.records import Document  # noqa: E402
from gcl_search.stores import opensearch_mapping as mapping  # noqa: E402
from gcl_search.stores.base import DenseField, IndexLayout, LayoutOptions  # noqa: E402
from gcl_search.stores.connection import connect  # noqa: E402
from gcl_search.stores.serializer import VectorJSONSerializer  # noqa: E402

NEW, OLD = VectorJSONSerializer(), JSONSerializer()


def _float32_values(text: str) -> np.ndarray:
    """Parse as JSON doubles, then narrow to float32: how a JSON float reaches a knn_vector."""
    return np.asarray(json.loads(text), dtype=np.float64).astype(np.float32)


def test_float32_arrays_round_trip_bit_exactly_and_shorter():
    rng = np.random.default_rng(0)
    normal = rng.normal(size=100_000).astype(np.float32)
    # random bit patterns cover every exponent; keep the finite ones
    bits = rng.integers(0, 2**32, size=100_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    edge = np.array(
        [
            0.0,
            -0.0,
            1.0,
            0.1,
            1 / 3,
            np.finfo(np.float32).max,
            np.finfo(np.float32).tiny,
            np.finfo(np.float32).smallest_subnormal,
            123456792.0,
            16777217.0,
        ],
        dtype=np.float32,
    )
    for vec in (normal, bits[np.isfinite(bits)], edge):
        text = NEW.dumps(vec)
        np.testing.assert_array_equal(_float32_values(text).view(np.uint32), vec.view(np.uint32))
        assert len(text) < len(OLD.dumps(vec))
    assert NEW.dumps(np.array([0.1, 0.5], dtype=np.float32)) == "[0.1,0.5]"


def test_non_contiguous_and_nested_float32_arrays():
    vec = np.arange(10, dtype=np.float32) / 7
    assert NEW.dumps({"v": vec[::2]}) == '{"v":' + NEW.dumps(np.ascontiguousarray(vec[::2])) + "}"
    np.testing.assert_array_equal(_float32_values(NEW.dumps([vec[:5], vec[5:]])), [vec[:5], vec[5:]])
    np.testing.assert_array_equal(_float32_values(NEW.dumps(vec.reshape(2, 5))), vec.reshape(2, 5))


BODIES = [
    {"size": 10, "_source": False, "query": {"knn": {"gcl_concat": {"vector": [0.1, 1e-7, 3.5], "k": 10}}}},
    {"index": {"refresh_interval": None, "number_of_replicas": 0}},
    {"range": {"attr.price": {"gte": 1.5, "lt": 1e16}}, "text": 'Größe 42 \u2013 "rot"'},
    [{"index": "x"}, {"query": {"match_all": {}}}],
    {
        "when": datetime.datetime(2026, 11, 27, 21, 0, 0, 123456),
        "day": datetime.date(2026, 1, 2),
        "price": decimal.Decimal("9.95"),
        "id": uuid.UUID(int=7),
    },
    {
        "f32": np.float32(0.1),
        "f64": np.float64(0.1),
        "i": np.int64(3),
        "b": np.bool_(True),
        "f64s": np.array([0.1, 0.2]),
    },
    {"big": 2**70, 3: "int key"},
    {"bad": float("nan"), "inf": float("inf")},
    {"vec": np.array([np.nan, 1.0], dtype=np.float32)},
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_everything_else_serialises_to_the_same_values(body):
    new, old = NEW.dumps(body), OLD.dumps(body)
    assert json.loads(new) == json.loads(old) or new == old  # NaN != NaN: then the text must match
    assert isinstance(new, str)


def test_null_and_non_finite_fall_back_to_the_old_text():
    # orjson would write null for NaN, which OpenSearch might accept where NaN is refused
    for body in ({"bad": float("nan")}, {"vec": np.array([np.inf], dtype=np.float32)}):
        assert NEW.dumps(body) == OLD.dumps(body)
        assert "null" not in NEW.dumps(body)


def test_strings_pass_through_and_unserialisable_still_raises():
    assert NEW.dumps('{"already": "json"}') == '{"already": "json"}'
    with pytest.raises(Exception, match="Unable to serialize"):
        NEW.dumps({"x": object()})


def test_bulk_source_is_the_old_document_with_shorter_vectors():
    options = LayoutOptions(per_field_vectors=True, preset_weights={"title": 1.0, "desc": 1.0})
    layout = IndexLayout(
        (DenseField("title", 3, "m"), DenseField("desc", 3, "m")), ("title",), options=options
    )
    doc = Document(
        "p-1",
        {"title": np.array([0.6, 0.8, 0.0], np.float32), "desc": np.array([1 / 3, 0.5, 0.0], np.float32)},
        {"title": "Red"},
        {"price": 9.5},
    )
    source = mapping.to_bulk_action(doc, "idx", layout)["_source"]
    new, old = json.loads(NEW.dumps(source)), json.loads(OLD.dumps(source))
    assert json.dumps(new["gcl_concat"]) == "[0.6, 0.8, 0.0, 0.33333334, 0.5, 0.0]"
    for key in ("gcl_concat", "gcl_preset"):  # different doubles, the same float32 once narrowed
        np.testing.assert_array_equal(
            _float32_values(json.dumps(new.pop(key))), _float32_values(json.dumps(old.pop(key)))
        )
    for name in ("title", "desc"):
        np.testing.assert_array_equal(_float32_values(json.dumps(new["vec"].pop(name))), doc.vectors[name])
        old["vec"].pop(name)
    assert new == old


def test_connect_uses_it_unless_told_otherwise():
    client, _, _ = connect("http://127.0.0.1:1")
    assert isinstance(client.transport.serializer, VectorJSONSerializer)
    client, _, _ = connect("http://127.0.0.1:1", serializer=OLD)
    assert client.transport.serializer is OLD
