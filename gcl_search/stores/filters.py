"""Attribute filters (`Term`, `Range`; a sequence means AND), applied INSIDE every store's searches.

A filtered search still returns k hits when k documents match: OpenSearch puts them in `knn.filter`, the local
store masks before ranking (`attribute_matches`, OpenSearch's semantics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

from gcl_search.errors import ConfigError
from gcl_search.stores.layout import IndexLayout

Scalar = Union[str, int, float, bool]  # noqa: UP007 - a runtime alias, py3.10 safe


@dataclass(frozen=True)
class Term:
    """Attribute equals one of `values` (OpenSearch `terms`): `Term("brand", ("HP", "Dell"))`.

    Args:
        field: a filterable attribute of the layout.
        values: one value or a tuple of accepted values.
    """

    field: str
    values: Scalar | tuple[Scalar, ...]

    @property
    def accepted(self) -> tuple[Scalar, ...]:
        """The accepted values as a tuple."""
        return self.values if isinstance(self.values, tuple) else (self.values,)


@dataclass(frozen=True)
class Range:
    """Numeric attribute within bounds (OpenSearch `range`); None means unbounded. A document without the
    attribute never matches.

    Args:
        field: a filterable float/integer attribute.
        gte, gt, lte, lt: the bounds.
    """

    field: str
    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None

    def __post_init__(self) -> None:
        if self.gte is None and self.gt is None and self.lte is None and self.lt is None:
            raise ConfigError(f"range filter on {self.field!r} has no bound; give gte, gt, lte or lt")


Filter = Union[Term, Range]  # noqa: UP007 - a runtime alias, py3.10 safe


def check_filters(layout: IndexLayout, filters: Sequence[Filter]) -> None:
    """Refuse filters on undeclared attributes, and ranges on non-numeric ones (ConfigError)."""
    for flt in filters:
        attr = layout.attribute(flt.field)
        if isinstance(flt, Range) and attr.type not in ("float", "integer"):
            raise ConfigError(
                f"range filter on {flt.field!r}, a {attr.type} attribute; use a Term filter or "
                "declare it float/integer"
            )


def attribute_matches(value: object, flt: Filter) -> bool:
    """Whether one stored attribute value satisfies a filter (the local store's semantics, mirrored from
    OpenSearch: a list value matches if any element does; a missing value never matches)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return any(_one_matches(v, flt) for v in values if v is not None)


def _one_matches(value: object, flt: Filter) -> bool:
    if isinstance(flt, Term):
        return any(value == v and isinstance(value, bool) == isinstance(v, bool) for v in flt.accepted)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return (
        (flt.gte is None or value >= flt.gte)
        and (flt.gt is None or value > flt.gt)
        and (flt.lte is None or value <= flt.lte)
        and (flt.lt is None or value < flt.lt)
    )
