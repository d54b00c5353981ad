"""Embedding a query once per encoder, and validating per-request weights.

A query may have several fields of its own (`[[query_fields]]`: a text field, an image field) with their own
weights. For each document field f, `q_f` fuses the query fields that share f's encoder
(`gcl_search.fields.query_vectors_for_fields`), so an encoder runs once per query however many document
fields use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from gcl_search.config import Config, FieldSpec
from gcl_search.encoders.base import Encoder, ImageInput
from gcl_search.errors import ConfigError
from gcl_search.field_weights import check_weights
from gcl_search.fields import encode_records, query_vectors_for_fields


def query_field_specs(config: Config) -> tuple[FieldSpec, ...]:
    """The config's query fields, or one text query field per encoder the document fields use."""
    if config.query_fields:
        return tuple(config.query_fields)
    encoders = dict.fromkeys(spec.encoder for spec in config.fields)
    return tuple(
        FieldSpec(name=f"query_{name}", encoder=name, modality="text", source="query") for name in encoders
    )


class QueryEmbedder:
    """Embeds a (text, image) query into one vector per document field.

    Args:
        config: the config (document fields and query fields).
        encoders: encoder name -> loaded Encoder, for every encoder the document fields use.
    """

    def __init__(self, config: Config, encoders: Mapping[str, Encoder]):
        self.config = config
        self.encoders = encoders
        self.query_fields = query_field_specs(config)
        missing = sorted({s.encoder for s in config.fields} - set(encoders))
        if missing:
            raise ConfigError(
                f"encoder {missing[0]!r} is not loaded; load every encoder the config's fields "
                "use (gcl_search.encoders.registry.load_encoders(config))"
            )

    def embed(
        self,
        text: str | None = None,
        image: ImageInput | None = None,
        query_weights: Mapping[str, float] | None = None,
    ) -> dict[str, np.ndarray]:
        """Document field -> `q_f` (float32 (dim,), unit, or zeros when no query field of its encoder is
        present, e.g. an image-only query for a text encoder).

        Args:
            text: the query text (whitespace-only counts as absent).
            image: a query image (path or PIL image), for image query fields.
            query_weights: query field name -> weight (default: each query field's configured weight).

        Raises:
            ConfigError: no text and no image; an unknown or invalid query weight; or the query has a value
                only for fields the config does not declare (an image with no image query field).
        """
        text = text.strip() if isinstance(text, str) else None
        if not text and image is None:
            raise ConfigError("the query has neither text nor an image; pass text=... or image=...")
        record = self._record(text or None, image)
        weights = _check_query_weights(query_weights, self.query_fields)
        encoded = encode_records(
            [record], self.query_fields, self.encoders, id_key=None, on_error="skip_field"
        )
        if not len(encoded):
            reasons = "; ".join(str(e) for e in encoded.errors) or "no query field has a value"
            raise ConfigError(
                f"cannot embed the query ({reasons}); the query fields are "
                f"{', '.join(f'{q.name} ({q.modality})' for q in self.query_fields)}"
            )
        present = [q.name for q in self.query_fields if encoded.present[q.name][0]]
        if not any(weights.get(name, 0.0) > 0 for name in present):
            raise ConfigError(
                f"cannot embed the query (only zero-weight query fields present: "
                f"{', '.join(present)}); give one of them a weight > 0"
            )
        vectors = query_vectors_for_fields(encoded, self.query_fields, self.config.fields, weights)
        return {name: np.asarray(vec[0], dtype=np.float32) for name, vec in vectors.items()}

    def _record(self, text: str | None, image: ImageInput | None) -> dict[str, object]:
        wanted = {"text": text, "image": image}
        if image is not None and not any(q.modality == "image" for q in self.query_fields):
            raise ConfigError(
                "an image query needs an image query field; add a [[query_fields]] table with "
                'modality = "image" and an open_clip encoder'
            )
        return {q.source: wanted[q.modality] for q in self.query_fields if wanted[q.modality] is not None}


def _check_query_weights(weights: Mapping[str, float] | None, specs: Sequence[FieldSpec]) -> dict[str, float]:
    """Query field -> weight for every query field: the configured weights, overridden by `weights`."""
    checked = check_weights(weights or {}, [q.name for q in specs], "query weight")
    return {q.name: checked.get(q.name, float(q.weight)) for q in specs}


def check_field_weights(
    weights: Mapping[str, float] | None,
    field_names: Sequence[str],
    defaults: Mapping[str, float],
    allow_all_zero: bool = False,
) -> dict[str, float]:
    """Per-document-field weights for one request: the defaults, overridden by `weights`.

    Args:
        weights: field -> weight >= 0 for this request (fields left out keep their default).
        field_names: the index's dense fields.
        defaults: field -> default weight (the config's `[[fields]] weight`).
        allow_all_zero: accept all-zero weights (a lexical-only request).

    Returns:
        field -> weight for every dense field.

    Raises:
        ConfigError: an unknown field (the message lists the known ones), a negative, non-finite or
            non-numeric weight, or all weights 0 when not allowed.
    """
    out = {name: float(defaults.get(name, 0.0)) for name in field_names}
    out.update(check_weights(weights or {}, field_names))
    if not allow_all_zero and not any(w > 0 for w in out.values()):
        raise ConfigError(
            "every field weight is 0, so nothing would be scored; give a field a weight > 0, "
            "or add a lexical component"
        )
    return out
