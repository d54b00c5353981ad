"""Trained-model outputs that load elsewhere, each with a short model card (README.md).

- sentence-transformers: a model directory, `SentenceTransformer(path)`.
- open_clip: `open_clip_model.pt` (`{"state_dict": ...}`, tensors only), loadable with
  `open_clip.create_model(arch, pretrained=path)`, plus open_clip's folder layout (`open_clip_config.json` +
  `open_clip_model.safetensors`) that `gcl_search` loads with `model = "local-dir:<dir>"`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch

from gcl_search.encoders.base import Encoder
from gcl_search.encoders.clip import OpenClipEncoder, save_open_clip
from gcl_search.losses.gcl import CITATION

OPEN_CLIP_CHECKPOINT = "open_clip_model.pt"


def export_model(encoder: Encoder, out_dir: str | Path, card: Mapping[str, object]) -> Path:
    """Write the encoder's model to `out_dir` in its backend's native format, plus README.md.

    Args:
        encoder: the trained encoder.
        out_dir: target directory (created).
        card: model-card facts: `base_model`, `data`, `config` (dict), `metrics` (dict), `arch` (open_clip).

    Returns:
        The directory.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(encoder, OpenClipEncoder):
        save_open_clip(encoder, out)
        state = {k: v.detach().cpu().contiguous() for k, v in encoder.model.state_dict().items()}
        torch.save({"state_dict": state}, out / OPEN_CLIP_CHECKPOINT)
        usage = (
            f"import open_clip\nmodel = open_clip.create_model({card.get('arch')!r}, "
            f"pretrained='{out / OPEN_CLIP_CHECKPOINT}')"
        )
    else:
        encoder.model.save(str(out), create_model_card=False)
        usage = f"from sentence_transformers import SentenceTransformer\nmodel = SentenceTransformer('{out}')"
    (out / "README.md").write_text(model_card(card, usage), encoding="utf-8")
    return out


def model_card(card: Mapping[str, object], usage: str) -> str:
    """A short Markdown model card: base model, data, metrics, config, usage, citation."""
    metrics = card.get("metrics") or {}
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in metrics.items() if isinstance(v, float)) or "| - | - |"
    config = json.dumps(card.get("config", {}), indent=2, default=str)
    return f"""# {card.get("name", "GCL fine-tuned encoder")}

Fine-tuned with Generalized Contrastive Learning (GCL, arXiv 2404.08535) by `gcl-search train`.

- Base model: `{card.get("base_model", "?")}`
- Training data: {card.get("data", "?")}
- Dev evaluation: exact cosine search over the whole catalogue, dev queries held out by query.

## Dev metrics

| metric | value |
|---|---|
{rows}

## Usage

```python
{usage}
```

## Training config

```json
{config}
```

## Citation

```bibtex
{CITATION}
```
"""
