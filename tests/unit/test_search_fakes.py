"""Search-test fixtures on the shared keyword encoder (tests/fakes.py): a tiny catalogue whose every
similarity can be worked out by hand, and the local store that holds it.

The encoder maps a PIL image to the normalised count of its dominant colour name ("red" / "black"), so an
image of a red product lies on the "red" axis.
"""

from __future__ import annotations

import numpy as np

from gcl_search.records import Document
from gcl_search.stores.base import AttributeField, DenseField, IndexLayout, LayoutOptions
from gcl_search.stores.local import LocalStore
from tests.fakes import VOCAB, KeywordEncoder, keyword_vector, make_config

__all__ = ["CATALOGUE", "KeywordEncoder", "exact_field_score", "keyword_vector", "make_config", "make_store"]

# doc_id -> (title, description, price, brand); descriptions absent for d5.
CATALOGUE = {
    "d1": ("usb cable", "black usb cable", 5.0, "acme"),
    "d2": ("hdmi cable", "red hdmi cable", 9.0, "acme"),
    "d3": ("wireless mouse", "black wireless mouse usb", 20.0, "mice"),
    "d4": ("laptop", "black laptop with usb and hdmi", 900.0, "lap"),
    "d5": ("red usb mouse", None, 15.0, "mice"),
    "d6": ("cable", "usb", 3.0, "acme"),
}


def make_layout(oversample: float = 3.0) -> IndexLayout:
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
