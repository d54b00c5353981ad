"""Trainer pieces that need no model: schedule, output folder rules, checkpoints, recipes, dev search."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gcl_search.errors import ConfigError, InputFileError
from gcl_search.training.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from gcl_search.training.dev import dev_corpus, exact_top_k
from gcl_search.training.export import model_card
from gcl_search.training.setup import DONE_FILE, SNAPSHOT_FILE, check_output_dir
from gcl_search.training.spec import load_train_config
from gcl_search.training.trainer import cosine_schedule

RECIPES = Path(__file__).resolve().parents[2] / "training"


def test_warmup_then_cosine_schedule():
    f = cosine_schedule(total_steps=10, warmup_ratio=0.2)  # 2 warmup steps
    assert [f(0), f(1)] == [0.5, 1.0]
    assert f(2) == pytest.approx(1.0)
    assert f(6) == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert f(10) == pytest.approx(0.0)


def test_finished_run_is_never_overwritten_unless_asked(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / SNAPSHOT_FILE).write_text("{}")
    (out / DONE_FILE).write_text("{}")
    with pytest.raises(ConfigError, match="finished run.*--overwrite"):
        check_output_dir(out, resume=False, overwrite=False)
    with pytest.raises(ConfigError, match="finished run"):
        check_output_dir(out, resume=True, overwrite=False)
    check_output_dir(out, resume=False, overwrite=True)
    assert not out.exists()


def test_unfinished_run_needs_resume_or_overwrite(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / SNAPSHOT_FILE).write_text("{}")
    with pytest.raises(ConfigError, match="--resume"):
        check_output_dir(out, resume=False, overwrite=False)
    check_output_dir(out, resume=True, overwrite=False)  # allowed


def test_foreign_folder_and_empty_resume_are_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds no gcl-search run"):
        check_output_dir(tmp_path, resume=False, overwrite=True)
    assert (tmp_path / "notes.txt").exists()
    with pytest.raises(ConfigError, match="nothing to resume"):
        check_output_dir(tmp_path / "new", resume=True, overwrite=False)


def test_checkpoint_round_trip_restores_rng(tmp_path):
    torch.manual_seed(3)
    state = {"weights": torch.randn(3), "position": {"epoch": 1, "step_in_epoch": 2}, "rng": rng_state()}
    expected_next = torch.rand(2)
    save_checkpoint(tmp_path / "last.pt", state)
    loaded = load_checkpoint(tmp_path / "last.pt")
    assert torch.equal(loaded["weights"], state["weights"]) and loaded["position"]["step_in_epoch"] == 2
    set_rng_state(loaded["rng"])
    assert torch.equal(torch.rand(2), expected_next)


def test_corrupt_truncated_and_unsafe_checkpoints_name_the_file(tmp_path):
    good = tmp_path / "last.pt"
    save_checkpoint(good, {"w": torch.ones(1000)})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(InputFileError, match="corrupt.*--overwrite") as info:
        load_checkpoint(truncated)
    assert info.value.path == str(truncated)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"version": 1, "obj": Path("x")}, unsafe)  # a pickled Python object
    with pytest.raises(InputFileError, match="refused"):
        load_checkpoint(unsafe)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(InputFileError, match="not a gcl-search training checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(InputFileError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize(
    "name",
    [
        "icecat-minilm-gcl.toml",
        "icecat-minilm-binary.toml",
        "marqo-gs-vitb32-gcl.toml",
        "marqo-gs-vitb32-binary.toml",
    ],
)
def test_recipes_parse(name):
    tc = load_train_config(RECIPES / name)
    assert tc.train.loss.weighting == ("binary" if "binary" in name else "linear")
    assert tc.train.output_dir.startswith("runs/")


def test_recipe_errors_name_the_file_and_key(tmp_path):
    text = (RECIPES / "icecat-minilm-gcl.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('weighting = "linear"', 'weighting = "cubic"'))
    with pytest.raises(ConfigError, match=r"bad.toml.*weighting = 'cubic'"):
        load_train_config(bad)
    bad.write_text(text.replace("epochs = 2", "epochz = 2"))
    with pytest.raises(ConfigError, match="unknown key 'epochz'"):
        load_train_config(bad)
    tc = load_train_config(RECIPES / "icecat-minilm-gcl.toml", epochs=5, loss={"w_min": 0.3})
    assert (tc.train.epochs, tc.train.loss.w_min, tc.train.loss.weighting) == (5, 0.3, "linear")


def test_exact_top_k_matches_brute_force():
    rng = np.random.default_rng(0)
    q, d = rng.normal(size=(5, 8)), rng.normal(size=(50, 8))
    ids = [f"d{i}" for i in range(50)]
    got = exact_top_k(q, d, ids, k=7, chunk=2)
    for row, hits in zip(q @ d.T, got):
        assert set(hits) == {ids[i] for i in np.argsort(-row)[:7]}


def test_dev_corpus_keeps_every_judged_document():
    ids = [f"d{i}" for i in range(100)]
    judgments = {"q": {"d3": 2, "d97": 0, "gone": 1}}
    corpus = dev_corpus(ids, judgments, max_docs=10, seed=1)
    assert len(corpus) == 10 and {"d3", "d97"} <= set(corpus) and "gone" not in corpus
    assert corpus == dev_corpus(ids, judgments, max_docs=10, seed=1)
    assert dev_corpus(ids, judgments, max_docs=0) == sorted(ids)


def test_model_card_lists_metrics_and_config():
    text = model_card(
        {
            "name": "run",
            "base_model": "st: x",
            "data": "Icecat",
            "metrics": {"ndcg@10": 0.5},
            "config": {"loss": {"weighting": "linear"}},
        },
        "usage()",
    )
    assert "| ndcg@10 | 0.5000 |" in text and '"weighting": "linear"' in text and "2404.08535" in text
    json.loads(text.split("```json\n")[1].split("```")[0])
