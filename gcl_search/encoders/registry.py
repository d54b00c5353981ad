"""Load encoders by spec: the one place that maps a backend name to its module (imported lazily, so text-only
installs never import open_clip)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

from gcl_search.config import BACKENDS, Config, EncoderSpec
from gcl_search.encoders.base import Encoder
from gcl_search.errors import EncoderNotFound

# backend -> "module:loader"; a new backend is a new module plus one line here.
LOADERS: dict[str, str] = {
    "sentence-transformers": "gcl_search.encoders.sentence:load_sentence_transformer",
    "open_clip": "gcl_search.encoders.clip:load_open_clip",
}
# (backend, runtime) pairs that another module runs (the `[encoders.X] runtime` key); the default is torch.
RUNTIME_LOADERS: dict[tuple[str, str], str] = {
    ("sentence-transformers", runtime): "gcl_search.encoders.onnx:load_onnx_sentence_transformer"
    for runtime in ("auto", "onnx", "onnx-int8")
}


def load_encoder(spec: EncoderSpec) -> Encoder:
    """Load one encoder from an EncoderSpec.

    Raises:
        EncoderNotFound: unknown backend, or a model that cannot be found or downloaded.
        InputFileError: a local checkpoint that is missing, unsafe or does not fit.
        ConfigError: the requested device does not exist.
    """
    target = RUNTIME_LOADERS.get((spec.backend, spec.runtime)) or LOADERS.get(spec.backend)
    if target is None:
        raise EncoderNotFound(f"unknown encoder backend {spec.backend!r}; use one of: {', '.join(BACKENDS)}")
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)(spec)


def load_encoders(config: Config, names: Iterable[str] | None = None) -> dict[str, Encoder]:
    """Load the encoders the config's fields and query fields use (or only `names`), each once."""
    used = {spec.encoder for spec in (*config.fields, *config.query_fields)}
    wanted = sorted(used if names is None else set(names))
    missing = [name for name in wanted if name not in config.encoders]
    if missing:
        defined = ", ".join(sorted(config.encoders))
        raise EncoderNotFound(f"no [encoders.{missing[0]}] table; defined: {defined}")
    return {name: load_encoder(config.encoders[name]) for name in wanted}


def save_encoder(encoder: Encoder, out_dir: str | Path) -> EncoderSpec:
    """Save a (fine-tuned) encoder so `load_encoder` can read it back; returns the spec that does.

    sentence-transformers models are saved with their own `save` (a model directory; an ONNX-run encoder saves
    its torch model and keeps its runtime); open_clip models in open_clip's folder layout (`local-dir:`),
    weights as safetensors.
    """
    from gcl_search.encoders.clip import OpenClipEncoder, save_open_clip
    from gcl_search.encoders.onnx import OnnxSentenceEncoder
    from gcl_search.encoders.sentence import SentenceTransformerEncoder

    if isinstance(encoder, OpenClipEncoder):
        return save_open_clip(encoder, out_dir)
    if isinstance(encoder, (SentenceTransformerEncoder, OnnxSentenceEncoder)):
        out = Path(out_dir).resolve()
        encoder.model.save(str(out))
        return EncoderSpec(
            backend="sentence-transformers",
            model=str(out),
            name=encoder.name,
            runtime=getattr(encoder, "runtime", "torch"),
        )
    raise EncoderNotFound(
        f"cannot save encoder {encoder.name!r} of type {type(encoder).__name__}; "
        "supported: SentenceTransformerEncoder, OpenClipEncoder"
    )
