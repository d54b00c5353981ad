"""Training losses: the GCL loss and its score-to-weight functions."""

from __future__ import annotations

from gcl_search.losses.gcl import CITATION, GCLLoss, fuse_fields
from gcl_search.losses.weights import WEIGHTINGS, ScoreToWeight, fit_score_range

__all__ = ["CITATION", "GCLLoss", "ScoreToWeight", "WEIGHTINGS", "fit_score_range", "fuse_fields"]
