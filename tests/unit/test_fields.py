"""Multi-field fusion against hand computations, per-field encoding and per-record errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gcl_search.config import FieldSpec
from gcl_search.errors import ConfigError
from gcl_search.fields import encode_records, fuse_fields, query_vectors_for_fields, renormalised_weights
from tests.fakes import KeywordEncoder

# Each word is a unit axis; a text is the normalised sum of its words' axes.
VOCAB = ["laptop", "bag", "black", "dell", "usb"]
TITLE = FieldSpec(name="title", encoder="axes", weight=0.7)
DESC = FieldSpec(name="description", encoder="axes", weight=0.3)


def test_two_fields_match_hand_computation():
    # title -> e_laptop, description -> e_bag; 0.7 e0 + 0.3 e1 has norm sqrt(0.58).
    vectors = {"title": np.array([[1.0, 0, 0]]), "description": np.array([[0, 1.0, 0]])}
    out = fuse_fields(vectors, {"title": 0.7, "description": 0.3})
    norm = math.sqrt(0.7**2 + 0.3**2)
    np.testing.assert_allclose(out[0], [0.7 / norm, 0.3 / norm, 0.0], rtol=1e-6)
    assert out.dtype == np.float32


def test_inputs_are_normalised_before_weighting():
    # (2, 0) and (0, 10) must count as e0 and e1: weights decide, not input lengths.
    out = fuse_fields({"a": np.array([[2.0, 0.0]]), "b": np.array([[0.0, 10.0]])}, {"a": 0.5, "b": 0.5})
    np.testing.assert_allclose(out[0], [1 / math.sqrt(2), 1 / math.sqrt(2)], rtol=1e-6)


def test_missing_field_renormalises_weights():
    # Weights (0.6, 0.3, 0.1); field c missing -> a gets 0.6/0.9, b 0.3/0.9.
    present = np.array([[True, True, False]])
    np.testing.assert_allclose(renormalised_weights([0.6, 0.3, 0.1], present), [[2 / 3, 1 / 3, 0.0]])
    vectors = {"a": np.array([[1.0, 0, 0]]), "b": np.array([[0, 1.0, 0]]), "c": np.zeros((1, 3))}
    mask = {k: present[:, j] for j, k in enumerate("abc")}
    out = fuse_fields(vectors, {"a": 0.6, "b": 0.3, "c": 0.1}, mask)
    norm = math.sqrt((2 / 3) ** 2 + (1 / 3) ** 2)
    np.testing.assert_allclose(out[0], [2 / 3 / norm, 1 / 3 / norm, 0.0], rtol=1e-6)


def test_zero_weight_field_contributes_nothing():
    vectors = {"a": np.array([[1.0, 0], [1.0, 0]]), "b": np.array([[0, 1.0], [0, 0]])}
    present = {"a": np.array([True, True]), "b": np.array([True, False])}
    out = fuse_fields(vectors, {"a": 0.0, "b": 2.0}, present)
    np.testing.assert_allclose(out[0], [0.0, 1.0])
    # no present field with a positive weight: a zero row (the fused vector is undefined there)
    assert np.all(renormalised_weights([0.0, 1.0], np.array([[True, False]])) == 0)
    np.testing.assert_allclose(out[1], [0.0, 0.0])


def test_encode_records_keeps_per_field_vectors():
    enc = KeywordEncoder("axes", VOCAB)
    records = [
        {"doc_id": "d1", "title": "laptop", "description": "bag"},
        {"doc_id": "d2", "title": "usb", "description": ""},  # description empty -> absent
        {"doc_id": "d3", "title": "dell", "description": None},
    ]
    out = encode_records(records, [TITLE, DESC], {"axes": enc})
    assert out.ids == ["d1", "d2", "d3"] and out.errors == []
    np.testing.assert_allclose(out.vectors["title"], [[1, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0]])
    np.testing.assert_allclose(out.vectors["description"][0], [0, 1, 0, 0, 0])
    assert out.present["description"].tolist() == [True, False, False]
    assert not out.vectors["description"][1].any()  # absent field = zero block
    assert out.field_vectors(1).keys() == {"title"}


def test_each_encoder_runs_once_per_batch_on_distinct_values():
    enc = KeywordEncoder("axes", VOCAB)
    brand = FieldSpec(name="brand", encoder="axes", weight=0.1)
    records = [
        {"doc_id": str(i), "title": "laptop bag", "description": "black", "brand": "dell"} for i in range(5)
    ]
    encode_records(records, [TITLE, DESC, brand], {"axes": enc})
    assert len(enc.text_calls) == 1
    assert sorted(enc.text_calls[0]) == ["black", "dell", "laptop bag"]


def test_unloaded_encoder_and_unknown_on_error_are_refused():
    records = [{"doc_id": "d1", "title": "laptop", "description": "bag"}]
    with pytest.raises(ConfigError, match="encoder 'axes' is not loaded"):
        encode_records(records, [TITLE, DESC], {})
    with pytest.raises(ConfigError, match="on_error"):
        encode_records(records, [TITLE, DESC], {"axes": KeywordEncoder("axes", VOCAB)}, on_error="ignore")


def test_per_record_errors_do_not_fail_the_batch():
    enc = KeywordEncoder("axes", VOCAB)
    title = FieldSpec(name="title", encoder="axes", weight=0.7, required=True)
    records = [
        {"doc_id": "ok", "title": "laptop", "description": "bag"},
        {"doc_id": "no-title", "title": "  ", "description": "bag"},
        {"doc_id": "bad-type", "title": "usb", "description": {"x": 1}},
        {"doc_id": "nothing"},
        {"title": "dell"},
    ]
    out = encode_records(records, [title, DESC], {"axes": enc})
    assert out.ids == ["ok", "#4"]
    messages = {e.record_id: str(e) for e in out.errors}
    assert "required" in messages["no-title"] and "field title" in messages["no-title"]
    assert "expected text, got dict" in messages["bad-type"]
    assert "nothing" in messages
    # skip_field keeps bad-type without its description; required errors still drop the record.
    kept = encode_records(records, [title, DESC], {"axes": enc}, on_error="skip_field")
    assert kept.ids == ["ok", "bad-type", "#4"]
    assert kept.present["description"].tolist() == [True, False, False]


def test_zero_weight_only_record_is_kept():
    # weight 0 keeps a field indexed (config.FieldSpec); weights are applied at search time
    enc = KeywordEncoder("axes", VOCAB)
    desc0 = FieldSpec(name="description", encoder="axes", weight=0.0)
    out = encode_records([{"doc_id": "d", "description": "bag"}], [TITLE, desc0], {"axes": enc})
    assert out.ids == ["d"] and out.errors == [] and out.present["description"].tolist() == [True]


def test_lists_and_numbers_become_text():
    enc = KeywordEncoder("axes", VOCAB + ["42"])
    out = encode_records(
        [{"doc_id": 7, "title": ["black", "bag"], "description": 42}], [TITLE, DESC], {"axes": enc}
    )
    assert out.ids == ["7"]
    assert sorted(enc.text_calls[0]) == ["42", "black bag"]


def test_query_vectors_are_per_encoder():
    a, b = KeywordEncoder("a", VOCAB), KeywordEncoder("b", VOCAB)
    qa = FieldSpec(name="qa", encoder="a", source="query")
    qb = FieldSpec(name="qb", encoder="b", source="query")
    query = encode_records([{"query": "dell bag"}], [qa, qb], {"a": a, "b": b}, id_key=None)
    docs = [FieldSpec(name="title", encoder="a"), FieldSpec(name="image", encoder="b")]
    q = query_vectors_for_fields(query, [qa, qb], docs)
    np.testing.assert_allclose(q["title"], query.vectors["qa"])
    np.testing.assert_allclose(q["image"], query.vectors["qb"])
    with pytest.raises(ConfigError, match="no query field"):
        query_vectors_for_fields(query, [qa], docs)
