"""Request options from their textual forms (CLI flags) and the config's `[search]` defaults.

- weights: `title=0.7,description=0.3` (repeatable);
- filters: `brand=HP` / `brand=HP|Dell` (term), `price<=100`, `price>10` (range; `>=`, `>`, `<=`, `<`);
- the lexical component: `[search]` defaults overridden by explicit values (`resolve_lexical`);
- stores: a local store directory, or an OpenSearch index (with timeouts and transport retries).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gcl_search.config import SearchSpec
from gcl_search.errors import ConfigError
from gcl_search.search.client import LexicalSpec
from gcl_search.stores import DEFAULT_STORE_DIR
from gcl_search.stores.base import Filter, IndexLayout, Range, Term, VectorStore

_FILTER = re.compile(r"^\s*(?P<field>[^<>=!\s]+)\s*(?P<op><=|>=|<|>|=)\s*(?P<value>.+?)\s*$")
_RANGE_OPS = {"<=": "lte", ">=": "gte", "<": "lt", ">": "gt"}


def parse_weights(items: Iterable[str], what: str = "weight") -> dict[str, float]:
    """`["title=0.7,description=0.3", "brand=0"]` -> {"title": 0.7, "description": 0.3, "brand": 0.0}.

    Raises:
        ConfigError: an item is not `name=number`, or a name repeats.
    """
    out: dict[str, float] = {}
    for item in items:
        for part in (p.strip() for p in item.split(",")):
            if not part:
                continue
            name, sep, value = part.partition("=")
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not sep or not name.strip() or math.isnan(number):
                raise ConfigError(f"{what} {part!r} is not NAME=NUMBER (e.g. title=0.7)")
            if name.strip() in out:
                raise ConfigError(f"{what} for {name.strip()!r} is given twice")
            out[name.strip()] = number
    return out


def resolve_lexical(
    defaults: SearchSpec,
    *,
    lexical: bool | None = None,
    fields: Sequence[str] | None = None,
    weight: float | None = None,
    fusion: str | None = None,
    rank_constant: float | None = None,
    mode: str | None = None,
    boosts: Mapping[str, float] | None = None,
    oversample: float | None = None,
) -> LexicalSpec | None:
    """The request's lexical component: the config's `[search]` values, each overridden when given.

    Args:
        defaults: the config's `[search]` table.
        lexical: True / False turns BM25 on / off; None keeps the config's choice, except that naming
            `fields`, a `weight`, a `mode` or `boosts` turns it on.
        fields, weight, fusion, rank_constant, mode, boosts, oversample: overrides of `lexical_fields`,
            `lexical_weight`, `fusion`, `rank_constant`, `lexical_mode`, `lexical_boosts`, `oversample`.
            Request fields without a mode drop the config's mode (fields mean most_fields); request boosts
            replace the config's.

    Returns:
        A LexicalSpec, or None for a dense-only request.

    Raises:
        ConfigError: `lexical=False` together with lexical options, or an invalid value.
    """
    if lexical is False and (fields or weight is not None or mode or boosts):
        raise ConfigError(
            "lexical fields, weight, mode or boosts given with lexical search turned off; drop one"
        )
    named = bool(fields) or weight is not None or bool(mode) or bool(boosts)
    enabled = lexical if lexical is not None else (defaults.lexical or named)
    if not enabled:
        return None
    if mode is None:
        mode = None if fields else defaults.lexical_mode
    return LexicalSpec(
        fields=tuple(fields) if fields else (None if mode == "combined" else defaults.lexical_fields),
        weight=defaults.lexical_weight if weight is None else weight,
        fusion=fusion or defaults.fusion,
        rank_constant=defaults.rank_constant if rank_constant is None else rank_constant,
        mode=mode,
        boosts=dict(boosts) if boosts else defaults.lexical_boosts,
        oversample=oversample if oversample is not None else defaults.oversample,
    )


def parse_filters(items: Iterable[str], layout: IndexLayout) -> list[Filter]:
    """Filter expressions -> Term/Range, typed by the index's declared attributes.

    Raises:
        ConfigError: a malformed expression, an undeclared attribute, a non-numeric range bound, or a value
            that does not fit the attribute's type.
    """
    filters: list[Filter] = []
    for item in items:
        match = _FILTER.match(item)
        if not match:
            raise ConfigError(
                f"filter {item!r} is not FIELD=VALUE[|VALUE...] or FIELD<=NUMBER (also >=, <, >)"
            )
        field, op, value = match.group("field"), match.group("op"), match.group("value")
        attr = layout.attribute(field)
        if op == "=":
            values = tuple(_typed(v.strip(), attr.type, item) for v in value.split("|"))
            filters.append(Term(field, values[0] if len(values) == 1 else values))
        else:
            filters.append(Range(field, **{_RANGE_OPS[op]: _number(value, item)}))
    return filters


def _typed(value: str, kind: str, item: str) -> str | int | float | bool:
    if kind == "keyword":
        return value
    if kind == "boolean":
        if value.lower() not in ("true", "false"):
            raise ConfigError(f"filter {item!r}: {value!r} is not true or false")
        return value.lower() == "true"
    number = _number(value, item)
    return int(number) if kind == "integer" and number.is_integer() else number


def _number(value: str, item: str) -> float:
    try:
        number = float(value)
    except ValueError as err:
        raise ConfigError(f"filter {item!r}: {value!r} is not a number") from err
    if not math.isfinite(number):
        raise ConfigError(f"filter {item!r}: {value!r} is not a finite number")
    return number


def open_store(
    index: str,
    store_dir: str | Path = DEFAULT_STORE_DIR,
    opensearch_url: str | None = None,
    **opensearch: Any,
) -> VectorStore:
    """The store of an index, for every command: `<store_dir>/<index>` (local) or `index` on the OpenSearch
    cluster at `opensearch_url` (on Elasticsearch for a URL tagged by `cli.options.store_target`:
    `stores.engines.open_cluster_store`).

    Args:
        index: index name (a directory under `store_dir` for the local store).
        store_dir: the local store's parent directory.
        opensearch_url: cluster URL; None means the local store.
        opensearch: `OpenSearchStore` / `connect` keyword arguments (ca_certs, verify_certs, timeout,
            max_retries, shards, replicas, ...); ignored by the local store.

    Raises:
        ConfigError: no index name.
        StoreUnavailable: the cluster cannot be reached.
    """
    if not index:
        raise ConfigError("no index name; pass --index (the name used with `gcl-search ingest`)")
    if opensearch_url is None:
        from gcl_search.stores.local import LocalStore

        return LocalStore(Path(store_dir) / index)
    from gcl_search.stores.engines import open_cluster_store

    return open_cluster_store(opensearch_url, index, **opensearch)
