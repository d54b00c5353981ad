"""The Generalized Contrastive Learning loss (GCL, arXiv 2404.08535) on tensors.

The loss is written by hand because no maintained library ships it: sentence-transformers and open_clip have
the unweighted InfoNCE / CLIP loss only (the reduction below is tested against open_clip's `ClipLoss`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from gcl_search.errors import ConfigError
from gcl_search.losses.weights import ScoreToWeight

NORMALISERS = ("weight_sum", "batch", "none")
NEGATIVE_SCOPES = ("shared", "own")
MAX_LOGIT_SCALE = 100.0  # CLIP's clamp: temperature never below 0.01

Embeddings = torch.Tensor | Mapping[str, torch.Tensor]

CITATION = """@article{zhu2024generalized,
  title={Generalized Contrastive Learning for Multi-Modal Retrieval and Ranking},
  author={Zhu, Tianyu and Jung, Myong Chol and Clark, Jesse},
  journal={arXiv preprint arXiv:2404.08535},
  year={2024}
}"""


def fuse_fields(fields: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    """`normalize(sum_k a_k * normalize(f_k))`, with the `a_k` renormalised over the fields each row has.

    The torch twin of `gcl_search.fields.vectors.fuse_fields` (the numpy one serves the index); torch because
    the loss's gradients flow through it.

    A row whose field embedding is all zeros lacks that field (the trainer writes zeros for empty fields).

    Args:
        fields: field name -> (batch, dim) embeddings.
        weights: field name -> weight `a_k` (>= 0); every key of `fields` must have one.

    Returns:
        (batch, dim) unit vectors (an all-zero row if a row has no field at all).

    Raises:
        ConfigError: a field has no weight.
    """
    missing = sorted(set(fields) - set(weights))
    if missing:
        raise ConfigError(f"no weight for field(s) {missing}; give every field a weight in the config")
    names = list(fields)
    stacked = torch.stack([fields[name].float() for name in names], dim=1)  # (batch, fields, dim)
    present = stacked.norm(dim=-1) > 0  # (batch, fields)
    a = torch.tensor([float(weights[n]) for n in names], device=stacked.device) * present  # (batch, fields)
    a = a / a.sum(dim=1, keepdim=True).clamp(min=1e-12)
    fused = (a.unsqueeze(-1) * F.normalize(stacked, dim=-1)).sum(dim=1)  # (batch, dim)
    return F.normalize(fused, dim=-1)


class GCLLoss(nn.Module):
    """Weighted symmetric contrastive loss over (query, document, score) triples (GCL).

    For N rows with query / document embeddings `q_i`, `d_i` (unit vectors; multi-field inputs are fused by
    `fuse_fields`), logits `z_ij = s * q_i . d_j` with logit scale `s = 1 / temperature`, and per-pair
    weights `w_i = g(score_i)`:

        L = 1/2 * [ sum_i w_i CE(z_i., i) + sum_i w_i CE(z_.i, i) ] / normaliser

    `normaliser` is `sum_i w_i` ("weight_sum": a weighted mean, so only relative weights matter), N ("batch":
    low-score batches pull less), or 1 ("none"). Extra negatives (e.g. documents judged irrelevant for a
    query) add columns to the query->document term only. Known positives of row i that sit in the batch as
    another row's document (the same document twice, or another relevant document of the same query) are
    removed from row i's softmax when `mask_known_positives` is on; the diagonal is never masked.

    Args:
        weighting: the score-to-weight function `g` (default: linear min-max onto [0.1, 1] of [0, 1]).
        temperature: initial (or fixed) temperature; the logit scale is `1 / temperature`.
        learnable_temperature: learn `log(logit scale)` as CLIP does (clamped to scale <= 100).
        normaliser: one of `NORMALISERS`.
        symmetric: add the document->query term (otherwise only query->document, without the 1/2).
        mask_known_positives: drop known positives from the negatives (needs `known_positive` masks).
        negative_scope: extra negatives are negatives for every row ("shared") or only their own ("own").
        query_field_weights / doc_field_weights: weights `a_k` for multi-field inputs (dict inputs).

    References:
        Zhu, Jung, Clark. Generalized Contrastive Learning for Multi-Modal Retrieval and Ranking.
        arXiv:2404.08535 (2024). See `citation`.

    Inputs:
        | argument        | shape                         | meaning                                       |
        | query_emb       | (N, D) or {field: (N, D)}     | query embeddings                              |
        | doc_emb         | (N, D) or {field: (N, D)}     | the row's positive document                   |
        | scores          | (N,)                          | relevance score of (query_i, doc_i)           |
        | known_positive  | (N, N) bool                   | doc j is a known positive of query i          |
        | negative_emb    | (M, D) or {field: (M, D)}     | extra negatives                               |
        | negative_owner  | (M,) long                     | the row whose query judged it irrelevant      |
        | negative_known_positive | (N, M) bool           | negative m is a known positive of query i     |

    Relations:
        With `weighting="binary"`, no masking, no extra negatives and `normaliser` "weight_sum" or "batch",
        it equals the CLIP loss (open_clip `ClipLoss`) / symmetric InfoNCE.

    Example:
        >>> import torch, torch.nn.functional as F
        >>> from gcl_search.losses import GCLLoss, ScoreToWeight
        >>> loss_fn = GCLLoss(weighting=ScoreToWeight("linear", w_min=0.1, score_min=0, score_max=3))
        >>> q = F.normalize(torch.randn(4, 8), dim=-1)
        >>> d = F.normalize(torch.randn(4, 8), dim=-1)
        >>> loss = loss_fn.compute_loss(q, d, torch.tensor([3.0, 2.0, 1.0, 3.0]))
        >>> bool(loss > 0)
        True
    """

    def __init__(
        self,
        weighting: ScoreToWeight | None = None,
        temperature: float = 0.05,
        learnable_temperature: bool = True,
        normaliser: str = "weight_sum",
        symmetric: bool = True,
        mask_known_positives: bool = True,
        negative_scope: str = "shared",
        query_field_weights: Mapping[str, float] | None = None,
        doc_field_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__()
        if normaliser not in NORMALISERS:
            raise ConfigError(f"unknown normaliser {normaliser!r}; use one of {', '.join(NORMALISERS)}")
        if negative_scope not in NEGATIVE_SCOPES:
            raise ConfigError(f"unknown negative_scope {negative_scope!r}; use 'shared' or 'own'")
        if not 1.0 / MAX_LOGIT_SCALE <= temperature:
            raise ConfigError(f"temperature must be >= {1 / MAX_LOGIT_SCALE}, got {temperature}")
        self.weighting = weighting or ScoreToWeight("linear", score_min=0.0, score_max=1.0)
        self.temperature = temperature
        self.learnable_temperature = learnable_temperature
        self.normaliser = normaliser
        self.symmetric = symmetric
        self.mask_known_positives = mask_known_positives
        self.negative_scope = negative_scope
        self.query_field_weights = dict(query_field_weights or {})
        self.doc_field_weights = dict(doc_field_weights or {})
        log_scale = torch.tensor(math.log(1.0 / temperature))
        if learnable_temperature:
            self.log_logit_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_logit_scale", log_scale)

    @property
    def logit_scale(self) -> torch.Tensor:
        """The logit scale `1 / temperature` (a scalar tensor, clamped to <= 100)."""
        return self.log_logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)

    def forward(
        self, query_emb: Embeddings, doc_emb: Embeddings, scores: torch.Tensor, **kwargs: torch.Tensor | None
    ) -> torch.Tensor:
        """Alias of `compute_loss` (so the module can be called like any torch loss)."""
        return self.compute_loss(query_emb, doc_emb, scores, **kwargs)

    def compute_loss(
        self,
        query_emb: Embeddings,
        doc_emb: Embeddings,
        scores: torch.Tensor,
        known_positive: torch.Tensor | None = None,
        negative_emb: Embeddings | None = None,
        negative_owner: torch.Tensor | None = None,
        negative_known_positive: torch.Tensor | None = None,
        logit_scale: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The GCL loss of one batch (see the class docstring for shapes).

        Args:
            query_emb: (N, D) query embeddings, or a dict of per-field (N, D) embeddings.
            doc_emb: (N, D) document embeddings (the row's positive), or per-field dict.
            scores: (N,) relevance scores, mapped to weights by `weighting`.
            known_positive: (N, N) bool, [i, j] true when doc j is a known positive of query i.
            negative_emb: (M, D) or per-field dict: extra negatives.
            negative_owner: (M,) long: row index of each negative's query (needed for scope "own").
            negative_known_positive: (N, M) bool: negative m is a known positive of query i.
            logit_scale: use this scale (e.g. an open_clip model's) instead of the loss's own.

        Returns:
            A scalar tensor.
        """
        q = self._embed(query_emb, self.query_field_weights)  # (N, D)
        d = self._embed(doc_emb, self.doc_field_weights)  # (N, D)
        n = q.shape[0]
        if d.shape[0] != n or scores.shape != (n,):
            raise ValueError(
                f"batch sizes differ: {n} queries, {d.shape[0]} docs, scores {tuple(scores.shape)}"
            )
        scale = self.logit_scale if logit_scale is None else logit_scale
        logits = scale * q @ d.T  # (N, N)
        mask = self._in_batch_mask(known_positive, n, logits.device)  # (N, N), True = drop
        weights = self.weighting(scores).to(logits.device)  # (N,)
        targets = torch.arange(n, device=logits.device)
        row_logits = logits.masked_fill(mask, float("-inf"))
        if negative_emb is not None:
            neg = self._embed(negative_emb, self.doc_field_weights)  # (M, D)
            neg_logits = scale * q @ neg.T  # (N, M)
            neg_mask = self._negative_mask(negative_owner, negative_known_positive, n, neg.shape[0], q.device)
            row_logits = torch.cat([row_logits, neg_logits.masked_fill(neg_mask, float("-inf"))], dim=1)
        q_to_d = F.cross_entropy(row_logits, targets, reduction="none")  # (N,)
        per_row = q_to_d
        if self.symmetric:
            d_to_q = F.cross_entropy(logits.T.masked_fill(mask.T, float("-inf")), targets, reduction="none")
            per_row = 0.5 * (q_to_d + d_to_q)
        return (weights * per_row).sum() / self._normaliser(weights)

    def _embed(self, emb: Embeddings, field_weights: Mapping[str, float]) -> torch.Tensor:
        if isinstance(emb, Mapping):
            return fuse_fields(emb, field_weights)
        return F.normalize(emb.float(), dim=-1)

    def _in_batch_mask(
        self, known_positive: torch.Tensor | None, n: int, device: torch.device
    ) -> torch.Tensor:
        if not self.mask_known_positives or known_positive is None:
            return torch.zeros(n, n, dtype=torch.bool, device=device)
        eye = torch.eye(n, dtype=torch.bool, device=device)
        return known_positive.to(device=device, dtype=torch.bool) & ~eye

    def _negative_mask(
        self, owner: torch.Tensor | None, known: torch.Tensor | None, n: int, m: int, device: torch.device
    ) -> torch.Tensor:
        mask = torch.zeros(n, m, dtype=torch.bool, device=device)
        if self.negative_scope == "own":
            if owner is None:
                raise ValueError("negative_scope='own' needs negative_owner (the row index of each negative)")
            mask |= owner.to(device).unsqueeze(0) != torch.arange(n, device=device).unsqueeze(1)
        if self.mask_known_positives and known is not None:
            mask |= known.to(device=device, dtype=torch.bool)
        return mask

    def _normaliser(self, weights: torch.Tensor) -> torch.Tensor:
        if self.normaliser == "weight_sum":
            return weights.sum().clamp(min=1e-12)
        if self.normaliser == "batch":
            return torch.tensor(float(weights.shape[0]), device=weights.device)
        return torch.tensor(1.0, device=weights.device)

    def get_config_dict(self) -> dict[str, object]:
        """The loss's settings (logged by the trainer and saved next to the checkpoint)."""
        return {
            "weighting": self.weighting.to_dict(),
            "temperature": self.temperature,
            "learnable_temperature": self.learnable_temperature,
            "logit_scale": float(self.logit_scale.detach()),
            "normaliser": self.normaliser,
            "symmetric": self.symmetric,
            "mask_known_positives": self.mask_known_positives,
            "negative_scope": self.negative_scope,
            "query_field_weights": self.query_field_weights,
            "doc_field_weights": self.doc_field_weights,
        }

    @property
    def citation(self) -> str:
        """BibTeX of the GCL paper."""
        return CITATION
