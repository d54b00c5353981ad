"""The shared test fakes: the keyword encoder, its config (built in code or as TOML text), a tiny catalogue
and its local store, and catalogue files for the ingest tests.

`KeywordEncoder` maps a text to its normalised keyword counts over a fixed vocabulary (like the mock encoder
of sentence-transformers' IR-evaluator test), and a PIL image to the axis of its dominant colour name ("red" /
"black"), so every vector, and so every ranking, can be worked out by hand.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from gcl_search.config import Config, parse_config
from gcl_search.records import Document
from gcl_search.stores.base import AttributeField, DenseField, IndexLayout, LayoutOptions
from gcl_search.stores.local import LocalStore

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

    def encode_texts(
        self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
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


def make_config(
    title_weight: float = 0.7,
    description_weight: float = 0.3,
    *,
    required_title: bool = False,
    description_source: str | None = None,
    query_fields: bool = True,
    image_query: bool = False,
    dense_score: str | None = None,
) -> Config:
    """Fields `title` and `description` on the keyword encoder `kw`, and a `query` field (plus a
    `query_image` field with `image_query`, which makes `kw` an open_clip encoder); `dense_score` sets
    `[search] dense_score`."""
    description = {"name": "description", "encoder": "kw", "weight": description_weight}
    if description_source:
        description["source"] = description_source
    tables: dict = {
        "encoders": {
            "kw": {
                "backend": "open_clip" if image_query else "sentence-transformers",
                "model": "fake-keyword",
            }
        },
        "fields": [
            {"name": "title", "encoder": "kw", "weight": title_weight, "required": required_title},
            description,
        ],
    }
    if query_fields:
        tables["query_fields"] = [{"name": "query", "encoder": "kw", "weight": 1.0}]
        if image_query:
            tables["query_fields"].append(
                {
                    "name": "query_image",
                    "source": "image",
                    "modality": "image",
                    "encoder": "kw",
                    "weight": 1.0,
                }
            )
    if dense_score is not None:
        tables["search"] = {"dense_score": dense_score}
    return parse_config(tables)


# Judgments of the CLI tests (the Icecat CSV layout) over `CATALOGUE`.
CLI_JUDGMENTS = "query,docid,rating\nusb cable,d1,3\nusb cable,d3,0\nred mouse,d5,2\nred mouse,d3,1\n"


def make_cli_env(tmp_path: Path, monkeypatch) -> tuple[Path, list[str]]:
    """A `CATALOGUE` store under `tmp_path/stores/kw`, its config file, the encoder loader replaced by the
    keyword encoder and no $OPENSEARCH_URL: (tmp_path, the --config/--index/--store arguments)."""
    import gcl_search.encoders.registry as registry

    monkeypatch.setattr(registry, "load_encoders", lambda config, names=None: {"kw": KeywordEncoder()})
    monkeypatch.delenv("OPENSEARCH_URL", raising=False)
    make_store(tmp_path / "stores" / "kw")
    config = tmp_path / "config.toml"
    config.write_text(keyword_toml(query_field=True), encoding="utf-8")
    return tmp_path, ["--config", str(config), "--index", "kw", "--store", str(tmp_path / "stores")]


def make_ingest_config(required_title: bool = False, description_weight: float = 0.3) -> Config:
    """The ingest config: the description is read from the catalogue's `desc` column; no query fields."""
    return make_config(
        description_weight=description_weight,
        required_title=required_title,
        description_source="desc",
        query_fields=False,
    )


def keyword_toml(
    *,
    description_source: str | None = None,
    query_field: bool = False,
    index: Mapping[str, object] | None = None,
) -> str:
    """`make_config`'s fields as a config file's text (title 0.7, description 0.3 on the keyword encoder
    `kw`), for the tests that go through the CLI or a job; `index` adds an `[index]` table."""
    lines = [
        "[encoders.kw]",
        'backend = "sentence-transformers"',
        'model = "fake-keyword"',
        "",
        "[[fields]]",
        'name = "title"',
        'encoder = "kw"',
        "weight = 0.7",
        "",
        "[[fields]]",
        'name = "description"',
        'encoder = "kw"',
        "weight = 0.3",
    ]
    if description_source:
        lines.append(f"source = {json.dumps(description_source)}")
    if query_field:
        lines += ["", "[[query_fields]]", 'name = "query"', 'encoder = "kw"']
    if index:
        lines += ["", "[index]", *(f"{key} = {json.dumps(value)}" for key, value in index.items())]
    return "\n".join(lines) + "\n"


def write_catalogue(path: Path, n: int, bad_every: int = 0) -> Path:
    """n products `p0..p{n-1}`; with bad_every=k, every k-th line is malformed JSON instead."""
    lines = []
    for i in range(n):
        if bad_every and i % bad_every == bad_every - 1:
            lines.append('{"id": "broken", "title": ')
            continue
        colour = ("red", "black")[i % 2]
        lines.append(
            json.dumps(
                {
                    "id": f"p{i}",
                    "title": f"{colour} usb cable {i}",
                    "desc": "wireless mouse" if i % 3 == 0 else "",
                    "price": float(i),
                }
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


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
    """The layout of the `CATALOGUE` store: title and description on `kw`, price and brand attributes."""
    return IndexLayout(
        dense_fields=(DenseField("title", len(VOCAB), "kw"), DenseField("description", len(VOCAB), "kw")),
        text_fields=("title", "description"),
        attributes=(AttributeField("price", "float"), AttributeField("brand", "keyword")),
        options=LayoutOptions(oversample=oversample),
    )


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
