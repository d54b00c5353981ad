"""The one check of field weights, wherever they come from: a request, the query fields, the layout's preset.
Neutral (errors only) so that stores, fields and search all use it without import cycles.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

from gcl_search.errors import ConfigError


def check_weights(
    weights: Mapping[str, object],
    known: Sequence[str] | None = None,
    what: str = "weight",
    *,
    allow_all_zero: bool = True,
) -> dict[str, float]:
    """`weights` as floats, refused (ConfigError naming the first bad entry) unless every name is in `known`
    (None: any name), every value is a finite number >= 0 (a bool is not a number here), and, unless
    `allow_all_zero`, one of them is > 0. `what` names the weights in messages ("query weight", ...)."""
    for name, value in weights.items():
        if known is not None and name not in known:
            raise ConfigError(f"{what} for unknown field {name!r}; the fields are: {', '.join(known)}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ConfigError(f"{what} {name} = {value!r} must be a finite number >= 0")
        if value < 0:
            raise ConfigError(
                f"{what} {name} = {value!r} is negative; it must be a finite number >= 0 "
                "(0 turns a field off)"
            )
    if not allow_all_zero and not any(value > 0 for value in weights.values()):
        raise ConfigError(f"every {what} is 0 ({dict(weights)}); give a field a {what} > 0")
    return {name: float(value) for name, value in weights.items()}
