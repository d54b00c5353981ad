from __future__ import annotations

import numpy as np
import pytest

from gcl_search.errors import ConfigError, DimensionMismatch
from gcl_search.records import Document
from gcl_search.stores.base import AttributeField, DenseField, IndexLayout, LayoutOptions, layout_from_config
from gcl_search.stores.derived import concat_document, knn_exact, knn_plan, preset_vector, query_vector
from gcl_search.stores.knn import OpenSearchOptions


def _layout(**options) -> IndexLayout:
    return IndexLayout(
        (DenseField("title", 3, "minilm"), DenseField("image", 2, "clip", "image")),
        ("title",),
        (AttributeField("price", "float"), AttributeField("brand")),
        LayoutOptions(**options),
    )


def _unit(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_offsets_and_concat_dim_follow_field_order():
    layout = _layout()
    assert layout.concat_dim == 5
    assert layout.offsets == {"title": slice(0, 3), "image": slice(3, 5)}


def test_meta_round_trip_keeps_the_recorded_format():
    layout = IndexLayout(
        (DenseField("a", 2, "m"), DenseField("b", 2, "m")),
        options=LayoutOptions(opensearch=OpenSearchOptions(m=8), oversample=2.0),
    )
    meta = layout.to_meta()
    assert IndexLayout.from_meta(meta) == layout
    assert IndexLayout.from_meta(_layout().to_meta()) == _layout()
    # OpenSearch's HNSW settings stay flat among the options, as indices already record them
    assert meta["options"]["m"] == 8 and "opensearch" not in meta["options"]
    # a layout recorded while the training-weights fused vector existed still reads
    old = {**meta, "options": {**meta["options"], "fused_weights": None}}
    assert IndexLayout.from_meta(old) == layout


def test_concatenated_inner_product_is_the_weighted_field_sum():
    rng = np.random.default_rng(0)
    layout = _layout()
    d = {"title": _unit(*rng.normal(size=3)), "image": _unit(*rng.normal(size=2))}
    q = {"title": _unit(*rng.normal(size=3)), "image": _unit(*rng.normal(size=2))}
    concat, present = concat_document(layout, Document("x", d))
    assert present == ("title", "image")
    for w in ({"title": 0.7, "image": 0.3}, {"title": 0.0, "image": 1.0}, {"title": 2.5}):
        expected = sum(w.get(f, 0.0) * float(q[f] @ d[f]) for f in d)
        assert float(query_vector(layout, q, w) @ concat) == pytest.approx(expected, abs=1e-6)


def test_absent_field_is_zeros_and_not_present():
    concat, present = concat_document(_layout(), Document("x", {"image": _unit(1, 1)}))
    assert present == ("image",)
    np.testing.assert_array_equal(concat[:3], 0)


def test_wrong_dimension_names_document_and_field():
    with pytest.raises(DimensionMismatch, match=r"'doc-7'.*'title'.*\(3,\)"):
        concat_document(_layout(), Document("doc-7", {"title": np.ones(4, dtype=np.float32)}))


def test_unknown_vector_field_is_refused():
    with pytest.raises(ConfigError, match="'colour' is not in the index layout"):
        concat_document(_layout(), Document("d", {"colour": np.ones(3)}))


def test_check_compatible_refuses_mismatches():
    index = _layout()
    index.check_compatible(_layout(opensearch=OpenSearchOptions(m=32), oversample=5.0))  # options may differ
    other_dim = IndexLayout(
        (DenseField("title", 4, "minilm"), DenseField("image", 2, "clip", "image")),
        index.text_fields,
        index.attributes,
    )
    with pytest.raises(DimensionMismatch, match="'title' has dimension 3 in the index but 4"):
        index.check_compatible(other_dim, where="index products")
    swapped = IndexLayout(tuple(reversed(index.dense_fields)), index.text_fields, index.attributes)
    with pytest.raises(ConfigError, match="dense fields"):
        index.check_compatible(swapped)
    other_encoder = IndexLayout(
        (DenseField("title", 3, "e5"), index.dense_fields[1]), index.text_fields, index.attributes
    )
    with pytest.raises(ConfigError, match="encoded with 'minilm'"):
        index.check_compatible(other_encoder)
    with pytest.raises(ConfigError, match="text fields"):
        index.check_compatible(IndexLayout(index.dense_fields, (), index.attributes))


def test_from_meta_refuses_foreign_metadata():
    with pytest.raises(ConfigError, match="layout version"):
        IndexLayout.from_meta({}, where="index x")
    meta = _layout().to_meta()
    del meta["dense_fields"]
    with pytest.raises(ConfigError, match="malformed"):
        IndexLayout.from_meta(meta)


def test_invalid_layouts_are_refused():
    with pytest.raises(ConfigError, match="engine"):
        OpenSearchOptions(engine="annoy")
    with pytest.raises(ConfigError, match="twice"):
        IndexLayout((DenseField("a", 2, "m"), DenseField("a", 2, "m")))
    with pytest.raises(ConfigError, match="reserved"):
        DenseField("_concat", 2, "m")


def test_preset_vector_renormalises_over_present_fields():
    layout = IndexLayout(
        (DenseField("a", 2, "m"), DenseField("b", 2, "m")),
        options=LayoutOptions(preset_weights={"a": 0.9, "b": 0.1}),
    )
    a, b = np.array([1, 0], dtype=np.float32), np.array([0, 1], dtype=np.float32)
    expected = np.array([0.9, 0.1]) / np.hypot(0.9, 0.1)
    np.testing.assert_allclose(preset_vector(layout, {"a": a, "b": b}), expected, rtol=1e-6)
    np.testing.assert_allclose(preset_vector(layout, {"b": b}), b)


def test_layout_from_config():
    config_mod = pytest.importorskip("gcl_search.config")
    config = config_mod.parse_config(
        {
            "encoders": {"minilm": {"backend": "sentence-transformers", "model": "pkg:x"}},
            "fields": [
                {"name": "title", "encoder": "minilm", "weight": 0.7},
                {"name": "description", "encoder": "minilm", "weight": 0.3},
            ],
        }
    )
    layout = layout_from_config(config, {"minilm": 384}, attributes=[AttributeField("price", "float")])
    assert layout.field_names == ("title", "description")
    assert layout.concat_dim == 768
    assert layout.text_fields == ("title", "description")
    with pytest.raises(ConfigError, match="no dimension known for encoder 'minilm'"):
        layout_from_config(config, {})


def _preset_layout(**options) -> IndexLayout:
    return IndexLayout(
        (
            DenseField("title", 3, "minilm"),
            DenseField("desc", 3, "minilm"),
            DenseField("image", 2, "clip", "image"),
        ),
        options=LayoutOptions(preset_weights={"title": 0.7, "desc": 0.3}, **options),
    )


def test_legacy_preset_plan_gives_the_same_scores_as_the_concatenated_vector():
    rng = np.random.default_rng(1)
    layout = _preset_layout(preset_fused=False, impute_missing=False)
    q = _unit(*rng.normal(size=3))
    qv = {"title": q, "desc": q.copy(), "image": _unit(1, 1)}
    docs = [
        {"title": _unit(*rng.normal(size=3)), "desc": _unit(*rng.normal(size=3)), "image": _unit(1, 0)},
        {"desc": _unit(*rng.normal(size=3))},
        {"image": _unit(0, 1)},
    ]
    for weights in ({"title": 0.7, "desc": 0.3}, {"title": 1.4, "desc": 0.6, "image": 0.0}):
        target, vec = knn_plan(layout, qv, weights)
        assert target == "_preset" and vec.shape == (3,)
        for d in docs:
            concat, _ = concat_document(layout, Document("x", d))
            want = query_vector(layout, qv, weights) @ concat
            assert float(vec @ preset_vector(layout, d)) == pytest.approx(float(want), abs=1e-6)
    # a document with none of the preset's fields gets a zero vector (score 0, as on the concatenated one)
    assert not preset_vector(layout, {"image": _unit(0, 1)}).any()
    assert knn_exact(layout, "_preset", "sum") and not knn_exact(layout, "_preset", "fused")
    assert knn_exact(layout, "_concat", "sum") and not knn_exact(layout, "_concat", "fused")


def test_fused_preset_plan_gives_the_fused_score_exactly():
    from gcl_search.fields.vectors import field_gram, multi_field_scores

    rng = np.random.default_rng(1)
    layout = _preset_layout()
    names = layout.field_names
    q = _unit(*rng.normal(size=3))
    qv = {"title": q, "desc": q.copy(), "image": _unit(1, 1)}
    docs = [
        {"title": _unit(*rng.normal(size=3)), "desc": _unit(*rng.normal(size=3)), "image": _unit(1, 0)},
        {"desc": _unit(*rng.normal(size=3))},
        {"image": _unit(0, 1)},
    ]
    for weights in ({"title": 0.7, "desc": 0.3}, {"title": 1.4, "desc": 0.6, "image": 0.0}):
        target, vec = knn_plan(layout, qv, weights)
        assert target == "_preset" and knn_exact(layout, target, "fused")
        for d in docs:
            sims = np.array([[float(qv[n] @ d[n]) if n in d else 0.0 for n in names]])
            want = multi_field_scores(
                sims,
                field_gram(d, names)[None],
                np.array([[n in d for n in names]]),
                np.array([weights.get(n, 0.0) for n in names]),
            )[0]
            assert float(vec @ preset_vector(layout, d)) == pytest.approx(want, abs=1e-6)
    # a "sum" request takes the fused preset too, for candidates only (a pool); so does the imputed concat
    assert knn_plan(layout, qv, {"title": 0.7, "desc": 0.3}, "sum")[0] == "_preset"
    assert not knn_exact(layout, "_concat", "sum") and not knn_exact(layout, "_preset", "sum")


@pytest.mark.parametrize(
    "weights, vectors",
    [
        ({"title": 0.5, "desc": 0.5}, "same"),  # other proportions
        ({"title": 0.7, "desc": 0.3, "image": 0.1}, "same"),  # a field outside the preset
        ({"title": 0.7, "desc": 0.3}, "different"),  # per-field query vectors differ
    ],
)
def test_preset_plan_falls_back_to_the_concatenated_vector(weights, vectors):
    layout = _preset_layout()
    q = _unit(1, 2, 3)
    qv = {"title": q, "desc": q if vectors == "same" else _unit(3, 2, 1), "image": _unit(1, 1)}
    target, vec = knn_plan(layout, qv, weights)
    assert target == "_concat"
    np.testing.assert_array_equal(vec, query_vector(layout, qv, weights))


def test_preset_weights_are_validated_and_round_trip():
    layout = _preset_layout(opensearch=OpenSearchOptions(preset_ef_search=64))
    assert IndexLayout.from_meta(layout.to_meta()) == layout and layout.preset_dim == 3
    with pytest.raises(ConfigError, match="unknown field 'nope'"):
        IndexLayout((DenseField("title", 3, "m"),), options=LayoutOptions(preset_weights={"nope": 1.0}))
    with pytest.raises(ConfigError, match="several encoders"):
        IndexLayout(
            (DenseField("title", 3, "m"), DenseField("image", 3, "clip", "image")),
            options=LayoutOptions(preset_weights={"title": 0.5, "image": 0.5}),
        )
    with pytest.raises(ConfigError, match="every preset weight is 0"):
        LayoutOptions(preset_weights={"title": 0.0})
    with pytest.raises(ConfigError, match="preset weight title = -1.0 is negative"):
        LayoutOptions(preset_weights={"title": -1.0, "desc": 1.0})


def test_index_preset_vector_in_the_config_sets_the_field_weights_as_preset():
    from gcl_search.config import parse_config

    table = {
        "encoders": {"m": {"backend": "sentence-transformers", "model": "x"}},
        "fields": [
            {"name": "title", "encoder": "m", "weight": 0.7},
            {"name": "desc", "encoder": "m", "weight": 0.3},
            {"name": "brand", "encoder": "m", "weight": 0.0},
        ],
    }
    assert layout_from_config(parse_config(table), {"m": 3}).options.preset_weights is None
    config = parse_config({**table, "index": {"preset_vector": True}})
    assert layout_from_config(config, {"m": 3}).options.preset_weights == {"title": 0.7, "desc": 0.3}
    assert layout_from_config(config, {"m": 3}).options.opensearch == OpenSearchOptions()
    # a bigger catalogue needs a wider beam on the preset graph (docs/scaling.md); recorded in the index
    wide = layout_from_config(parse_config({**table, "index": {"preset_ef_search": 800}}), {"m": 3})
    assert wide.options.opensearch.preset_ef_search == 800
    assert IndexLayout.from_meta(wide.to_meta()).options.opensearch.preset_ef_search == 800
