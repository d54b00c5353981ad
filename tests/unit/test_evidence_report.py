"""training/ evidence scripts' pure parts: the per-half choice of the fair search and the search levels."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"


@pytest.fixture(scope="module")
def er():
    sys.path.insert(0, str(TRAINING))
    try:
        import evidence_report
    finally:
        sys.path.remove(str(TRAINING))
    return evidence_report


def test_each_half_takes_the_candidate_best_on_the_other_half(er):
    halves = [{"a1", "a2"}, {"b1", "b2"}, {"c1"}, {"d1"}]
    scores = [
        {"a1": 0.9, "a2": 0.9, "b1": 0.1, "b2": 0.1, "c1": 0.5, "d1": 0.5},  # best on half a only
        {"a1": 0.2, "a2": 0.2, "b1": 0.8, "b2": 0.8, "c1": 0.5, "d1": 0.5},  # best on half b only
    ]
    # a's choice is made on b (candidate 1), b's on a (candidate 0); c and d tie: the first candidate.
    assert er.choose_per_half(scores, halves) == [1, 0, 0, 0]


def test_a_candidate_without_scores_on_the_other_half_is_not_chosen_there(er):
    halves = [{"a"}, {"b"}]
    scores = [{"a": 0.1, "b": 0.0}, {"a": 1.0}]  # candidate 1 has no score on b, the best on a
    assert er.choose_per_half(scores, halves) == [0, 1]


def test_search_levels_change_one_setting_and_gcl_only_levels_refuse_binary(er):
    ev = er.ev
    default = ev.recipe("human", "gcl", 0, 0).train
    power = ev.recipe("human", "gcl", 0, 0, "power2").train
    assert (default.loss.weighting, power.loss.weighting) == ("linear", "power")
    assert power.loss.w_min == default.loss.w_min and power.lr == default.lr
    assert ev.recipe("human", "binary", 1, 1, "lr5e6").train.lr == 5e-6
    assert ev.recipe("human", "binary", 1, 1, "lr5e6").train.loss.weighting == "binary"
    assert not ev.recipe("human", "gcl", 0, 0, "fixtemp").train.loss.learnable_temperature
    assert ev.run_name("human", "gcl", 2, "lr6e5") == "human-gcl-s2-lr6e5"
    assert ev.run_name("human", "gcl", 2) == "human-gcl-s2"
    neg = ev.recipe("human", "binary", 0, 1, "neg2").train.data
    assert (neg.negatives_per_row, neg.folds, neg.fold) == (2, ev.FOLDS, 1)
    assert ev.recipe("human", "gcl", 0, 0).train.data.negatives_per_row == 0
    assert ev.recipe("human", "gcl", 0, 0, "wmin05").train.loss.w_min == 0.5
    for level in ("power2", "wmin05"):
        with pytest.raises(SystemExit, match="GCL's weighting only"):
            ev.recipe("human", "binary", 0, 0, level)


def test_the_k4_level_trains_four_folds_and_teacher_runs_train_one(er):
    ev = er.ev
    data = ev.recipe("human", "binary", 0, 3, "k4").train.data
    assert (data.folds, data.fold) == (4, 3)
    assert ev.recipe("human", "gcl", 0, 1).train.data.folds == ev.FOLDS
    assert (ev.folds_of("human", "k4"), ev.folds_of("human")) == (4, ev.FOLDS)
    assert ev.folds_of("teacher", "k4") == 1
    # session 5's selection names its candidates, so a level added later does not change it
    assert "k4" not in {s: c for s, _, c in ev.SEARCHES}["5"]


def test_tuned_levels_score_each_half_with_the_level_chosen_on_the_other_half(er):
    halves = [{"a"}, {"b"}]
    key, other = ("hybrid", "ndcg@10", False), ("dense", "ndcg@10", False)
    # level x wins on b's hybrid, level y on a's; the dense column is what the chosen levels score there.
    scores = {
        "gcl": {
            "x": {key: {0: {"a": 0.1, "b": 0.9}}, other: {0: {"a": 0.11, "b": 0.19}}},
            "y": {key: {0: {"a": 0.8, "b": 0.2}}, other: {0: {"a": 0.21, "b": 0.29}}},
        }
    }
    tuned = er.tuned_levels(scores, {"gcl": ["x", "y"]}, halves, key, [key, other])
    by_col, chosen = tuned["gcl"]
    assert chosen == ["x", "y"]  # a is ranked by b's winner, b by a's
    assert by_col[other] == {0: {"a": 0.11, "b": 0.29}}
    assert by_col[key] == {0: {"a": 0.1, "b": 0.2}}


def test_every_pre_registered_candidate_is_a_level(er):
    for _session, mode, candidates in er.ev.SEARCHES:
        assert mode in er.MODES
        assert candidates is None or set(candidates) <= set(er.ev.LEVELS)
    assert er.ev.recipe("human", "gcl", 0, 0, "ep1").train.epochs == 1
    assert er.ev.recipe("human", "binary", 0, 0, "lr2e6").train.lr == 2e-6
