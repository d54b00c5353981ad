"""Score-to-weight functions `g(s)` for the GCL loss (arXiv 2404.08535, section 3).

The paper maps rank-derived relevance scores to per-pair loss weights but publishes neither the function nor
its constants, so the function is a named, configurable choice here. Every function maps a tensor of scores
(any real range, for positives) to weights in (0, 1]; higher scores never get lower weights.

The score range `[score_min, score_max]` is a property of the data (e.g. 0..3 for mean human ratings, 1..100
for Marqo-GS-10M's `score_linear`), not of a batch: min-max over a batch would make the same pair's weight
depend on which other pairs happened to share its batch. `fit_score_range` reads it from the training pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import torch

from gcl_search.errors import ConfigError

WEIGHTINGS = ("binary", "linear", "reciprocal", "power", "exponential")


@dataclass(frozen=True)
class ScoreToWeight:
    """A score-to-weight function `g`, callable on a tensor of scores.

    Let `x = clamp((s - score_min) / (score_max - score_min), 0, 1)` (the score's place in the data's range):

    - `binary`: `g(s) = 1` (the plain CLIP / InfoNCE baseline).
    - `linear`: `g(s) = w_min + (1 - w_min) * x` (min-max onto `[w_min, 1]`).
    - `power`: `g(s) = w_min + (1 - w_min) * x ** power` (power > 1 favours the top grades).
    - `exponential`: `g(s) = exp(-rate * (1 - x))`, floored at `w_min`.
    - `reciprocal`: `g(s) = max(w_min, 1 / (1 + (score_max - s) / step))`. With rank-derived linear scores
      (`score_linear = 101 - position`, step 1) this is `1 / position`, the dataset's `score_reciprocal`.

    Args:
        name: one of `WEIGHTINGS`.
        w_min: the weight of the lowest positive score, in (0, 1].
        score_min: the lowest positive score in the data.
        score_max: the highest score in the data.
        power: exponent of `power`.
        rate: decay of `exponential` (weight at the bottom of the range is `exp(-rate)`).
        step: score units per rank for `reciprocal`.
    """

    name: str = "linear"
    w_min: float = 0.1
    score_min: float = 0.0
    score_max: float = 1.0
    power: float = 2.0
    rate: float = 2.0
    step: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in WEIGHTINGS:
            raise ConfigError(f"unknown weighting {self.name!r}; use one of {', '.join(WEIGHTINGS)}")
        if not 0.0 < self.w_min <= 1.0:
            raise ConfigError(f"w_min must be in (0, 1], got {self.w_min}; 0 would silently drop pairs")
        if self.name != "binary" and not self.score_max > self.score_min:
            raise ConfigError(
                f"score_max ({self.score_max}) must exceed score_min ({self.score_min}); "
                "set them in [train.loss] or let the trainer fit them from the pairs"
            )
        for key in ("power", "rate", "step"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"{key} must be positive, got {getattr(self, key)}")

    def __call__(self, scores: torch.Tensor) -> torch.Tensor:
        return _FUNCTIONS[self.name](self, scores.float())

    def to_dict(self) -> dict[str, float | str]:
        """The parameters, for the config snapshot and model card."""
        return asdict(self)


def _position(g: ScoreToWeight, scores: torch.Tensor) -> torch.Tensor:
    return ((scores - g.score_min) / (g.score_max - g.score_min)).clamp(0.0, 1.0)


def _binary(g: ScoreToWeight, scores: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(scores)


def _linear(g: ScoreToWeight, scores: torch.Tensor) -> torch.Tensor:
    return g.w_min + (1.0 - g.w_min) * _position(g, scores)


def _power(g: ScoreToWeight, scores: torch.Tensor) -> torch.Tensor:
    return g.w_min + (1.0 - g.w_min) * _position(g, scores) ** g.power


def _exponential(g: ScoreToWeight, scores: torch.Tensor) -> torch.Tensor:
    return torch.exp(-g.rate * (1.0 - _position(g, scores))).clamp(min=g.w_min)


def _reciprocal(g: ScoreToWeight, scores: torch.Tensor) -> torch.Tensor:
    distance = (g.score_max - scores).clamp(min=0.0) / g.step
    return (1.0 / (1.0 + distance)).clamp(min=g.w_min)


_FUNCTIONS: dict[str, Callable[[ScoreToWeight, torch.Tensor], torch.Tensor]] = {
    "binary": _binary,
    "linear": _linear,
    "power": _power,
    "exponential": _exponential,
    "reciprocal": _reciprocal,
}


def fit_score_range(scores: Iterable[float]) -> tuple[float, float]:
    """`(score_min, score_max)` of the positive scores given (for `ScoreToWeight`).

    Raises:
        ConfigError: no finite scores, or all equal (a range cannot be fitted; use `binary`).
    """
    values = [float(s) for s in scores if math.isfinite(float(s))]
    if not values:
        raise ConfigError("no positive training scores to fit the score range from")
    low, high = min(values), max(values)
    if high <= low:
        raise ConfigError(
            f"every positive score is {low}: graded weights need a range; use weighting='binary'"
        )
    return low, high
