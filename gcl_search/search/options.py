"""Parsing the textual forms of request options (CLI flags, config comments): weights, filters, stores.

- weights: `title=0.7,description=0.3` (repeatable);
- filters: `brand=HP` / `brand=HP|Dell` (term), `price<=100`, `price>10` (range; `>=`, `>`, `<=`, `<`);
- stores: a local store directory, or an OpenSearch index (with timeouts and transport retries).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path

from gcl_search.errors import ConfigError
from gcl_search.stores.base import Filter, IndexLayout, Range, Term, VectorStore

DEFAULT_STORE_DIR = Path("gcl-store")  # the same default as `gcl-search ingest`
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
            raise ConfigError(f"filter {item!r} is not FIELD=VALUE[|VALUE...] or FIELD<=NUMBER (also >=, <, "
                              ">)")
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


def open_store(index: str, store_dir: str | Path = DEFAULT_STORE_DIR, opensearch_url: str | None = None, *,
               ca_certs: str | None = None, verify_certs: bool = True, timeout: float = 30.0,
               transport_retries: int = 3) -> VectorStore:
    """The store to search: `<store_dir>/<index>` (local) or `index` on the OpenSearch cluster.

    Args:
        index: index name (a directory under `store_dir` for the local store).
        store_dir: the local store's parent directory.
        opensearch_url: cluster URL; None means the local store.
        ca_certs, verify_certs: TLS settings.
        timeout: seconds per OpenSearch request.
        transport_retries: opensearch-py's own retries on connection errors, timeouts and 502/503/504.

    Raises:
        StoreUnavailable: the cluster cannot be reached.
    """
    if not index:
        raise ConfigError("no index name; pass --index (the name used with `gcl-search ingest`)")
    if opensearch_url is None:
        from gcl_search.stores.local import LocalStore

        return LocalStore(Path(store_dir) / index)
    from gcl_search.stores.opensearch import OpenSearchStore

    return OpenSearchStore(opensearch_url, index, ca_certs=ca_certs, verify_certs=verify_certs,
                           timeout=timeout, max_retries=transport_retries, retry_on_timeout=True)
