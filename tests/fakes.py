"""The keyword encoder and its config, shared by the ingest, search and field tests.

`KeywordEncoder` maps a text to its normalised keyword counts over a fixed vocabulary (like the mock encoder
of sentence-transformers' IR-evaluator test), and a PIL image to the axis of its dominant colour name ("red" /
"black"), so every vector, and so every ranking, can be worked out by hand.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from gcl_search.config import Config, parse_config

VOCAB = ("usb", "hdmi", "cable", "mouse", "laptop", "red", "black", "wireless")


def keyword_vector(text: str, vocab: Sequence[str] = VOCAB) -> np.ndarray:
    words = text.lower().split()
    vec = np.array([words.count(w) for w in vocab], dtype=np.float32)
    norm = np.linalg.norm(vec)
    return vec / norm if norm > 0 else vec


class KeywordEncoder:
    """Implements `gcl_search.encoders.base.Encoder` with known vectors and records its text batches.

    `text_calls` holds every batch it was asked to encode, which is how the tests prove that an encoder runs
    once per batch, and that the batches an interrupted ingest committed are not encoded again. `on_encode`,
    when set, is called with the number of earlier calls at the start of every `encode_texts` call.
    """

    modalities = frozenset({"text", "image"})
    model = None

    def __init__(self, name: str = "kw", vocab: Sequence[str] = VOCAB):
        self.name, self.vocab, self.dim = name, tuple(vocab), len(vocab)
        self.text_calls: list[list[str]] = []
        self.on_encode = None
        self._lock = threading.Lock()  # encode_texts may run on several threads at once

    @property
    def calls(self) -> int:
        return len(self.text_calls)

    @property
    def encoded(self) -> list[str]:
        with self._lock:
            return [text for batch in self.text_calls for text in batch]

    def encode_texts(self, texts: Sequence[str], batch_size: int | None = None,
                     progress: bool = False) -> np.ndarray:
        if self.on_encode is not None:
            self.on_encode(self.calls)
        with self._lock:
            self.text_calls.append(list(texts))
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([keyword_vector(t, self.vocab) for t in texts])

    def encode_images(self, images, batch_size=None, progress=False) -> np.ndarray:
        out = []
        for image in images:
            r, g, b = image.convert("RGB").getpixel((0, 0))
            out.append(keyword_vector("red" if r > 128 and g < 100 else "black", self.vocab))
        return np.stack(out)


def make_config(title_weight: float = 0.7, description_weight: float = 0.3, *, required_title: bool = False,
                description_source: str | None = None, query_fields: bool = True,
                image_query: bool = False, dense_score: str | None = None) -> Config:
    """Fields `title` and `description` on the keyword encoder `kw`, and a `query` field (plus a
    `query_image` field with `image_query`, which makes `kw` an open_clip encoder); `dense_score` sets
    `[search] dense_score`."""
    description = {"name": "description", "encoder": "kw", "weight": description_weight}
    if description_source:
        description["source"] = description_source
    tables: dict = {
        "encoders": {"kw": {"backend": "open_clip" if image_query else "sentence-transformers",
                            "model": "fake-keyword"}},
        "fields": [{"name": "title", "encoder": "kw", "weight": title_weight, "required": required_title},
                   description],
    }
    if query_fields:
        tables["query_fields"] = [{"name": "query", "encoder": "kw", "weight": 1.0}]
        if image_query:
            tables["query_fields"].append({"name": "query_image", "source": "image", "modality": "image",
                                           "encoder": "kw", "weight": 1.0})
    if dense_score is not None:
        tables["search"] = {"dense_score": dense_score}
    return parse_config(tables)
