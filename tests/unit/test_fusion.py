"""Normalisation and rank fusion against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from gcl_search.errors import ConfigError
from gcl_search.search.fusion import fuse, normalise_min_max, normalise_z_score, ranks, rrf


def test_min_max():
    # (s - 1) / (5 - 1)
    assert normalise_min_max(np.array([1.0, 3.0, 5.0])) == pytest.approx([0.0, 0.5, 1.0])
    assert normalise_min_max(np.array([2.0, 2.0])) == pytest.approx([1.0, 1.0])
    assert normalise_min_max(np.array([])).size == 0


def test_z_score():
    # mean 3, population std sqrt(8/3) = 1.63299
    assert normalise_z_score(np.array([1.0, 3.0, 5.0])) == pytest.approx([-1.224745, 0.0, 1.224745], abs=1e-6)
    assert normalise_z_score(np.array([4.0, 4.0, 4.0])) == pytest.approx([0.0, 0.0, 0.0])
    assert normalise_z_score(np.array([7.0])) == pytest.approx([0.0])
    assert normalise_z_score(np.array([])).size == 0


def test_ranks_break_ties_by_id_and_skip_invalid():
    ids = ["b", "a", "c", "d"]
    assert ranks(np.array([1.0, 1.0, 3.0, 0.0]), ids).tolist() == [3, 2, 1, 4]
    assert ranks(np.array([1.0, 1.0, 3.0, 0.0]), ids, np.array([True, False, True, False])).tolist() == [
        2,
        0,
        1,
        0,
    ]


def test_rrf_by_hand():
    # c = 60, lam = 0.5: doc 0 dense rank 1, lexical rank 2 -> 0.5/61 + 0.5/62; doc 1 dense 2, no lexical
    out = rrf(np.array([1, 2]), np.array([2, 0]), 0.5, 60)
    assert out == pytest.approx([0.5 / 61 + 0.5 / 62, 0.5 / 62])
    assert rrf(np.array([1]), np.array([1]), 0.25, 10) == pytest.approx([0.75 / 11 + 0.25 / 11])


def test_fuse_minmax_and_zscore_by_hand():
    ids = ["x", "y", "z"]
    dense, lexical = np.array([0.9, 0.5, 0.1]), np.array([0.0, 10.0, 5.0])
    matched = np.array([False, True, True])
    # dense_n = [1, .5, 0], lexical_n = [0, 1, .5]; 0.7 * dense_n + 0.3 * lexical_n
    assert fuse(ids, dense, lexical, matched, "minmax", 0.3) == pytest.approx([0.7, 0.65, 0.15])
    # z(dense) = [1.2247, 0, -1.2247], z(lexical) = [-1.2247, 1.2247, 0]
    z = 1.2247449
    assert fuse(ids, dense, lexical, matched, "zscore", 0.5) == pytest.approx([0.0, z / 2, -z / 2], abs=1e-6)
    # rrf: dense ranks [1, 2, 3], lexical ranks [0, 1, 2]
    assert fuse(ids, dense, lexical, matched, "rrf", 0.5, 60) == pytest.approx(
        [0.5 / 61, 0.5 / 62 + 0.5 / 61, 0.5 / 63 + 0.5 / 62]
    )


def test_lexical_weight_zero_and_one_are_pure():
    ids = ["x", "y"]
    dense, lexical, matched = np.array([0.2, 0.4]), np.array([3.0, 1.0]), np.array([True, True])
    assert np.argsort(-fuse(ids, dense, lexical, matched, "minmax", 0.0)).tolist() == [1, 0]
    assert np.argsort(-fuse(ids, dense, lexical, matched, "minmax", 1.0)).tolist() == [0, 1]


@pytest.mark.parametrize(
    "method, weight, c, message",
    [
        ("max", 0.5, 60, "fusion 'max'"),
        ("minmax", -0.1, 60, "lexical weight"),
        ("rrf", 0.5, 0, "rank constant"),
    ],
)
def test_bad_parameters(method, weight, c, message):
    with pytest.raises(ConfigError, match=message):
        fuse(["a"], np.array([1.0]), np.array([1.0]), np.array([True]), method, weight, c)
