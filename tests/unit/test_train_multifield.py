"""Multi-field training as the seed does it: the document side fuses title + description + brand with
`normalize(sum_k a_k normalize(f(x_k)))`, renormalised over present fields, identically while training (torch)
and when the trained model serves the fields (numpy); the query side stays single-field."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from gcl_search.config import EncoderSpec, FieldSpec
from gcl_search.encoders.sentence import load_sentence_transformer
from gcl_search.losses import GCLLoss, ScoreToWeight, fuse_fields
from gcl_search.training.towers import FieldTowers
from tests.helpers_models import tiny_st_model_dir

WEIGHTS = {"title": 0.6, "description": 0.3, "brand": 0.1}
CATALOGUE = {
    "a": {"title": "usb cable", "description": "a short usb cable", "brand": "acme"},
    "b": {"title": "hdmi cable", "brand": "acme"},  # no description
    "c": {"title": "laptop bag", "description": "a bag for laptops"},  # no brand
}


def _towers(tmp_path) -> FieldTowers:
    encoder = load_sentence_transformer(
        EncoderSpec(backend="sentence-transformers", model=str(tiny_st_model_dir(tmp_path)), device="cpu")
    )
    docs = [FieldSpec(name=n, encoder="m", weight=w) for n, w in WEIGHTS.items()]
    return FieldTowers(encoder, docs, [FieldSpec(name="query", encoder="m", source="query")], CATALOGUE)


def test_missing_fields_are_zero_rows_and_renormalised_out(tmp_path):
    towers = _towers(tmp_path)
    with torch.no_grad():
        fields = towers.embed_docs(["a", "b", "c"])
        fused = fuse_fields(fields, towers.doc_weights)
    assert torch.all(fields["description"][1] == 0) and torch.all(fields["brand"][2] == 0)
    t, b = F.normalize(fields["title"][1], dim=-1), F.normalize(fields["brand"][1], dim=-1)
    expected = F.normalize((0.6 * t + 0.1 * b) / 0.7, dim=-1)  # description's 0.3 renormalised away
    assert torch.allclose(fused[1], expected, atol=1e-6)


def test_training_fusion_equals_served_fusion(tmp_path):
    towers = _towers(tmp_path)
    towers.encoder.model.eval()
    with torch.no_grad():
        trained = fuse_fields(towers.embed_docs(["a", "b", "c"]), towers.doc_weights).numpy()
    served = towers.encode_catalogue(["a", "b", "c"], batch_size=8)
    assert np.allclose(trained, served, atol=1e-5)


def test_query_side_is_single_field_and_the_loss_takes_field_dicts(tmp_path):
    towers = _towers(tmp_path)
    queries = towers.embed_queries(["usb cable", "hdmi cable", "bag"])
    assert list(queries) == ["query"]
    loss_fn = GCLLoss(
        weighting=ScoreToWeight("linear", score_min=0, score_max=3),
        query_field_weights=towers.query_weights,
        doc_field_weights=towers.doc_weights,
    )
    loss = loss_fn.compute_loss(queries, towers.embed_docs(["a", "b", "c"]), torch.tensor([3.0, 2.0, 1.0]))
    loss.backward()
    grads = [p.grad for p in towers.encoder.model.parameters() if p.grad is not None]
    assert torch.isfinite(loss) and grads


def test_the_recommended_recipes_are_twins_that_differ_only_in_weighting():
    from pathlib import Path

    from gcl_search.training.spec import load_train_config

    recipes = Path(__file__).resolve().parents[2] / "training"
    gcl = load_train_config(recipes / "icecat-minilm-gcl.toml")
    binary = load_train_config(recipes / "icecat-minilm-binary.toml")
    a, b = gcl.train.to_dict(), binary.train.to_dict()
    loss_a, loss_b = a.pop("loss"), b.pop("loss")
    assert (loss_a.pop("weighting"), loss_b.pop("weighting")) == ("linear", "binary") and loss_a == loss_b
    assert a.pop("output_dir") != b.pop("output_dir")
    assert a == b and gcl.config.fields == binary.config.fields
    assert [f.name for f in gcl.config.fields] == ["title", "description", "brand"]
    assert gcl.train.data.dev_fraction == 0 and not gcl.train.data.folds  # every visible query is trained on
