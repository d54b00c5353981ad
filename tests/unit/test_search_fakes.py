"""Fakes for the search tests: a keyword encoder (text and colour "images") and a tiny catalogue whose every
similarity can be worked out by hand.

`KeywordEncoder` maps a text to its normalised keyword counts over VOCAB, and a PIL image to the normalised
count of its dominant colour name ("red" / "black"), so an image of a red product lies on the "red" axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gcl_search.config import parse_config
from gcl_search.records import Document
from gcl_search.stores.base import AttributeField, IndexLayout, LayoutOptions
from gcl_search.stores.local import LocalStore

VOCAB = ("usb", "hdmi", "cable", "mouse", "laptop", "red", "black", "wireless")

# doc_id -> (title, description, price, brand); descriptions absent for d5.
CATALOGUE = {
    "d1": ("usb cable", "black usb cable", 5.0, "acme"),
    "d2": ("hdmi cable", "red hdmi cable", 9.0, "acme"),
    "d3": ("wireless mouse", "black wireless mouse usb", 20.0, "mice"),
    "d4": ("laptop", "black laptop with usb and hdmi", 900.0, "lap"),
    "d5": ("red usb mouse", None, 15.0, "mice"),
    "d6": ("cable", "usb", 3.0, "acme"),
}


def keyword_vector(text: str) -> np.ndarray:
    words = text.lower().split()
    vec = np.array([words.count(w) for w in VOCAB], dtype=np.float32)
    norm = np.linalg.norm(vec)
    return vec / norm if norm > 0 else vec


class KeywordEncoder:
    """Implements `gcl_search.encoders.base.Encoder` with known vectors; counts its calls."""

    modalities = frozenset({"text", "image"})
    model = None

    def __init__(self, name: str = "kw"):
        self.name, self.dim = name, len(VOCAB)
        self.text_calls: list[list[str]] = []

    def encode_texts(self, texts: Sequence[str], batch_size: int | None = None,
                     progress: bool = False) -> np.ndarray:
        self.text_calls.append(list(texts))
        return np.stack([keyword_vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def encode_images(self, images, batch_size=None, progress=False) -> np.ndarray:
        out = []
        for image in images:
            r, g, b = image.convert("RGB").getpixel((0, 0))
            out.append(keyword_vector("red" if r > 128 and g < 100 else "black"))
        return np.stack(out)


def make_config(title_weight: float = 0.7, description_weight: float = 0.3, image_query: bool = False):
    backend = "open_clip" if image_query else "sentence-transformers"
    query_fields = [{"name": "query", "encoder": "kw", "weight": 1.0}]
    if image_query:
        query_fields.append({"name": "query_image", "source": "image", "modality": "image", "encoder": "kw",
                             "weight": 1.0})
    return parse_config({
        "encoders": {"kw": {"backend": backend, "model": "fake-keyword"}},
        "fields": [{"name": "title", "encoder": "kw", "weight": title_weight},
                   {"name": "description", "encoder": "kw", "weight": description_weight}],
        "query_fields": query_fields,
    })


def make_layout(oversample: float = 3.0) -> IndexLayout:
    from gcl_search.stores.base import DenseField

    return IndexLayout(
        dense_fields=(DenseField("title", len(VOCAB), "kw"), DenseField("description", len(VOCAB), "kw")),
        text_fields=("title", "description"),
        attributes=(AttributeField("price", "float"), AttributeField("brand", "keyword")),
        options=LayoutOptions(oversample=oversample))


def make_documents(catalogue: dict = CATALOGUE) -> list[Document]:
    docs = []
    for doc_id, (title, desc, price, brand) in catalogue.items():
        vectors = {"title": keyword_vector(title)}
        texts = {"title": title}
        if desc is not None:
            vectors["description"] = keyword_vector(desc)
            texts["description"] = desc
        docs.append(Document(doc_id, vectors, texts, {"price": price, "brand": brand}))
    return docs


def make_store(path, oversample: float = 3.0, catalogue: dict = CATALOGUE) -> LocalStore:
    store = LocalStore(path)
    store.create(make_layout(oversample))
    store.upsert(make_documents(catalogue))
    return store


def exact_field_score(query: str, doc_text: str | None) -> float | None:
    if doc_text is None:
        return None
    return float(np.dot(keyword_vector(query), keyword_vector(doc_text)))
