"""The shared fakes (tests/fakes.py) are what the other tests assume they are."""

from __future__ import annotations

import numpy as np

from gcl_search.config import load_config
from gcl_search.encoders.base import Encoder
from tests.fakes import VOCAB, KeywordEncoder, keyword_toml, make_config


def test_keyword_encoder_is_a_unit_one_hot_encoder():
    encoder = KeywordEncoder()
    out = encoder.encode_texts(["red usb cable", "nothing known"])
    assert isinstance(encoder, Encoder)
    assert out.shape == (2, len(VOCAB)) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], np.array([1, 0, 1, 0, 0, 1, 0, 0]) / np.sqrt(3), rtol=1e-6)
    assert not out[1].any() and encoder.encoded == ["red usb cable", "nothing known"] and encoder.calls == 1


def test_the_toml_config_is_the_code_config(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(keyword_toml(query_field=True), encoding="utf-8")
    assert load_config(path).fields == make_config().fields
    assert load_config(path).query_fields == make_config().query_fields
    path.write_text(keyword_toml(description_source="desc", index={"shards": 3}), encoding="utf-8")
    config = load_config(path)
    assert config.fields[1].source == "desc" and config.index.shards == 3 and config.query_fields == ()
