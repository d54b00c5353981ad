"""Dev evaluation during training: exact cosine search over the whole catalogue, scored by the project's own
evaluation (`gcl_search.evaluation.evaluate`), standard and condensed (judged-only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gcl_search.evaluation import evaluate


@dataclass(frozen=True)
class DevResult:
    """Metric means on the dev queries.

    Attributes:
        means: metric -> mean (standard: unjudged documents count as irrelevant).
        condensed: metric -> mean after dropping unjudged documents (judged-only).
        queries: number of dev queries scored.
    """

    means: dict[str, float]
    condensed: dict[str, float]
    queries: int

    def flat(self) -> dict[str, float]:
        """`{"ndcg@10": ..., "condensed/ndcg@10": ...}` for logs and plots."""
        return {**self.means, **{f"condensed/{k}": v for k, v in self.condensed.items()}}


def dev_corpus(
    doc_ids: Sequence[str], judgments: Mapping[str, Mapping[str, int]], max_docs: int, seed: int = 0
) -> list[str]:
    """The documents dev retrieval searches: all of `doc_ids` when `max_docs` is 0, else every document judged
    for a dev query plus a seeded random sample of the others, `max_docs` in all (sorted).

    Sampling keeps per-epoch evaluation affordable on big catalogues; standard metrics are then optimistic
    (fewer distractors) while the judged documents' relative order, and so condensed metrics at depth, are
    unchanged.
    """
    if max_docs <= 0 or max_docs >= len(doc_ids):
        return sorted(doc_ids)
    judged = {d for docs in judgments.values() for d in docs} & set(doc_ids)
    others = sorted(set(doc_ids) - judged)
    k = max(0, min(len(others), max_docs - len(judged)))
    picked = np.random.default_rng(seed).choice(len(others), size=k, replace=False)
    return sorted(judged | {others[i] for i in picked})


def exact_top_k(
    queries: np.ndarray, docs: np.ndarray, doc_ids: Sequence[str], k: int, chunk: int = 256
) -> list[dict[str, float]]:
    """Exact inner-product top-k (cosine for unit rows): one {doc_id: score} per query row."""
    k = min(k, docs.shape[0])
    out = []
    for start in range(0, queries.shape[0], chunk):
        scores = queries[start : start + chunk] @ docs.T  # (chunk, n_docs)
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        for row, idx in zip(scores, top):
            out.append({doc_ids[i]: float(row[i]) for i in idx})
    return out


def retrieve(
    query_vectors: np.ndarray,
    query_ids: Sequence[str],
    doc_vectors: np.ndarray,
    doc_ids: Sequence[str],
    k: int,
) -> dict[str, dict[str, float]]:
    """A run (query_id -> doc_id -> score) by exact search."""
    return dict(zip(query_ids, exact_top_k(query_vectors, doc_vectors, doc_ids, k)))


def score_run(
    judgments: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]], metrics: Sequence[str]
) -> DevResult:
    """Standard and condensed metric means of a run (queries without a relevant document are skipped)."""
    standard = evaluate(judgments, run, list(metrics), condensed=False)
    condensed = evaluate(judgments, run, list(metrics), condensed=True)
    return DevResult(dict(standard.means), dict(condensed.means), len(standard.query_ids))
