"""OpenClipEncoder: text and image fields through one open_clip model (its text and image towers).

Checkpoints are read safely: safetensors, or `torch.load(weights_only=True)`, which refuses pickled objects.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gcl_search.config import EncoderSpec
from gcl_search.encoders.base import (
    ImageInput,
    autocast_dtype,
    batches,
    inference_context,
    l2_normalise,
    resolve_device,
)
from gcl_search.encoders.images import open_images
from gcl_search.errors import EncoderNotFound, InputFileError

if TYPE_CHECKING:
    import torch
    from PIL import Image

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"


class OpenClipEncoder:
    """An open_clip model behind the `Encoder` protocol: `encode_texts` uses the text tower, `encode_images`
    the image tower (same embedding space).

    Args:
        model: the open_clip model (put in eval mode here).
        preprocess: the model's eval image transform (PIL image -> tensor).
        tokenizer: the model's tokenizer (list of str -> LongTensor).
        name: the encoder's name.
        device: the torch device the model sits on.
        precision: `auto`, `fp32`, `fp16` or `bf16` (autocast on CUDA only).
        batch_size: default inputs per forward pass.
        model_cfg: the architecture config (what `save_open_clip` writes next to the weights).
        loader_workers: threads that open and decode images.
    """

    modalities = frozenset({"text", "image"})

    def __init__(
        self,
        model: torch.nn.Module,
        preprocess: Callable[[Image.Image], torch.Tensor],
        tokenizer: Callable[[list[str]], torch.Tensor],
        name: str,
        device: str,
        precision: str = "auto",
        batch_size: int = 64,
        model_cfg: Mapping[str, object] | None = None,
        loader_workers: int = 4,
    ):
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.name = name
        self.device = device
        self.batch_size = batch_size
        self.model_cfg = dict(model_cfg or {})
        self.loader_workers = loader_workers
        self._dtype = autocast_dtype(device, precision)
        self.dim = int(self.encode_texts([""]).shape[1])

    def encode_texts(
        self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Embed texts with the text tower: float32 (len(texts), dim), unit rows, in input order."""
        out = []
        for part in batches(len(texts), batch_size or self.batch_size, progress, f"{self.name} texts"):
            tokens = self.tokenizer(list(texts[part])).to(self.device)
            with inference_context(self.device, self._dtype):
                out.append(self.model.encode_text(tokens).float().cpu().numpy())
        return l2_normalise(np.concatenate(out)) if out else np.zeros((0, self.dim), np.float32)

    def encode_images(
        self,
        images: Sequence[ImageInput],
        batch_size: int | None = None,
        progress: bool = False,
        *,
        allow_remote: bool = False,
        root: str | Path | None = None,
    ) -> np.ndarray:
        """Embed images (paths or PIL images) with the image tower: float32 (len(images), dim), unit rows.

        Raises:
            InputFileError: the first image that is missing, unreadable or corrupt (use
                `gcl_search.fields.encode_records` for per-record errors instead).
        """
        import torch

        out = []
        for part in batches(len(images), batch_size or self.batch_size, progress, f"{self.name} images"):
            opened = open_images(
                images[part], allow_remote=allow_remote, root=root, workers=self.loader_workers
            )
            for item in opened:
                if isinstance(item, InputFileError):
                    raise item
            pixels = torch.stack([self.preprocess(image) for image in opened]).to(self.device)
            with inference_context(self.device, self._dtype):
                out.append(self.model.encode_image(pixels).float().cpu().numpy())
        return l2_normalise(np.concatenate(out)) if out else np.zeros((0, self.dim), np.float32)

    def forward_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Unnormalised (len(texts), dim) text features with autograd enabled (training)."""
        return self.model.encode_text(self.tokenizer(list(texts)).to(self.device))

    def forward_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """Unnormalised (n, dim) image features from preprocessed pixels, autograd enabled (training)."""
        return self.model.encode_image(pixels.to(self.device))


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint's state dict without executing pickled code.

    Accepts safetensors, a bare state dict, an open_clip training checkpoint (`{"state_dict": ...}`, as GCL's
    released `*_states.pt` and our trainer write) or `{"model": ...}`, with or without DDP `module.` prefixes.

    Raises:
        InputFileError: missing file, a pickle that holds Python objects (refused), or no state dict inside.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, None, "checkpoint file not found; check [encoders.<name>] pretrained")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            checkpoint: object = load_file(str(path), device="cpu")
        else:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise InputFileError(
            path,
            None,
            "refused to load: the checkpoint pickles Python objects, and only "
            "tensors are loaded (weights_only=True). Re-save its state_dict, or convert it "
            "to safetensors, in an environment you trust",
        ) from err
    except (OSError, RuntimeError, ValueError) as err:
        raise InputFileError(path, None, f"cannot read the checkpoint ({err})") from err
    return _unwrap(checkpoint, path)


def _unwrap(checkpoint: object, path: Path) -> dict[str, torch.Tensor]:
    import torch

    for key in ("state_dict", "model"):
        if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get(key), Mapping):
            checkpoint = checkpoint[key]
    if (
        not isinstance(checkpoint, Mapping)
        or not checkpoint
        or not all(isinstance(v, torch.Tensor) for v in checkpoint.values())
    ):
        raise InputFileError(
            path,
            None,
            "no state dict found (expected tensors, or a 'state_dict' or 'model' entry holding them)",
        )
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in checkpoint.items()}


def apply_state_dict(
    model: torch.nn.Module, state_dict: dict[str, torch.Tensor], path: Path, arch: str
) -> None:
    """Load weights into `model`, adapting positional embeddings and logit_scale shape as open_clip does."""
    from open_clip.factory import resize_pos_embed, resize_text_pos_embed

    scale = getattr(model, "logit_scale", None)
    if scale is not None and "logit_scale" in state_dict:
        state_dict["logit_scale"] = state_dict["logit_scale"].reshape(scale.shape)
    resize_pos_embed(state_dict, model)
    resize_text_pos_embed(state_dict, model)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[:3]
        raise InputFileError(
            path,
            None,
            f"weights do not fit architecture {arch!r}: {' '.join(first)}; "
            "set [encoders.<name>] model to the architecture the checkpoint was trained "
            "with",
        ) from err


def _is_checkpoint_path(pretrained: str) -> bool:
    return Path(pretrained).suffix in CHECKPOINT_SUFFIXES or "/" in pretrained or Path(pretrained).exists()


def load_open_clip(spec: EncoderSpec) -> OpenClipEncoder:
    """Load the model an `open_clip` EncoderSpec names (architecture + tag or checkpoint, `hf-hub:`,
    `local-dir:`).

    Raises:
        EncoderNotFound: unknown architecture, or a hub download that fails (offline, unknown tag).
        InputFileError: a local checkpoint that is missing, unsafe or does not fit the architecture.
    """
    import open_clip

    device = resolve_device(spec.device)
    arch = spec.model
    checkpoint = spec.pretrained if spec.pretrained and _is_checkpoint_path(spec.pretrained) else None
    tag = None if checkpoint else spec.pretrained
    if ":" not in arch and arch not in open_clip.list_models():
        raise EncoderNotFound(
            f"model = {arch!r} is not an open_clip architecture; see "
            "open_clip.list_models(), or use hf-hub:<org>/<repo> or local-dir:<directory>"
        )
    state_dict = read_state_dict(checkpoint) if checkpoint else None
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            arch, pretrained=tag, device="cpu", weights_only=True
        )
        tokenizer = open_clip.get_tokenizer(arch)
        model_cfg = open_clip.get_model_config(arch) or {}
    except (OSError, RuntimeError, ValueError) as err:
        raise EncoderNotFound(
            f"cannot load open_clip {arch!r} (pretrained={tag!r}): {err}. Hub tags and "
            "hf-hub: ids need network access; offline, give a local checkpoint file or "
            "local-dir:<directory>"
        ) from err
    if state_dict is not None:
        apply_state_dict(model, state_dict, Path(checkpoint or ""), arch)
    return OpenClipEncoder(
        model.to(device),
        preprocess,
        tokenizer,
        name=spec.name or arch,
        device=device,
        precision=spec.precision,
        batch_size=spec.batch_size,
        model_cfg=model_cfg,
    )


def save_open_clip(encoder: OpenClipEncoder, out_dir: str | Path) -> EncoderSpec:
    """Write an open_clip model in open_clip's folder layout (config JSON + safetensors weights).

    Our trainer writes its output this way; load it back with the returned spec (`model = "local-dir:<dir>"`).
    """
    from open_clip.model import get_model_preprocess_cfg
    from safetensors.torch import save_file

    if not encoder.model_cfg:
        raise EncoderNotFound(
            f"encoder {encoder.name!r} has no architecture config to save; load it with "
            "load_open_clip so the config is known"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": encoder.model_cfg, "preprocess_cfg": get_model_preprocess_cfg(encoder.model)}
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")
    weights = {k: v.detach().cpu().contiguous() for k, v in encoder.model.state_dict().items()}
    save_file(weights, str(out / WEIGHTS_FILE))
    return EncoderSpec(backend="open_clip", model=f"local-dir:{out.resolve()}", name=encoder.name)
