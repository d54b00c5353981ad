"""Batches for the GCL loss: one positive (query, document, score) per row, known positives marked for
masking, and documents judged irrelevant for a row's query added as extra negatives (never as positives).

Batches are a pure function of (pairs, seed, epoch), so a resumed run replays exactly the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gcl_search.errors import ConfigError
from gcl_search.training.data import Triple


@dataclass(frozen=True)
class Batch:
    """One training batch (N rows, M extra negatives).

    Attributes:
        queries: N query texts.
        doc_ids: N positive doc ids.
        scores: (N,) float scores.
        known_positive: (N, N) bool: doc j is a known positive of query i (diagonal included).
        negative_doc_ids: M judged-irrelevant doc ids.
        negative_owner: (M,) long: the row whose query judged the negative irrelevant.
        negative_known_positive: (N, M) bool: negative m is a known positive of query i.
    """

    queries: list[str]
    doc_ids: list[str]
    scores: torch.Tensor
    known_positive: torch.Tensor
    negative_doc_ids: list[str]
    negative_owner: torch.Tensor
    negative_known_positive: torch.Tensor


class PairSampler:
    """Turns triples into seeded batches.

    Args:
        triples: training triples (positives and judged negatives).
        batch_size: rows per batch (>= 2: a contrastive batch needs in-batch negatives).
        negatives_per_row: judged-irrelevant documents sampled per row for its query (0 = none).
        positive_threshold: scores above this are positives.
        negative_threshold: scores at or below this are judged-irrelevant negatives.
        seed: the sampler's seed.
    """

    def __init__(
        self,
        triples: Sequence[Triple],
        batch_size: int,
        negatives_per_row: int = 0,
        positive_threshold: float = 0.0,
        negative_threshold: float = 0.0,
        seed: int = 0,
    ) -> None:
        if batch_size < 2:
            raise ConfigError(f"batch_size = {batch_size} must be >= 2 (in-batch negatives need company)")
        if negative_threshold > positive_threshold:
            raise ConfigError("negative_threshold must not exceed positive_threshold: a pair cannot be both")
        self.batch_size = batch_size
        self.negatives_per_row = negatives_per_row
        self.seed = seed
        self.positives = [t for t in triples if t.score > positive_threshold]
        if len(self.positives) < 2:
            raise ConfigError(
                f"only {len(self.positives)} positive pairs (score > {positive_threshold}); "
                "training needs at least 2"
            )
        self.positive_docs: dict[str, set[str]] = {}
        for t in self.positives:
            self.positive_docs.setdefault(t.query, set()).add(t.doc_id)
        self.negative_docs: dict[str, list[str]] = {}
        for t in sorted(triples, key=lambda t: (t.query, t.doc_id)):
            if t.score <= negative_threshold:
                self.negative_docs.setdefault(t.query, []).append(t.doc_id)

    def __len__(self) -> int:
        """Batches per epoch (a last batch of one row is dropped)."""
        full, rest = divmod(len(self.positives), self.batch_size)
        return full + (1 if rest >= 2 else 0)

    def epoch(self, epoch: int) -> Iterator[Batch]:
        """The batches of one epoch, in order (same seed and epoch -> same batches)."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.positives))
        for start in range(0, len(self.positives), self.batch_size):
            rows = [self.positives[i] for i in order[start : start + self.batch_size]]
            if len(rows) >= 2:
                yield self._batch(rows, rng)

    def _batch(self, rows: list[Triple], rng: np.random.Generator) -> Batch:
        queries = [t.query for t in rows]
        doc_ids = [t.doc_id for t in rows]
        known = torch.tensor([[d in self.positive_docs[q] for d in doc_ids] for q in queries])
        negatives, owners = self._negatives(queries, rng)
        neg_known = torch.tensor(
            [[d in self.positive_docs[q] for d in negatives] for q in queries], dtype=torch.bool
        ).reshape(len(rows), len(negatives))
        return Batch(
            queries,
            doc_ids,
            torch.tensor([t.score for t in rows], dtype=torch.float32),
            known,
            negatives,
            torch.tensor(owners, dtype=torch.long),
            neg_known,
        )

    def _negatives(self, queries: list[str], rng: np.random.Generator) -> tuple[list[str], list[int]]:
        negatives: list[str] = []
        owners: list[int] = []
        if self.negatives_per_row <= 0:
            return negatives, owners
        for row, query in enumerate(queries):
            pool = self.negative_docs.get(query, [])
            k = min(self.negatives_per_row, len(pool))
            for i in rng.choice(len(pool), size=k, replace=False) if k else []:
                negatives.append(pool[i])
                owners.append(row)
        return negatives, owners
