"""The generic TOML table reader every config table goes through: type checks against a dataclass's
annotations, unknown and missing keys named, errors prefixed with where they are."""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path

from gcl_search.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - python 3.10
    import tomli as tomllib


def check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{key} = {value!r} is not known; use one of: {', '.join(choices)}")


def get_table(data: Mapping[str, object], key: str, where: str) -> Mapping[str, object]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}{key}: must be a table ([{key}]), got {type(value).__name__}")
    return value


def get_array(data: Mapping[str, object], key: str) -> list[object]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{key}: must be an array of tables ([[{key}]]), got {type(value).__name__}")
    return value


def reject_unknown(table: Mapping[str, object], known: list[str], where: str) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(known))}")


def from_table(cls: type, table: object, where: str) -> typing.Any:
    """Build dataclass `cls` from a TOML table, type-checking each value against its annotations.

    The shared reader for every table (use it for a new one): unknown keys and missing required keys are
    errors listing the known keys; values are checked against `str`, `int`, `float` (ints accepted), `bool`,
    `X | None`, `list[...]`, `tuple[X, ...]`, `Mapping[str, ...]` and nested dataclasses; ConfigErrors from
    `__post_init__` are prefixed with `where` (e.g. `[train]`).
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table, got {type(table).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    reject_unknown(table, names, where)
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.init
        and f.name not in table
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing required key {missing[0]!r}")
    values = {key: coerce(value, hints[key], f"{where}.{key}") for key, value in table.items()}
    try:
        return cls(**values)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err


def coerce(value: object, hint: object, where: str) -> object:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(value, inner[0], where) if len(inner) == 1 else value
    if origin in (tuple, list) and isinstance(value, list):
        return origin(coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) and isinstance(value, Mapping):
        return {k: coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return from_table(hint, value, where)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    expected = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{where} = {value!r}: expected {expected}, got {type(value).__name__}")


def read_toml(path: Path, what: str) -> dict:
    """Read a TOML file; ConfigError naming the file when it is unreadable or not TOML."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the {what} ({err.strerror})") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML ({err})") from err
