"""The trainable side of an encoder: per-field embeddings with autograd for the loss, and no-grad catalogue /
query encoding (fused with the same field weights) for dev evaluation.

Training and dev evaluation fuse fields the same way: `losses.fuse_fields` (torch) while training and
`gcl_search.fields.fuse_fields` (numpy) for retrieval, both `normalize(sum_k a_k normalize(f_k))` with weights
renormalised over present fields, so the dev score is the training-time score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gcl_search.config import Config, EncoderSpec, FieldSpec, ImageSpec
from gcl_search.encoders.base import Encoder
from gcl_search.encoders.clip import load_open_clip
from gcl_search.encoders.images import open_images
from gcl_search.encoders.sentence import load_sentence_transformer
from gcl_search.errors import ConfigError, InputFileError
from gcl_search.fields import fuse_fields


def load_trainable(spec: EncoderSpec) -> Encoder:
    """Load the encoder a spec names, for fine-tuning (either backend)."""
    if spec.backend == "open_clip":
        return load_open_clip(spec)
    return load_sentence_transformer(spec)


def training_fields(config: Config) -> tuple[list[FieldSpec], list[FieldSpec]]:
    """(document fields, query fields) that take part in training: those with weight > 0.

    Raises:
        ConfigError: the fields use more than one encoder (one model is fine-tuned per run).
    """
    docs = [f for f in config.fields if f.weight > 0]
    queries = [f for f in config.query_fields if f.weight > 0] or [
        FieldSpec(name="query", encoder=docs[0].encoder, source="query")
    ]
    encoders = {f.encoder for f in docs + queries}
    if len(encoders) != 1:
        raise ConfigError(
            f"the training fields use encoders {sorted(encoders)}; GCL fine-tunes one model "
            "per run: give the other fields weight 0 or point them at the same encoder"
        )
    if any(f.modality != "text" for f in queries):
        raise ConfigError("query fields must be text for training (the pairs hold query texts)")
    return docs, queries


@dataclass
class FieldTowers:
    """Embeds queries and catalogue documents field by field with one encoder.

    Args:
        encoder: the loaded encoder being trained (`forward_texts` / `forward_images` carry gradients).
        doc_fields: document fields (weight > 0), read from the catalogue by `source`.
        query_fields: query fields (all read the query text).
        catalogue: doc_id -> {source column: text or image path}.
        images: how image paths resolve.
    """

    encoder: Encoder
    doc_fields: Sequence[FieldSpec]
    query_fields: Sequence[FieldSpec]
    catalogue: Mapping[str, Mapping[str, str]]
    images: ImageSpec = ImageSpec()

    @property
    def doc_weights(self) -> dict[str, float]:
        """Document field name -> weight."""
        return {f.name: f.weight for f in self.doc_fields}

    @property
    def query_weights(self) -> dict[str, float]:
        """Query field name -> weight."""
        return {f.name: f.weight for f in self.query_fields}

    def embed_queries(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Query field -> (n, dim) embeddings with autograd (every query field reads the query text)."""
        emb = self.encoder.forward_texts(list(texts))  # (n, dim)
        return {f.name: emb for f in self.query_fields}

    def embed_docs(self, doc_ids: Sequence[str]) -> dict[str, torch.Tensor]:
        """Document field -> (n, dim) embeddings with autograd; zero rows for documents lacking the field."""
        out = {}
        for spec in self.doc_fields:
            rows = [i for i, d in enumerate(doc_ids) if self.catalogue[d].get(spec.source)]
            values = [self.catalogue[doc_ids[i]][spec.source] for i in rows]
            emb = self._forward(spec, values) if rows else None
            if emb is None:
                out[spec.name] = torch.zeros(len(doc_ids), self.dim, device=self._device)
                continue
            full = emb.new_zeros(len(doc_ids), emb.shape[1])
            out[spec.name] = full.index_copy(0, torch.tensor(rows, device=emb.device), emb)
        return out

    @property
    def dim(self) -> int:
        return int(self.encoder.dim)

    @property
    def _device(self) -> str:
        return str(getattr(self.encoder, "device", "cpu"))

    def _forward(self, spec: FieldSpec, values: list[str]) -> torch.Tensor:
        if spec.modality == "text":
            return self.encoder.forward_texts(values)
        opened = open_images(values, allow_remote=self.images.allow_remote, root=self.images.root)
        for item in opened:
            if isinstance(item, InputFileError):
                raise item
        pixels = torch.stack([self.encoder.preprocess(image) for image in opened])  # type: ignore[attr-defined]
        return self.encoder.forward_images(pixels)  # type: ignore[attr-defined]

    def encode_catalogue(self, doc_ids: Sequence[str], batch_size: int, progress: bool = False) -> np.ndarray:
        """(n, dim) float32 fused unit vectors of documents (no grad; for dev retrieval)."""
        vectors, present = {}, {}
        for spec in self.doc_fields:
            mask = np.array([bool(self.catalogue[d].get(spec.source)) for d in doc_ids])
            values = [self.catalogue[d][spec.source] for d, m in zip(doc_ids, mask) if m]
            block = np.zeros((len(doc_ids), self.dim), dtype=np.float32)
            if values:
                block[mask] = self._encode(spec, values, batch_size, progress)
            vectors[spec.name], present[spec.name] = block, mask
        return fuse_fields(vectors, self.doc_weights, present)

    def encode_queries(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """(n, dim) float32 fused unit query vectors (no grad)."""
        emb = self.encoder.encode_texts(list(texts), batch_size=batch_size)
        return fuse_fields({f.name: emb for f in self.query_fields}, self.query_weights)

    def _encode(self, spec: FieldSpec, values: list[str], batch_size: int, progress: bool) -> np.ndarray:
        if spec.modality == "text":
            return self.encoder.encode_texts(values, batch_size=batch_size, progress=progress)
        return self.encoder.encode_images(
            values,
            batch_size=batch_size,
            progress=progress,  # type: ignore
            allow_remote=self.images.allow_remote,
            root=self.images.root,
        )
