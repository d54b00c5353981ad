"""The request defaults (`[search]`) and the layout of a new index (`[index]`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from gcl_search.config.tables import check_choice
from gcl_search.errors import ConfigError

# The fusion methods of gcl_search.search.fusion (kept here so a config is checked without importing search).
FUSIONS = ("minmax", "zscore", "rrf")
ANALYZERS = ("standard", "english")  # BM25 analyzers (gcl_search.stores.bm25)
LEXICAL_MODES = ("combined", "most_fields")
# The dense scores of gcl_search.fields.vectors.multi_field_scores ("fused": the seed's fused embedding).
DENSE_SCORES = ("fused", "sum")
MAX_K = 10_000


@dataclass(frozen=True)
class SearchSpec:
    """Request defaults for `gcl-search search`, the live runs of `gcl-search evaluate` and `gcl-search tune`
    (`[search]`); command-line flags override them. `gcl-search tune` writes the lexical keys.

    Args:
        k: hits per page of `gcl-search search`.
        lexical: add a BM25 component fused with the dense score.
        lexical_fields: text fields BM25 searches (names of text `[[fields]]`); None: all of them.
        lexical_weight: the BM25 share of the fused score, in [0, 1].
        fusion: `minmax` or `zscore` (normalise over the candidates, then a weighted sum) or `rrf`.
        rank_constant: RRF's c (> 0).
        oversample: candidates per requested hit of each search when BM25 is fused (>= 1; None: the index's).
        ef_search: HNSW query beam (None: the index's).
        lexical_mode: "combined" (BM25 of the index's catch-all field, plus `lexical_boosts`) or "most_fields"
            (the boosted sum of per-field BM25 over `lexical_fields`); None: combined when the index has a
            catch-all field and no `lexical_fields` are named, else most_fields.
        lexical_boosts: text field -> boost (> 0): most_fields multiplies that field's BM25 (1 for the
            others); combined adds `boost * BM25_field` to the catch-all's score.
        dense_score: "fused" (the seed's multi-field embedding at the request's weights) or "sum"
            (`sum_f w_f q_f . d_f`); docs/search.md gives both formulas.
        rescore_depth: ANN candidates rescored exactly when the ANN score is not the dense score (None: the
            index's `rescore_depth`, 200).
    """

    k: int = 10
    lexical: bool = False
    lexical_fields: tuple[str, ...] | None = None
    lexical_weight: float = 0.7
    fusion: str = "rrf"  # with lexical_weight 0.7: chosen by query-level CV (docs/search.md)
    rank_constant: float = 60.0
    oversample: float | None = None
    ef_search: int | None = None
    dense_score: str = "fused"
    rescore_depth: int | None = None
    lexical_mode: str | None = None
    lexical_boosts: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        from gcl_search.stores.bm25 import check_lexical

        check_lexical(self.lexical_mode, self.lexical_fields, self.lexical_boosts)
        check_choice("dense_score", self.dense_score, DENSE_SCORES)
        if self.rescore_depth is not None and not 1 <= self.rescore_depth <= MAX_K:
            raise ConfigError(f"rescore_depth = {self.rescore_depth} must be in 1..{MAX_K} (or left out)")
        if not 1 <= self.k <= MAX_K:
            raise ConfigError(f"k = {self.k} must be in 1..{MAX_K}")
        if not (math.isfinite(self.lexical_weight) and 0.0 <= self.lexical_weight <= 1.0):
            raise ConfigError(
                f"lexical_weight = {self.lexical_weight} must be in [0, 1] (0: dense only, 1: BM25 only)"
            )
        check_choice("fusion", self.fusion, FUSIONS)
        if not (math.isfinite(self.rank_constant) and self.rank_constant > 0):
            raise ConfigError(f"rank_constant = {self.rank_constant} must be a finite number > 0")
        if self.oversample is not None and not (math.isfinite(self.oversample) and self.oversample >= 1):
            raise ConfigError(f"oversample = {self.oversample} must be a finite number >= 1 (or left out)")
        if self.ef_search is not None and self.ef_search < 1:
            raise ConfigError(f"ef_search = {self.ef_search} must be >= 1 (or left out)")
        if self.lexical_fields is not None:
            if not self.lexical_fields or len(set(self.lexical_fields)) != len(self.lexical_fields):
                raise ConfigError(
                    f"lexical_fields = {list(self.lexical_fields)} must list distinct text "
                    "fields (leave it out for all of them)"
                )


@dataclass(frozen=True)
class IndexSpec:
    """How `gcl-search ingest` lays out a new index (`[index]`); an existing index keeps its own layout.

    Args:
        preset_vector: also store each document's `sum_f w_f d_f` at the `[[fields]]` weights: requests with
            those weights (the default ones) then search a `dim`-d vector instead of the concatenated one,
            with the same exact scores, faster (`gcl_search.stores.layout`; docs/config.md has the
            latencies). The weighted fields must share one encoder.
        analyzer: the BM25 analyzer of the text fields, "english" (standard tokenizer, possessive, lowercase,
            English stop words, minimal_english plural stemming) or "standard" (tokenizer and lowercase);
            recorded in the index, so queries use the same one (docs/search.md, "Lexical scoring").
        catch_all: also index all text fields together as one field, for the "combined" lexical mode.
        text_fields: the BM25 text fields (default: the text `[[fields]]`); a name that is not a `[[fields]]`
            name is read from the catalogue column of that name and only indexed for BM25 (not embedded).
        shards: primary shards of a new OpenSearch index (docs/scaling.md: about one per data node, each
            under ~50 GB / a few million vectors).
        replicas: replica copies of each shard (0 on one node; >= 1 on a cluster, so a lost node loses no
            data and searches fail over). The local store ignores both.
        preset_ef_search: the HNSW beam of searches on the preset vector, recorded in the index (None: 200).
            Recall@10 falls as the catalogue grows: 0.997 at 100k products, 0.961 at 1M with 200, 0.995
            with 800 (docs/scaling.md). The local store searches exactly and ignores it.
    """

    preset_vector: bool = False
    analyzer: str = "english"
    catch_all: bool = True
    text_fields: tuple[str, ...] | None = None
    shards: int = 1
    replicas: int = 0
    preset_ef_search: int | None = None

    def __post_init__(self) -> None:
        from gcl_search.stores.bm25 import check_analyzer

        check_analyzer(self.analyzer)
        if self.text_fields is not None and (
            not self.text_fields
            or not all(self.text_fields)
            or len(set(self.text_fields)) != len(self.text_fields)
        ):
            raise ConfigError(f"text_fields = {list(self.text_fields)} must list distinct, non-empty names")
        if self.shards < 1:
            raise ConfigError(f"shards = {self.shards} must be >= 1")
        if self.replicas < 0:
            raise ConfigError(f"replicas = {self.replicas} must be >= 0")
        if self.preset_ef_search is not None and self.preset_ef_search < 1:
            raise ConfigError(f"preset_ef_search = {self.preset_ef_search} must be >= 1 (or left out)")
