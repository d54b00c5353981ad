"""k-NN field mappings for OpenSearch, with a lucene-engine guard, and score <-> similarity conversions.

Pure functions, no client: the index-layout code builds whole index bodies on top of `knn_vector_mapping` and
passes them through `check_knn_engines` before they reach a cluster.

Why the guard: the k-NN plugin's default engine is faiss, a native library. A `knn_vector` that names no
engine (or uses `mode`, `compression_level`, `model_id`) silently becomes faiss, and on a node without the
native libraries (the Maven Central plugin build, our test node) the first refresh fails with
`UnsatisfiedLinkError` and wedges the shard. The lucene engine is pure Java and available everywhere, so
gcl-search writes `engine: lucene` unless the caller opts into a native engine explicitly.

Score formulas (k-NN 2.19 `SpaceType.scoreTranslation`, lucene `VectorSimilarityFunction`; the exact
`knn_score` script gives the same values on indices created by 2.19+):

=============  =====================================  =======================================
space_type     `_score` from raw similarity            raw similarity from `_score` s
=============  =====================================  =======================================
innerproduct   dot > 0: 1 + dot; dot <= 0: 1/(1-dot)  s > 1: s - 1; s <= 1: 1 - 1/s
cosinesimil    (1 + cos) / 2                           2s - 1
l2             1 / (1 + d2), d2 = squared L2 distance  1/s - 1
l1, linf       1 / (1 + d)                             1/s - 1
=============  =====================================  =======================================
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from gcl_search.errors import ConfigError

LUCENE = "lucene"
NATIVE_ENGINES = ("faiss", "nmslib")
ENGINES = (LUCENE, *NATIVE_ENGINES)
LUCENE_SPACES = ("innerproduct", "cosinesimil", "l2")
NATIVE_SPACES = {
    "faiss": ("innerproduct", "cosinesimil", "l2", "hamming"),
    "nmslib": ("innerproduct", "cosinesimil", "l2", "l1", "linf"),
}
SCORE_SPACES = ("innerproduct", "cosinesimil", "l2", "l1", "linf")
MAX_DIMENSION = 16_000
# Parameters that make the k-NN plugin pick a native engine even when no engine is named.
_NATIVE_TRIGGERS = ("mode", "compression_level", "model_id")


@dataclass(frozen=True)
class OpenSearchOptions:
    """The HNSW settings only OpenSearch reads (`LayoutOptions.opensearch`; the local store is exact).

    Args:
        engine: "lucene" unless the user explicitly chooses otherwise (faiss and nmslib need the plugin's
            native libraries).
        m: HNSW graph degree.
        ef_construction: HNSW build-time candidate list size.
        ef_search: HNSW query-time beam (OpenSearch uses max(ef_search, candidates)); on OpenSearch this, not
            oversample, decides recall (docs/stores.md).
        preset_ef_search: the beam of a search on the preset vector (a dim-d graph built for one weighting
            needs far less than the concatenated vector's for the same recall: docs/search.md).
    """

    engine: str = LUCENE
    m: int = 16
    ef_construction: int = 200
    ef_search: int = 1600
    preset_ef_search: int = 200

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ConfigError(f"engine {self.engine!r} is not known; use lucene (default), faiss or nmslib")
        if self.m < 2 or self.ef_construction < 1 or self.ef_search < 1:
            raise ConfigError(
                f"HNSW parameters m={self.m}, ef_construction={self.ef_construction}, "
                f"ef_search={self.ef_search} must be m >= 2 and ef_* >= 1"
            )
        if self.preset_ef_search < 1:
            raise ConfigError(f"preset_ef_search = {self.preset_ef_search} must be >= 1")


def knn_vector_mapping(
    dim: int,
    space_type: str = "innerproduct",
    engine: str = LUCENE,
    m: int = 16,
    ef_construction: int = 100,
    allow_native_engine: bool = False,
) -> dict[str, Any]:
    """Build the mapping of one `knn_vector` field (HNSW).

    Args:
        dim: vector dimension, 1..16000.
        space_type: `innerproduct` (unit vectors: same order as cosine), `cosinesimil` or `l2`; faiss and
            nmslib accept a few more when allowed.
        engine: `lucene` (default, pure Java). `faiss` / `nmslib` need the plugin's native libraries.
        m: HNSW graph degree.
        ef_construction: HNSW build-time beam width.
        allow_native_engine: must be True to use `faiss` or `nmslib`; it exists so that a native engine can
            never be chosen by accident (a config typo, a copied default).

    Returns:
        The field mapping, e.g. `{"type": "knn_vector", "dimension": 384, "space_type": "innerproduct",
        "method": {"name": "hnsw", "engine": "lucene", "parameters": {"m": 16, "ef_construction": 100}}}`.
        The index needs the setting `index.knn: true` (see `knn_index_settings`).

    Raises:
        ConfigError: an unknown or non-opted-in engine, a space the engine lacks, a bad dimension or
            parameter.
    """
    _check_engine(engine, allow_native_engine, where=f"knn_vector_mapping(engine={engine!r})")
    spaces = LUCENE_SPACES if engine == LUCENE else NATIVE_SPACES[engine]
    if space_type not in spaces:
        raise ConfigError(
            f"space_type {space_type!r} is not supported by the {engine} engine; "
            f"use one of {', '.join(spaces)}"
        )
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIMENSION:
        raise ConfigError(f"vector dimension must be an integer in 1..{MAX_DIMENSION}, got {dim!r}")
    for name, value in (("m", m), ("ef_construction", ef_construction)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ConfigError(f"HNSW parameter {name} must be an integer >= 2, got {value!r}")
    return {
        "type": "knn_vector",
        "dimension": dim,
        "space_type": space_type,
        "method": {
            "name": "hnsw",
            "engine": engine,
            "parameters": {"m": m, "ef_construction": ef_construction},
        },
    }


def knn_index_settings(shards: int = 1, replicas: int = 0) -> dict[str, Any]:
    """Index settings that enable k-NN fields (`index.knn` is static: set at creation).

    Args:
        shards: primary shards.
        replicas: replicas; 0 keeps a single-node cluster green.

    Returns:
        `{"index": {"knn": True, "number_of_shards": shards, "number_of_replicas": replicas}}`.
    """
    return {"index": {"knn": True, "number_of_shards": shards, "number_of_replicas": replicas}}


def check_knn_engines(body: dict[str, Any], allow_native_engine: bool = False) -> None:
    """Refuse an index body (or bare mappings) whose `knn_vector` fields would not use the lucene engine.

    Every `knn_vector` field, at any depth (object and nested properties included), must name
    `method.engine: lucene` and must not use `mode`, `compression_level` or `model_id`, unless
    `allow_native_engine` is True. A field without `method` (a flat field, exact `knn_score` only) is allowed
    only when the body's settings say `index.knn: false`: with `index.knn: true`, or settings not given here,
    it would default to faiss.

    Args:
        body: an index body (`{"settings": ..., "mappings": {"properties": ...}}`), a mappings dict, or a
            template body (`{"template": {...}}`).
        allow_native_engine: the explicit opt-in that lets faiss / nmslib through.

    Raises:
        ConfigError: naming the field path and what to change.
    """
    inner = body.get("template", body)
    knn_enabled = _knn_setting(inner.get("settings"))
    mappings = inner.get("mappings", inner)
    for path, field in _knn_fields(mappings.get("properties", {}), prefix=""):
        _check_field(path, field, knn_enabled, allow_native_engine)


def score_from_similarity(similarity: float | np.ndarray, space_type: str) -> float | np.ndarray:
    """OpenSearch's `_score` for a raw similarity (before any `boost`).

    Args:
        similarity: dot product (`innerproduct`), cosine (`cosinesimil`), squared L2 distance (`l2`) or
            distance (`l1`, `linf`); a scalar or an array.
        space_type: one of `innerproduct`, `cosinesimil`, `l2`, `l1`, `linf`.

    Returns:
        The score, same shape as `similarity`.

    Raises:
        ConfigError: unknown space type.
    """
    s = np.asarray(similarity, dtype=np.float64)
    if space_type == "innerproduct":
        out = np.where(s > 0, 1.0 + s, 1.0 / (1.0 - np.minimum(s, 0.0)))
    elif space_type == "cosinesimil":
        out = (1.0 + s) / 2.0
    elif space_type in ("l2", "l1", "linf"):
        out = 1.0 / (1.0 + s)
    else:
        raise ConfigError(f"unknown space_type {space_type!r}; use one of {', '.join(SCORE_SPACES)}")
    return out if out.ndim else float(out)


def similarity_from_score(
    score: float | np.ndarray, space_type: str, boost: float = 1.0
) -> float | np.ndarray:
    """Invert `_score` to the raw similarity (see the table in the module docstring).

    Only single-clause or named-query scores can be inverted: a `bool` sums its clauses, and hybrid / RRF
    scores are normalised. Expect about 1e-6 float32 rounding.

    Args:
        score: the `_score` (or named-query score); a scalar or an array; must be > 0.
        space_type: one of `innerproduct`, `cosinesimil`, `l2`, `l1`, `linf`.
        boost: the clause's boost, divided out first.

    Returns:
        Dot product, cosine, squared L2 distance or distance, same shape as `score`.

    Raises:
        ConfigError: unknown space type, or a non-positive boost or score (no similarity maps there).
    """
    if boost <= 0:
        raise ConfigError(f"boost must be > 0 to invert a score, got {boost}")
    s = np.asarray(score, dtype=np.float64) / boost
    if np.any(s <= 0):
        raise ConfigError("k-NN scores are > 0; a score <= 0 cannot come from a single knn clause")
    if space_type == "innerproduct":
        out = np.where(s > 1.0, s - 1.0, 1.0 - 1.0 / s)
    elif space_type == "cosinesimil":
        out = 2.0 * s - 1.0
    elif space_type in ("l2", "l1", "linf"):
        out = 1.0 / s - 1.0
    else:
        raise ConfigError(f"unknown space_type {space_type!r}; use one of {', '.join(SCORE_SPACES)}")
    return out if out.ndim else float(out)


def _check_engine(engine: object, allow_native_engine: bool, where: str) -> None:
    if engine == LUCENE:
        return
    if engine in NATIVE_ENGINES:
        if allow_native_engine:
            return
        raise ConfigError(
            f"{where}: engine {engine!r} needs the k-NN plugin's native libraries, which the Maven build and "
            "the gcl-search test node lack; use engine 'lucene', or pass allow_native_engine=True "
            "if your cluster ships them"
        )
    raise ConfigError(
        f"{where}: unknown k-NN engine {engine!r}; use 'lucene' "
        f"(or {' / '.join(NATIVE_ENGINES)} with allow_native_engine=True)"
    )


def _check_field(path: str, field: dict[str, Any], knn_enabled: bool, allow_native_engine: bool) -> None:
    where = f"knn_vector field {path!r}"
    triggers = [key for key in _NATIVE_TRIGGERS if key in field]
    if triggers and not allow_native_engine:
        raise ConfigError(
            f"{where}: {', '.join(triggers)} selects a native engine (faiss); remove it and "
            "set method.engine 'lucene', or opt in with allow_native_engine=True"
        )
    method = field.get("method")
    if method is None:
        if knn_enabled and not triggers and not allow_native_engine:
            raise ConfigError(
                f"{where} names no method, so the k-NN plugin would default to faiss; "
                "build it with knn_vector_mapping() (engine 'lucene')"
            )
        return
    if "engine" not in method and not allow_native_engine:
        raise ConfigError(
            f"{where}: method names no engine, so the k-NN plugin would default to faiss; "
            "set method.engine 'lucene'"
        )
    _check_engine(method.get("engine", LUCENE), allow_native_engine, where)


def _knn_setting(settings: dict[str, Any] | None) -> bool:
    # Unknown means enabled: bare mappings may be PUT into a k-NN index, where a method-less field is faiss.
    # Settings may be nested ({"index": {"knn": true}}) or flat ({"index.knn": true}).
    if settings is None:
        return True
    value = settings.get("index.knn", settings.get("index", {}).get("knn", False))
    return str(value).lower() == "true"


def _knn_fields(properties: dict[str, Any], prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, field in properties.items():
        path = f"{prefix}{name}"
        if field.get("type") == "knn_vector":
            yield path, field
        if "properties" in field:
            yield from _knn_fields(field["properties"], prefix=f"{path}.")
