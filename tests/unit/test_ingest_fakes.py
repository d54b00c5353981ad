"""A keyword encoder (one-hot over a fixed vocabulary) and catalogue helpers for the ingest tests.

Every vector is known in advance, so the tests can check the stored vectors exactly. The encoder also counts
what it encoded, which is how the resume tests prove that committed batches are not encoded again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gcl_search.config import parse_config

VOCAB = ("usb", "hdmi", "cable", "mouse", "laptop", "red", "black", "wireless")


class KeywordEncoder:
    """Implements `gcl_search.encoders.base.Encoder`: text -> normalised keyword counts over VOCAB."""

    modalities = frozenset({"text"})
    model = None

    def __init__(self, name: str = "kw"):
        self.name = name
        self.dim = len(VOCAB)
        self.encoded: list[str] = []
        self.calls = 0
        self.on_encode = None  # optional hook, called at the start of every encode_texts call
        self._lock = threading.Lock()

    def encode_texts(self, texts: Sequence[str], batch_size: int | None = None,
                     progress: bool = False) -> np.ndarray:
        if self.on_encode is not None:
            self.on_encode(self.calls)
        with self._lock:
            self.calls += 1
            self.encoded.extend(texts)
        return np.stack([keyword_vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def encode_images(self, images, batch_size=None, progress=False):  # pragma: no cover - text only
        raise NotImplementedError


def keyword_vector(text: str) -> np.ndarray:
    words = text.lower().split()
    vec = np.array([words.count(w) for w in VOCAB], dtype=np.float32)
    norm = np.linalg.norm(vec)
    return vec / norm if norm > 0 else vec


def make_config(required_title: bool = False, description_weight: float = 0.3):
    return parse_config({
        "encoders": {"kw": {"backend": "sentence-transformers", "model": "fake-keyword"}},
        "fields": [{"name": "title", "encoder": "kw", "weight": 0.7, "required": required_title},
                   {"name": "description", "encoder": "kw", "source": "desc", "weight": description_weight}],
    })


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
    assert not out[1].any() and encoder.encoded == ["red usb cable", "nothing known"]
