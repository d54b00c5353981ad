"""Export a SentenceTransformer to ONNX once, into a cache keyed by the model's content.

The graph is the model's own module chain (Transformer, then Pooling, Dense, Normalize, ... as listed in its
modules.json) traced by the TorchScript exporter, so pooling and normalisation are the model's, not assumed.
Each export is checked against torch on probe texts before it is published: a cache entry is a directory that
appears whole (written under a temporary name, then renamed) or not at all.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from gcl_search.errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

INSTALL_HINT = "pip install 'gcl-search[onnx]' (onnxruntime and onnx)"
OPSET = 17
# Bumped when the export changes, so old cache entries are not reused.
EXPORT_VERSION = "1"
MODEL_FILE = "model.onnx"
META_FILE = "meta.json"
# Module classes whose forward is plain tensor code (traced faithfully); anything else is refused.
EXPORTABLE = ("Transformer", "Pooling", "Dense", "Normalize", "Dropout", "LayerNorm")
# Verification texts: one padded batch of very different lengths, including one past any max_seq_length.
PROBES = (
    "usb",
    "black laptop bag 15.6 inch with shoulder strap",
    "a",
    "HP 953XL high yield black original ink cartridge for OfficeJet Pro 8210 8710 8720 printers",
    " ".join(["wireless ergonomic keyboard and mouse set"] * 80),
)


def import_onnxruntime() -> ModuleType:
    """onnxruntime, or a ConfigError saying what to install."""
    try:
        import onnxruntime
    except ImportError as err:
        raise ConfigError(
            f"runtime = 'onnx' needs onnxruntime, which is not installed ({err}): "
            f"{INSTALL_HINT}; or use runtime = 'torch'"
        ) from err
    return onnxruntime


def cache_root() -> Path:
    """$GCL_SEARCH_ONNX_CACHE, else $XDG_CACHE_HOME/gcl-search/onnx, else ~/.cache/gcl-search/onnx."""
    if os.environ.get("GCL_SEARCH_ONNX_CACHE"):
        return Path(os.environ["GCL_SEARCH_ONNX_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gcl-search" / "onnx"


def check_exportable(model: SentenceTransformer, name: str, prompt: str | None) -> None:
    """Refuse (ConfigError) a model whose module chain the export would not reproduce."""
    for i, module in enumerate(model):
        kind = type(module).__name__
        if kind not in EXPORTABLE or not type(module).__module__.startswith("sentence_transformers."):
            raise ConfigError(
                f"encoder {name!r}: runtime = 'onnx' cannot export module {i} ({kind}); it "
                f"exports {', '.join(EXPORTABLE)}. Use runtime = 'torch' for this model"
            )
        if kind == "Pooling" and prompt and not getattr(module, "include_prompt", True):
            raise ConfigError(
                f"encoder {name!r}: its pooling excludes the prompt {prompt!r} (include_prompt"
                " = false), which the ONNX export does not reproduce; use runtime = 'torch'"
            )


def model_key(model: SentenceTransformer) -> str:
    """A content hash of everything the graph is made of: each module's type and config, the transformer's
    architecture config, and every weight tensor's bytes. The same files always give the same key; a changed
    weight, pooling mode, Dense layer or config gives a new one (and so a new export)."""
    import torch

    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"export {EXPORT_VERSION} opset {OPSET}\n".encode())
    for i, module in enumerate(model):
        config = module.get_config_dict() if hasattr(module, "get_config_dict") else {}
        hf_config = getattr(getattr(module, "auto_model", None), "config", None)
        digest.update(
            f"{i} {type(module).__module__}.{type(module).__qualname__} "
            f"{json.dumps(config, sort_keys=True, default=str)}\n".encode()
        )
        if hf_config is not None:
            digest.update(hf_config.to_json_string(use_diff=False).encode())
    for key, tensor in model.state_dict().items():
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{key} {flat.dtype} {tuple(tensor.shape)}\n".encode())
        digest.update(flat.view(torch.uint8).numpy().data)
    return digest.hexdigest()


def exported_model(
    model: SentenceTransformer,
    name: str,
    int8: bool,
    verify: Callable[[Path], float],
    cache_dir: Path | None = None,
) -> Path:
    """The path of the cached ONNX file for `model` (fp32, or dynamically quantised int8), exporting first
    when the cache has none.

    Args:
        model: the loaded SentenceTransformer (put in eval mode, on CPU).
        name: the encoder's name, for messages.
        int8: the int8 variant (quantised from the fp32 export).
        verify: given a candidate file, returns the lowest cosine between its vectors and torch's on probe
            texts; an fp32 export below 0.9999 is refused.
        cache_dir: the cache root (default `cache_root()`).
    """
    root = cache_dir or cache_root()
    key = model_key(model)
    fp32_dir = root / key
    if not (fp32_dir / MODEL_FILE).is_file():
        _publish(fp32_dir, lambda tmp: _export(model, name, tmp, verify))
    if not int8:
        return fp32_dir / MODEL_FILE
    int8_dir = root / f"{key}-int8"
    if not (int8_dir / MODEL_FILE).is_file():
        _publish(int8_dir, lambda tmp: _quantize(fp32_dir / MODEL_FILE, tmp, verify))
    return int8_dir / MODEL_FILE


def _publish(target: Path, build: Callable[[Path], dict]) -> None:
    """Build into a temporary sibling directory, then rename it to `target` (atomic on one filesystem);
    on any failure the temporary directory is removed, so no partial entry is ever visible."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide a shared cache entry
        meta = build(tmp)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / MODEL_FILE).is_file():  # not a concurrent export that won the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _export(model: SentenceTransformer, name: str, out_dir: Path, verify: Callable[[Path], float]) -> dict:
    import torch

    check_onnx_installed()
    start = time.perf_counter()
    print(
        f"exporting encoder {name!r} to ONNX (first use of this model; cached in {out_dir.parent})",
        file=sys.stderr,
    )
    prepare = getattr(model, "preprocess", None) or model.tokenize
    # A padded batch: transformers drops an all-ones attention mask, so tracing one would lose the mask.
    features = prepare(list(PROBES[:4]))
    names = [k for k, v in features.items() if isinstance(v, torch.Tensor)]
    wrapper = _chain(model, names)
    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    # torch >= 2.5 defaults to the dynamo exporter (needs onnxscript); ask for the TorchScript one.
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and deprecation chatter; the verification below decides
            torch.onnx.export(
                wrapper,
                tuple(features[n] for n in names),
                str(out_dir / MODEL_FILE),
                input_names=names,
                output_names=["sentence_embedding"],
                dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
                opset_version=OPSET,
                do_constant_folding=True,
                **legacy,
            )
    except Exception as err:  # the exporter raises many types; each means "this model does not export"
        raise ConfigError(
            f"encoder {name!r}: torch.onnx.export failed ({type(err).__name__}: {err}); use "
            "runtime = 'torch' for this model"
        ) from err
    cosine = verify(out_dir / MODEL_FILE)
    if cosine < 0.9999:
        raise ConfigError(
            f"encoder {name!r}: the ONNX export does not reproduce the torch model (lowest "
            f"cosine {cosine:.6f} on probe texts); use runtime = 'torch' for this model"
        )
    return {
        "encoder": name,
        "modules": [type(m).__name__ for m in model],
        "inputs": names,
        "opset": OPSET,
        "torch": torch.__version__,
        "min_cosine_vs_torch": cosine,
        "export_s": round(time.perf_counter() - start, 1),
    }


def _quantize(fp32: Path, out_dir: Path, verify: Callable[[Path], float]) -> dict:
    check_onnx_installed()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel MatMul weights: mean cosine to torch 0.993 on Icecat titles, vs 0.959 for onnxruntime's
    # per-tensor default (which also quantises the embedding table); see benchmarks/results/encode.txt.
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # the quantiser logs a pre-processing hint on root
    try:
        quantize_dynamic(
            str(fp32),
            str(out_dir / MODEL_FILE),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
    finally:
        root.level = level
    return {
        "quantised_from": str(fp32),
        "weights": "int8 MatMul weights, per channel (dynamic)",
        "min_cosine_vs_torch": verify(out_dir / MODEL_FILE),
    }


def check_onnx_installed() -> None:
    """The export needs the `onnx` package as well (the exporter and the quantiser write with it)."""
    try:
        import onnx  # noqa: F401
    except ImportError as err:
        raise ConfigError(f"exporting to ONNX needs the onnx package ({err}): {INSTALL_HINT}") from err


def _chain(model: SentenceTransformer, names: list[str]):
    """The SentenceTransformer's modules in order, over positional tensor inputs (what the exporter traces),
    returning the sentence embedding."""
    import torch

    class Chain(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.chain = torch.nn.ModuleList(list(model))

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            features: dict = dict(zip(names, inputs))
            for module in self.chain:
                features = module(features)
            return features["sentence_embedding"]

    return Chain().eval()
