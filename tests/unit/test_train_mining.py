"""Hard-negative mining: rank window, judged pairs excluded, mined pairs are score-0 negatives."""

from __future__ import annotations

import numpy as np
import pytest

from gcl_search.errors import ConfigError
from gcl_search.training.batches import PairSampler
from gcl_search.training.data import Triple
from gcl_search.training.mining import mine_negatives
from gcl_search.training.spec import DataSpec


class RankedTowers:
    """Pure-logic stand-in: document dN scores 1/(N+1) for query "a" and the reverse order for query "b"."""

    catalogue = {f"d{i}": {"title": f"doc {i}"} for i in range(10)}

    def encode_catalogue(self, doc_ids, batch_size, progress=False):
        n = np.array([int(d[1:]) for d in doc_ids], dtype=np.float32)
        return np.stack([1.0 / (n + 1), (n + 1) / 10.0], axis=1)

    def encode_queries(self, texts, batch_size):
        return np.array([[1.0, 0.0] if t == "a" else [0.0, 1.0] for t in texts], dtype=np.float32)


def test_mining_skips_the_top_unjudged_hits_and_never_takes_a_judged_pair():
    triples = [Triple("a", "d0", 2.0), Triple("a", "d2", 0.0), Triple("b", "d9", 3.0)]
    mined = mine_negatives(triples, RankedTowers(), count=2, skip=1)
    # "a" ranks d0 d1 d2 d3 d4 ...; unjudged: d1 d3 d4 d5 ...; skip d1 -> d3, d4
    # "b" ranks d9 d8 d7 ...;       unjudged: d8 d7 d6 ...;    skip d8 -> d7, d6
    assert [(t.query, t.doc_id, t.score) for t in mined] == [
        ("a", "d3", 0.0),
        ("a", "d4", 0.0),
        ("b", "d7", 0.0),
        ("b", "d6", 0.0),
    ]
    assert [t.location for t in mined] == ["mined:2", "mined:3", "mined:2", "mined:3"]
    assert mine_negatives(triples, RankedTowers(), count=0, skip=1) == []


def test_mined_pairs_join_the_negative_pool_not_the_positives():
    triples = [Triple("a", "d0", 2.0), Triple("b", "d9", 3.0)]
    sampler = PairSampler(
        triples + mine_negatives(triples, RankedTowers(), count=1, skip=0), 2, negatives_per_row=1
    )
    batch = next(sampler.epoch(0))
    assert sorted(batch.doc_ids) == ["d0", "d9"]
    assert sorted(batch.negative_doc_ids) == ["d1", "d8"]


def test_mining_without_a_negative_pool_is_a_config_error():
    with pytest.raises(ConfigError, match="negatives_per_row"):
        DataSpec(mine_negatives=3)
    with pytest.raises(ConfigError, match="mine_skip"):
        DataSpec(mine_negatives=1, negatives_per_row=1, mine_skip=-1)
