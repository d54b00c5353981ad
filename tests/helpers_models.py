"""Tiny, offline, deterministic models for tests (no model hub exists in CI).

Reusable by every test suite (encoders, training, ingest, search):

- `tiny_st_model_dir(tmp_path)`: a saved sentence-transformers model (a 2-layer BERT of width 32 over a
  hand-written WordPiece vocabulary, mean pooling). Its transformer pads and masks like a real one, so
  batch-size invariance is a real test; StaticEmbedding would not exercise that.
- `tiny_clip_spec()`: an `EncoderSpec` for the `tiny_clip` open_clip architecture (tests/data/tiny_clip.json,
  registered with `open_clip.add_model_config`, random weights with `pretrained=None`).
- `make_images(directory, n)`: small generated RGB PNGs, distinct per index.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gcl_search.config import EncoderSpec

DATA = Path(__file__).resolve().parent / "data"
TINY_CLIP_JSON = DATA / "tiny_clip.json"
TINY_CLIP_ARCH = TINY_CLIP_JSON.stem

_WORDS = (
    "laptop notebook computer tablet phone smartphone mouse keyboard monitor screen display printer ink "
    "toner cable usb hdmi charger battery power adapter case bag black white red blue silver grey wireless "
    "bluetooth gaming office portable mini pro max ultra inch gb tb ssd hdd memory ram card camera lens "
    "headphones speaker audio video tv router network switch hp dell lenovo apple samsung asus acer canon "
    "epson logitech sony lg philips the a for with and of in to"
).split()


def _write_vocab(path: Path) -> None:
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces = [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,-/")
    path.write_text("\n".join(special + _WORDS + chars + pieces) + "\n", encoding="utf-8")


def tiny_st_model_dir(tmp_path: Path, seed: int = 0) -> Path:
    """Build (once per directory) and save a tiny sentence-transformers model; returns its directory."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = Path(tmp_path) / "tiny-st"
    if (out / "modules.json").is_file():
        return out
    hf_dir = Path(tmp_path) / "tiny-bert"
    hf_dir.mkdir(parents=True, exist_ok=True)
    _write_vocab(hf_dir / "vocab.txt")
    # `vocab=`, not `vocab_file=`: under transformers 5 the latter builds a 5-token tokenizer that maps every
    # word to [UNK], and the vectors would depend on text length only.
    tokenizer = BertTokenizerFast(vocab=str(hf_dir / "vocab.txt"), do_lower_case=True)
    # Ids follow vocab.txt's lines, and a piece listed twice keeps its last line: size by the largest id.
    vocab_size = max(tokenizer.get_vocab().values()) + 1
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    transformer = Transformer(str(hf_dir), max_seq_length=32)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(out))
    return out


def tiny_clip_spec(**overrides: object) -> EncoderSpec:
    """An `EncoderSpec` for the tiny random open_clip model (registers the architecture on first use)."""
    register_tiny_clip()
    values: dict[str, object] = {
        "backend": "open_clip",
        "model": TINY_CLIP_ARCH,
        "device": "cpu",
        "batch_size": 8,
    }
    values.update(overrides)
    return EncoderSpec(**values)  # type: ignore[arg-type]


def register_tiny_clip() -> None:
    """Register tests/data/tiny_clip.json with open_clip (idempotent)."""
    import open_clip

    if TINY_CLIP_ARCH not in open_clip.list_models():
        open_clip.add_model_config(str(TINY_CLIP_JSON))


def make_images(directory: Path, n: int, size: int = 40) -> list[Path]:
    """Write `n` distinct generated RGB PNGs (gradients plus a per-index colour); returns their paths."""
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    paths = []
    for i in range(n):
        base = rng.integers(0, 256, size=3)
        ramp = np.linspace(0, 255, size, dtype=np.float64)[None, :, None]
        pixels = np.clip(base[None, None, :] * 0.5 + ramp * ((i % 3) + 1) / 3, 0, 255).astype(np.uint8)
        pixels = np.broadcast_to(pixels, (size, size, 3)).copy()
        path = directory / f"img_{i}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths
