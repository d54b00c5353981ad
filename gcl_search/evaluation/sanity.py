"""Sanity runs built from the judgments themselves: an oracle (judged docs by grade) and its reverse.

An oracle run must score nDCG = 1 on every query with a relevant document, and its reverse must score lower:
a quick check that judgments, ids and the metric code line up before trusting a real run's numbers.
"""

from __future__ import annotations

from collections.abc import Mapping

from gcl_search.ranking import rank_key


def oracle_run(
    judgments: Mapping[str, Mapping[str, int]], reverse: bool = False
) -> dict[str, dict[str, float]]:
    """Each query's judged documents ordered by grade (descending; ties by doc_id), or the reverse order.

    Scores are n, n-1, ..., 1 down the ranking, so every tool ranks the run the same way.
    """
    run = {}
    for query_id, grades in judgments.items():
        order = sorted(grades, key=lambda doc_id: rank_key(grades[doc_id], doc_id))
        if reverse:
            order.reverse()
        run[query_id] = {doc_id: float(len(order) - i) for i, doc_id in enumerate(order)}
    return run
