"""The parts of an `IndexLayout` (`gcl_search.stores.layout`): its dense fields, its filterable attributes and
the options that say how vectors are stored and searched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from gcl_search.errors import ConfigError
from gcl_search.field_weights import check_weights
from gcl_search.stores.knn import OpenSearchOptions

ATTRIBUTE_TYPES = ("keyword", "float", "integer", "boolean")


@dataclass(frozen=True)
class DenseField:
    """One document field that is embedded.

    Args:
        name: the field name (a FieldSpec name); also the name of its per-field vector when one is stored.
        dim: vector dimension.
        encoder: the encoder's name (its `[encoders.<name>]` key), so search embeds with the same one.
        modality: "text" or "image".
    """

    name: str
    dim: int
    encoder: str
    modality: str = "text"

    def __post_init__(self) -> None:
        if not self.name or self.name.startswith("_"):
            raise ConfigError(
                f"dense field name {self.name!r} must be non-empty and not start with '_' "
                "(reserved for the store's own fields)"
            )
        if self.dim < 1:
            raise ConfigError(f"dense field {self.name!r}: dim = {self.dim} must be >= 1")


@dataclass(frozen=True)
class AttributeField:
    """A stored attribute that filters can use.

    Args:
        name: the attribute key in `Document.attributes`.
        type: "keyword" (exact strings, term filters), "float", "integer" (term and range filters) or
            "boolean".
    """

    name: str
    type: str = "keyword"

    def __post_init__(self) -> None:
        if self.type not in ATTRIBUTE_TYPES:
            raise ConfigError(
                f"attribute {self.name!r}: type {self.type!r} is not known; use one of: "
                f"{', '.join(ATTRIBUTE_TYPES)}"
            )


@dataclass(frozen=True)
class LayoutOptions:
    """How vectors are stored and searched, whatever the store.

    Args:
        concat: store the concatenated inner-product vector (the settled design; needed by `knn(CONCAT)`).
        per_field_vectors: also store one vector per dense field (cosine == inner product on unit vectors);
            only worth it if something searches a single field (measured in benchmarks/bench_layout.py).
        preset_weights: when set, also store the preset vector of these weights `a_f >= 0`
            (`derived.preset_vector`); the fields with `a_f > 0` must share one encoder. Requests whose
            weights are `c * a_f` search it instead of the concatenated vector (`derived.knn_plan`).
        oversample: with a lexical component, the search client asks each search for
            `ceil((offset + k) * oversample)` candidates, the set the fusion normalises over (a dense-only
            request asks for `offset + k`).
        rescore_depth: ANN candidates whose dense score is computed exactly when the ANN score is not that
            score (`derived.knn_exact`); the best `offset + k` (or the lexical depth) of them are kept.
            200: recall@10 >= 0.99 of the fused score at 7 weightings on Icecat (docs/search.md).
        impute_missing: an absent field's block of the concatenated vector is the unit mean of the
            document's present fields (`derived.concat_document`); False: zeros (indices written before).
        preset_fused: the preset vector is `normalize(sum_f a_f d_f)` (a_f renormalised over present
            fields); False: `sum_f a_f d_f` (indices written before).
        analyzer: the text fields' analyzer ("standard" or "english", `gcl_search.stores.bm25`); an index-time
            choice, so queries are analysed the same way. Indexes from before it was recorded: "standard".
        catch_all: also index the concatenation of the text fields as one field (the "combined" lexical
            mode). Indexes from before it was recorded: False.
        id_tiebreak: a server index also keeps each document's id as a sortable keyword, and its BM25
            searches break score ties by id on every shard copy, so a replica that takes over returns the
            same list (and the same one as the local store). Indexes from before it was recorded: False.
        opensearch: the HNSW settings only OpenSearch reads (engine, m, ef_construction, ef_search).
    """

    concat: bool = True
    per_field_vectors: bool = False
    preset_weights: Mapping[str, float] | None = None
    oversample: float = 3.0
    analyzer: str = "standard"
    catch_all: bool = False
    rescore_depth: int = 200
    impute_missing: bool = True
    preset_fused: bool = True
    id_tiebreak: bool = True
    opensearch: OpenSearchOptions = field(default_factory=OpenSearchOptions)

    def __post_init__(self) -> None:
        from gcl_search.stores.bm25 import check_analyzer

        check_analyzer(self.analyzer)
        if not (math.isfinite(self.oversample) and self.oversample >= 1):
            raise ConfigError(f"oversample = {self.oversample} must be a finite number >= 1")
        if not 1 <= self.rescore_depth <= 10_000:
            raise ConfigError(f"rescore_depth = {self.rescore_depth} must be in 1..10000")
        if self.preset_weights is not None:
            check_weights(self.preset_weights, what="preset weight", allow_all_zero=False)
