"""End-to-end training of tiny offline models (sentence-transformers and open_clip): the loss drops,
outputs load with their libraries' own loaders, resume is exact, bf16 autocast runs on CPU, bad resumes are
refused."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers_models import TINY_CLIP_ARCH, make_images, register_tiny_clip, tiny_st_model_dir  # noqa: E402

from gcl_search.config import EncoderSpec, parse_config  # noqa: E402
from gcl_search.errors import ConfigError, InputFileError  # noqa: E402
from gcl_search.training.batches import PairSampler  # noqa: E402
from gcl_search.training.setup import prepare  # noqa: E402
from gcl_search.training.spec import DataSpec, TrainConfig, TrainSpec  # noqa: E402
from gcl_search.training.towers import load_trainable  # noqa: E402
from gcl_search.training.trainer import train  # noqa: E402

pytestmark = pytest.mark.slow

WORDS = "laptop tablet phone mouse keyboard monitor printer cable charger bag".split()
COLOURS = ["black", "white", "red"]


def write_pairs(tmp: Path, with_images: bool = False) -> DataSpec:
    """30 products; queries `<thing>` (black: score 3, other colours: 1) and `<colour> <thing>` (score 3),
    plus one judged-irrelevant product per thing query."""
    images = make_images(tmp / "img", len(WORDS) * len(COLOURS)) if with_images else []
    cat, triples = [], []
    for i, (w, c) in enumerate((w, c) for w in WORDS for c in COLOURS):
        row = {"doc_id": f"d{i}", "title": f"{c} {w}", "description": f"a {c} {w} for the office"}
        if with_images:
            row["image"] = str(images[i])
        cat.append(row)
        triples.append({"query": w, "doc_id": f"d{i}", "score": 3 if c == "black" else 1})
        triples.append({"query": f"{c} {w}", "doc_id": f"d{i}", "score": 3})
    for j, w in enumerate(WORDS):
        triples.append({"query": w, "doc_id": f"d{(3 * j + 5) % len(cat)}", "score": 0})
    (tmp / "cat.jsonl").write_text("".join(json.dumps(r) + "\n" for r in cat))
    (tmp / "triples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in triples))
    return DataSpec(
        source="pairs",
        triples=str(tmp / "triples.jsonl"),
        catalogue=str(tmp / "cat.jsonl"),
        dev_fraction=0.2,
        negatives_per_row=1,
    )


def st_recipe(tmp: Path, **train: object) -> TrainConfig:
    model = tiny_st_model_dir(tmp)
    config = parse_config(
        {
            "encoders": {"m": {"backend": "sentence-transformers", "model": str(model), "device": "cpu"}},
            "fields": [
                {"name": "title", "encoder": "m", "weight": 0.7},
                {"name": "description", "encoder": "m", "weight": 0.3},
            ],
        }
    )
    values = {
        "output_dir": str(tmp / "run"),
        "epochs": 4,
        "batch_size": 8,
        "lr": 5e-3,
        "warmup_ratio": 0.0,
        "data": write_pairs(tmp),
        **train,
    }
    return TrainConfig(config, TrainSpec(**values))


def clip_recipe(tmp: Path, **train: object) -> TrainConfig:
    register_tiny_clip()
    config = parse_config(
        {
            "encoders": {"c": {"backend": "open_clip", "model": TINY_CLIP_ARCH, "device": "cpu"}},
            "fields": [
                {"name": "image", "modality": "image", "encoder": "c", "weight": 0.9},
                {"name": "title", "encoder": "c", "weight": 0.1},
            ],
        }
    )
    values = {
        "output_dir": str(tmp / "run"),
        "epochs": 4,
        "batch_size": 8,
        "lr": 2e-3,
        "warmup_ratio": 0.0,
        "data": write_pairs(tmp, with_images=True),
        **train,
    }
    return TrainConfig(config, TrainSpec(**values))


def full_batch_loss(tc: TrainConfig, encoder_spec: EncoderSpec | None = None) -> float:
    """The GCL loss of all training positives as one batch, model in eval mode (no dropout)."""
    setup = prepare(tc)
    if encoder_spec is not None:
        setup.towers.encoder = load_trainable(encoder_spec)
    setup.towers.encoder.model.eval()
    sampler = PairSampler(setup.train, batch_size=len(setup.train), seed=0)
    batch = next(iter(sampler.epoch(0)))
    with torch.no_grad():
        return float(
            setup.loss_fn.compute_loss(
                setup.towers.embed_queries(batch.queries),
                setup.towers.embed_docs(batch.doc_ids),
                batch.scores,
                known_positive=batch.known_positive,
            )
        )


def test_sentence_transformer_trains_exports_and_refuses_overwrite(tmp_path):
    from sentence_transformers import SentenceTransformer

    tc = st_recipe(tmp_path)
    before = full_batch_loss(tc)
    result = train(tc, progress=False)
    final = result.output_dir / "final"
    after = full_batch_loss(tc, EncoderSpec(backend="sentence-transformers", model=str(final), device="cpu"))
    # The tiny random BERT maps every text to nearly the same vector (cosine ~0.94), so the loss moves slowly;
    # the run is seeded and deterministic, so a small margin is a stable check.
    assert after < before - 0.005, (before, after)
    assert result.finished and result.best and len(result.history["epochs"]) == 4
    assert result.model_dir in (result.output_dir / "best", final)
    for name in ("train_config.json", "history.json", "curves.png", "DONE.json"):
        assert (result.output_dir / name).is_file(), name
    card = (result.model_dir / "README.md").read_text()
    assert "ndcg@10" in card and '"weighting": "linear"' in card
    loaded = SentenceTransformer(str(result.output_dir / "final"), device="cpu")
    ours = load_trainable(
        EncoderSpec(backend="sentence-transformers", model=str(result.output_dir / "final"), device="cpu")
    )
    np.testing.assert_allclose(
        loaded.encode(["red laptop"], normalize_embeddings=True), ours.encode_texts(["red laptop"]), atol=1e-5
    )
    with pytest.raises(ConfigError, match="finished run"):
        train(tc, progress=False)


def test_resume_is_exact_and_a_corrupt_checkpoint_is_refused(tmp_path):
    straight = train(st_recipe(tmp_path / "a", epochs=2, eval_each_epoch=False), progress=False)
    tc = st_recipe(tmp_path / "b", epochs=2, eval_each_epoch=False)
    stopped = train(tc, progress=False, stop_after=5)  # mid-epoch (7 batches per epoch)
    assert not stopped.finished
    with pytest.raises(ConfigError, match="unfinished run"):
        train(tc, progress=False)
    resumed = train(tc, resume=True, progress=False)
    assert resumed.finished
    n_steps = len(straight.history["steps"])
    assert [step for step, _ in resumed.history["steps"]] == list(range(1, n_steps + 1))
    assert [loss for _, loss in resumed.history["steps"]] == [loss for _, loss in straight.history["steps"]]
    a = torch.load(straight.output_dir / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(resumed.output_dir / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)

    tc_c = st_recipe(tmp_path / "c", epochs=2, eval_each_epoch=False)
    train(tc_c, progress=False, stop_after=2)
    last = Path(tc_c.train.output_dir) / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(InputFileError, match="last.pt.*corrupt"):
        train(tc_c, resume=True, progress=False)


def test_bf16_autocast_and_grad_cache_run_on_cpu(tmp_path):
    tc = st_recipe(tmp_path, precision="bf16", grad_cache_chunk=3, epochs=1, eval_each_epoch=False)
    result = train(tc, progress=False)
    losses = [loss for _, loss in result.history["steps"]]
    assert losses and all(np.isfinite(losses))


def test_open_clip_trains_and_loads_with_create_model(tmp_path):
    import open_clip

    tc = clip_recipe(tmp_path, eval_each_epoch=False, grad_cache_chunk=4)
    before = full_batch_loss(tc)
    result = train(tc, progress=False)
    final = result.output_dir / "final"
    after = full_batch_loss(tc, EncoderSpec(backend="open_clip", model=f"local-dir:{final}", device="cpu"))
    assert after < before - 0.005, (before, after)
    model = open_clip.create_model(TINY_CLIP_ARCH, pretrained=str(final / "open_clip_model.pt"))
    trained = load_trainable(EncoderSpec(backend="open_clip", model=f"local-dir:{final}", device="cpu")).model
    for (name, a), b in zip(model.state_dict().items(), trained.state_dict().values()):
        assert torch.equal(a, b), name
    assert "create_model" in (final / "README.md").read_text()


def test_prepare_mines_unjudged_negatives_for_training_queries_of_one_fold(tmp_path):
    tc = st_recipe(tmp_path)
    data = dataclasses.replace(tc.train.data, folds=3, fold=1, mine_negatives=2, mine_skip=1)
    setup = prepare(dataclasses.replace(tc, train=dataclasses.replace(tc.train, data=data)))
    plain = prepare(
        dataclasses.replace(
            tc, train=dataclasses.replace(tc.train, data=dataclasses.replace(data, mine_negatives=0))
        )
    )
    mined = [t for t in setup.train if t.location.startswith("mined:")]
    train_queries = {t.query for t in plain.train}
    assert setup.dev_judgments.keys() == plain.dev_judgments.keys()
    assert {t.query for t in mined} == train_queries and len(mined) == 2 * len(train_queries)
    judged = {(t.query, t.doc_id) for t in plain.train}
    assert all(t.score == 0 and (t.query, t.doc_id) not in judged for t in mined)
    assert all(t.location in ("mined:2", "mined:3") for t in mined)
