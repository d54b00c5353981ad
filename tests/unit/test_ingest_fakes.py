"""Catalogue helpers for the ingest tests, on the shared keyword encoder (tests/fakes.py).

Every vector is known in advance, so the tests can check the stored vectors exactly. The encoder also records
what it encoded, which is how the resume tests prove that committed batches are not encoded again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests import fakes
from tests.fakes import VOCAB, KeywordEncoder, keyword_vector

__all__ = ["KeywordEncoder", "keyword_vector", "make_config", "write_catalogue"]


def make_config(required_title: bool = False, description_weight: float = 0.3):
    """The ingest config: the description is read from the catalogue's `desc` column; no query fields."""
    return fakes.make_config(description_weight=description_weight, required_title=required_title,
                             description_source="desc", query_fields=False)


def write_catalogue(path: Path, n: int, bad_every: int = 0) -> Path:
    """n products `p0..p{n-1}`; with bad_every=k, every k-th line is malformed JSON instead."""
    lines = []
    for i in range(n):
        if bad_every and i % bad_every == bad_every - 1:
            lines.append('{"id": "broken", "title": ')
            continue
        colour = ("red", "black")[i % 2]
        lines.append(json.dumps({"id": f"p{i}", "title": f"{colour} usb cable {i}",
                                 "desc": "wireless mouse" if i % 3 == 0 else "", "price": float(i)}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_keyword_encoder_is_a_unit_one_hot_encoder():
    from gcl_search.encoders.base import Encoder

    encoder = KeywordEncoder()
    out = encoder.encode_texts(["red usb cable", "nothing known"])
    assert isinstance(encoder, Encoder)
    assert out.shape == (2, len(VOCAB)) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], np.array([1, 0, 1, 0, 0, 1, 0, 0]) / np.sqrt(3), rtol=1e-6)
    assert not out[1].any() and encoder.encoded == ["red usb cable", "nothing known"] and encoder.calls == 1
