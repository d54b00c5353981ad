"""The encoder protocol every backend implements, and the helpers backends share.

An encoder turns texts (and, for image-text models, images) into L2-normalised float32 vectors of one
dimension. Training, ingestion and search all go through this protocol, so a new backend is one new module.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, Union, runtime_checkable

import numpy as np

from gcl_search.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from PIL import Image

# An image is a local path (str or PathLike; a URL only where remote images are allowed) or a PIL image.
ImageInput = Union[str, "os.PathLike[str]", "Image.Image"]


@runtime_checkable
class Encoder(Protocol):
    """What training, ingestion and search need from an encoder.

    Attributes:
        name: the encoder's name (its `[encoders.<name>]` key, or the model reference).
        dim: output dimension.
        modalities: what it embeds: {"text"} or {"text", "image"}.
        model: the underlying torch module (a SentenceTransformer or an open_clip model), for the trainer.
    """

    name: str
    dim: int
    modalities: frozenset[str]
    model: torch.nn.Module

    def encode_texts(
        self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Embed texts: float32 array of shape (len(texts), dim) with unit rows, in input order."""
        ...

    def encode_images(
        self, images: Sequence[ImageInput], batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Embed images (paths or PIL images): float32 (len(images), dim), unit rows, in input order.

        Raises:
            InputFileError: an image is missing, unreadable or corrupt (names the file).
            ConfigError: the encoder has no image tower.
        """
        ...


def resolve_device(device: str) -> str:
    """`auto` -> `cuda` when torch sees a GPU, else `cpu`; an explicit device is checked to exist."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device = {device!r} but torch sees no CUDA device; use device = 'auto' or 'cpu'")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device = 'mps' but torch sees no MPS device; use device = 'auto' or 'cpu'")
    return device


def autocast_dtype(device: str, precision: str) -> torch.dtype | None:
    """The inference autocast dtype: reduced precision on CUDA only (CPU autocast is slower, not faster)."""
    import torch

    if not device.startswith("cuda") or precision == "fp32":
        return None
    return torch.bfloat16 if precision == "bf16" else torch.float16


def inference_context(device: str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[None]:
    """`torch.inference_mode()` plus autocast to `dtype` when one is given."""
    import torch

    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode())
    if dtype is not None:
        stack.enter_context(torch.autocast(device_type=device.split(":")[0], dtype=dtype))
    return stack


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32 (all-zero rows stay zero rather than becoming NaN)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0).astype(np.float32)


def batches(n: int, batch_size: int, progress: bool, desc: str) -> Iterator[slice]:
    """Slices of `range(n)` of at most `batch_size`, with a tqdm bar on stderr when `progress`."""
    if batch_size < 1:
        raise ConfigError(f"batch_size = {batch_size} must be >= 1")
    starts = range(0, n, batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=desc, unit="batch", total=len(starts))
    for start in starts:
        yield slice(start, min(start + batch_size, n))


def text_only(encoder_name: str, backend: str) -> ConfigError:
    """The error for asking a text-only encoder to embed images."""
    return ConfigError(
        f"encoder {encoder_name!r} ({backend}) encodes text only; use an open_clip encoder for image fields"
    )
