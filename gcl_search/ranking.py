"""The one ranking order of gcl-search: score descending, then doc_id ascending.

Ties broken by doc_id make every ranking reproducible: across stores (a shard or segment order is not), runs
and replicas. Neutral (no gcl_search imports) so that stores, search, training and evaluation all use it.
"""

from __future__ import annotations

from collections.abc import Mapping


def rank_key(score: float, doc_id: str) -> tuple[float, str]:
    """Sort key of one item: `sorted(items, key=lambda x: rank_key(x.score, x.doc_id))`."""
    return -score, doc_id


def ranked(scores: Mapping[str, float], k: int | None = None) -> list[tuple[str, float]]:
    """doc_id -> score as [(doc_id, score)] in ranking order, the top `k` (None: all)."""
    return sorted(scores.items(), key=lambda item: rank_key(item[1], item[0]))[:k]
