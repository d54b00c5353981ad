"""The settings weight tuning tries (`gcl_search.search.tune`): a simplex grid of field weights times the
lexical choices (weight, fusion, mode, oversample), ordered by their distance to the start.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import replace

from gcl_search.errors import ConfigError
from gcl_search.search.lexical import LexicalSpec

GRID_STEP = 0.2
LEXICAL_STEP = 0.1
MAX_CANDIDATES = 20_000

# A candidate: field weights in field order, the lexical weight (None without a lexical component), then the
# fusion, lexical mode and oversample of a hybrid (None without one).
Candidate = tuple[tuple[float, ...], "float | None", "str | None", "str | None", "float | None"]


def simplex_grid(n_fields: int, step: float) -> list[tuple[float, ...]]:
    """Every weight vector of `n_fields` non-negative multiples of `step` that sums to 1 (1/step must be a
    whole number)."""
    units = step_units(step, "grid_step")
    return [tuple(c / units for c in combo) for combo in _compositions(units, n_fields)]


def candidate_spec(lexical: LexicalSpec | None, candidate: Candidate) -> LexicalSpec | None:
    if lexical is None or candidate[1] is None:
        return None
    _, lam, fusion, mode, oversample = candidate
    return replace(
        lexical,
        weight=lam,
        fusion=fusion,
        mode=mode,
        oversample=oversample,
        fields=lexical.fields if mode == "most_fields" else None,
    )


def unique(first, others) -> list:
    return list(dict.fromkeys([first, *others]))


def grid_candidates(
    n_fields: int, start: Candidate, choices: Sequence[tuple], grid_step: float
) -> list[Candidate]:
    """The start first, then the grid x the lexical choices sorted by distance to it (ties stay close)."""
    grid = simplex_grid(n_fields, grid_step)
    if (len(grid) + 1) * len(choices) > MAX_CANDIDATES:
        raise ConfigError(
            f"{(len(grid) + 1) * len(choices)} settings to try (> {MAX_CANDIDATES}); use a "
            "coarser grid step or fewer lexical choices"
        )
    points = [start[0], *(w for w in grid if sum(abs(x - y) for x, y in zip(w, start[0])) > 1e-9)]
    others = [(w, *c) for w, c in itertools.product(points, choices)]
    others = [c for c in others if not _same(c, start)]
    others.sort(key=lambda c: _distance(c, start))
    return [start, *others]


def _distance(a: Candidate, b: Candidate) -> float:
    lexical = 0.0 if a[1] is None or b[1] is None else abs(a[1] - b[1])
    categorical = 0.5 * sum(x != y for x, y in zip(a[2:], b[2:]))
    return sum(abs(x - y) for x, y in zip(a[0], b[0])) + lexical + categorical


def _same(a: Candidate, b: Candidate) -> bool:
    return _distance(a, b) < 1e-9


def normalised(weights: Sequence[float]) -> tuple[float, ...]:
    total = sum(weights)
    return tuple(w / total for w in weights) if total > 0 else tuple(weights)


def step_units(step: float, what: str) -> int:
    units = round(1.0 / step) if math.isfinite(step) and step > 0 else 0
    if units < 1 or abs(units * step - 1.0) > 1e-9:
        raise ConfigError(f"{what} = {step} must divide 1 into whole steps (e.g. 0.5, 0.25, 0.2, 0.1)")
    return units


def _compositions(total: int, parts: int):
    if parts == 1:
        yield (total,)
        return
    for first in range(total, -1, -1):
        for rest in _compositions(total - first, parts - 1):
            yield (first, *rest)
