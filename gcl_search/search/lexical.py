"""The lexical (BM25) component of a search request, and the query text BM25 gets."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from gcl_search.config import MAX_K
from gcl_search.errors import ConfigError
from gcl_search.search.fusion import DEFAULT_RANK_CONSTANT, check_fusion
from gcl_search.stores.base import IndexLayout
from gcl_search.stores.bm25 import analyze, check_lexical

# OpenSearch turns every query term into a clause and refuses more than indices.query.bool.max_clause_count
# (1024 by default); a pasted paragraph must not turn into an error.
MAX_LEXICAL_TERMS = 256


@dataclass(frozen=True)
class LexicalSpec:
    """The lexical (BM25) component of a request.

    Args:
        fields: text fields to search (None: all of the index's text fields); BM25 is summed over them.
        weight: lam in [0, 1], the lexical share of the fused score (1 - lam goes to the dense part).
        fusion: "minmax" or "zscore" (normalise both lists over the candidates, then a weighted sum) or "rrf".
        rank_constant: RRF's c (ignored by the other methods).
        depth: lexical candidates to fetch (None: as many as the dense search, `ceil((offset+k)*oversample)`).
        mode: "combined" (BM25 of the index's catch-all field plus `boosts`) or "most_fields" (boosted sum
            over `fields`); None: combined when the index has a catch-all field and `fields` is None.
        boosts: text field -> boost > 0 (`gcl_search.stores.bm25`).
        oversample: candidates per requested hit of each search (None: the client's).
    """

    fields: tuple[str, ...] | None = None
    weight: float = 0.7  # = [search] lexical_weight's default
    fusion: str = "rrf"  # = [search] fusion's default
    rank_constant: float = DEFAULT_RANK_CONSTANT
    depth: int | None = None
    mode: str | None = None
    boosts: Mapping[str, float] | None = None
    oversample: float | None = None

    def __post_init__(self) -> None:
        check_fusion(self.fusion, self.weight, self.rank_constant)
        check_lexical(self.mode, self.fields, self.boosts)
        if self.depth is not None and not 1 <= self.depth <= MAX_K:
            raise ConfigError(f"lexical depth {self.depth} must be in 1..{MAX_K}")
        if self.oversample is not None and not (math.isfinite(self.oversample) and self.oversample >= 1):
            raise ConfigError(f"oversample = {self.oversample} must be a finite number >= 1")
        if self.fields is not None:
            object.__setattr__(self, "fields", tuple(self.fields))
        if self.boosts is not None:
            object.__setattr__(self, "boosts", dict(self.boosts))

    def resolved_mode(self, layout: IndexLayout) -> str:
        """The mode this request runs in on an index laid out as `layout`."""
        if self.mode is not None:
            return self.mode
        return "combined" if layout.options.catch_all and self.fields is None else "most_fields"


def lexical_text(text: str) -> str:
    """The query text for BM25, cut to its first MAX_LEXICAL_TERMS analysed terms."""
    tokens = analyze(text)
    return text if len(tokens) <= MAX_LEXICAL_TERMS else " ".join(tokens[:MAX_LEXICAL_TERMS])
