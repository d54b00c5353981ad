"""Write tuned weights into a config file, keeping its comments, order and every other key.

No TOML writer that round-trips comments is a dependency of the project, and the edit is narrow:
- inside each `[[fields]]` table, replace the value of `weight = ...` (keeping a trailing comment) or add the
  line after `name = ...`;
- in the `[search]` table (appended when missing), set `lexical`, and for a hybrid `lexical_weight`, `fusion`,
  `rank_constant`, `lexical_fields` (removed when BM25 searches all text fields), `lexical_mode`,
  `lexical_boosts` and `oversample` (removed when unset); other keys stay.
The result is re-read with `load_config` and checked before it replaces anything.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from gcl_search.config import load_config
from gcl_search.errors import ConfigError
from gcl_search.search.client import LexicalSpec

_HEADER = re.compile(r"^\s*\[")
_FIELDS_HEADER = re.compile(r"^\s*\[\[\s*fields\s*\]\]\s*(#.*)?$")
_NAME = re.compile(r"""^\s*name\s*=\s*(["'])(?P<name>.*?)\1""")
_WEIGHT = re.compile(r"^(?P<indent>\s*)weight\s*=\s*[^#\n]*?(?P<comment>\s*#.*)?$")
_SEARCH_HEADER = re.compile(r"^\s*\[\s*search\s*\]\s*(#.*)?$")
_TUNED_MARK = "# gcl-search tune:"


def write_weights(
    config_path: str | Path,
    out_path: str | Path,
    weights: Mapping[str, float],
    lexical: LexicalSpec | None = None,
    note: str = "",
) -> Path:
    """Copy `config_path` to `out_path` (may be the same file) with new `[[fields]]` weights and `[search]`
    lexical settings.

    Args:
        config_path: the source config.
        out_path: where to write; written atomically (a temporary file, then a rename).
        weights: field name -> weight; every name must be a `[[fields]]` table of the config.
        lexical: the tuned lexical component (None: a dense-only search, `lexical = false`).
        note: a comment line at the end of the file (e.g. the metric and held-out scores).

    Returns:
        The path written.

    Raises:
        ConfigError: the config cannot be read, a weight names no field, or the edited file does not load
            with exactly these weights.
    """
    config_path, out_path = Path(config_path), Path(out_path)
    try:
        lines = config_path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise ConfigError(f"{config_path}: cannot read the config ({err.strerror})") from err
    lines = [line for line in lines if not line.startswith(_TUNED_MARK)]
    edited, done = _edit_fields(lines, weights)
    missing = sorted(set(weights) - done)
    if missing:
        raise ConfigError(
            f"{config_path}: no [[fields]] table named {missing[0]!r}; the weights must name "
            "the config's document fields"
        )
    edited = _edit_search(edited, _search_values(lexical))
    if note:
        edited.append(f"{_TUNED_MARK} {note}")
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text("\n".join(edited) + "\n", encoding="utf-8")
    try:
        _check_written(tmp, weights, lexical)
    except ConfigError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out_path)
    return out_path


def _edit_fields(lines: list[str], weights: Mapping[str, float]) -> tuple[list[str], set[str]]:
    out: list[str] = []
    done: set[str] = set()
    table: list[str] | None = None  # lines of the current [[fields]] table

    def flush() -> None:
        nonlocal table
        if table is not None:
            out.extend(_edit_table(table, weights, done))
        table = None

    for line in lines:
        if _HEADER.match(line):
            flush()
            if _FIELDS_HEADER.match(line):
                table = [line]
                continue
        if table is not None:
            table.append(line)
        else:
            out.append(line)
    flush()
    return out, done


def _edit_table(table: list[str], weights: Mapping[str, float], done: set[str]) -> list[str]:
    name = next((m.group("name") for m in map(_NAME.match, table) if m), None)
    if name not in weights:
        return table
    done.add(name)
    value = f"weight = {float(weights[name]):.6g}"
    for i, line in enumerate(table):
        match = _WEIGHT.match(line)
        if match:
            table[i] = f"{match.group('indent')}{value}{match.group('comment') or ''}"
            return table
    at = next(i for i, line in enumerate(table) if _NAME.match(line))
    return [*table[: at + 1], value, *table[at + 1 :]]


def _search_values(lexical: LexicalSpec | None) -> dict[str, str | None]:
    """`[search]` key -> TOML value to set (None: remove the key)."""
    if lexical is None:
        return {"lexical": "false"}
    return {
        "lexical": "true",
        "lexical_weight": f"{lexical.weight:.6g}",
        "fusion": json.dumps(lexical.fusion),
        "rank_constant": f"{float(lexical.rank_constant)!r}",
        "lexical_fields": None if lexical.fields is None else json.dumps(list(lexical.fields)),
        "lexical_mode": None if lexical.mode is None else json.dumps(lexical.mode),
        "lexical_boosts": None
        if not lexical.boosts
        else "{" + ", ".join(f"{json.dumps(k)} = {float(v)!r}" for k, v in lexical.boosts.items()) + "}",
        "oversample": None if lexical.oversample is None else f"{float(lexical.oversample)!r}",
    }


def _edit_search(lines: list[str], values: Mapping[str, str | None]) -> list[str]:
    start = next((i for i, line in enumerate(lines) if _SEARCH_HEADER.match(line)), None)
    if start is None:
        while lines and not lines[-1].strip():
            lines = lines[:-1]
        added = [f"{key} = {value}" for key, value in values.items() if value is not None]
        return [*lines, "", "[search]", *added]
    end = next((i for i in range(start + 1, len(lines)) if _HEADER.match(lines[i])), len(lines))
    body = lines[start + 1 : end]
    for key, value in values.items():
        pattern = re.compile(rf"^(?P<indent>\s*){key}\s*=\s*[^#\n]*?(?P<comment>\s*#.*)?$")
        at = next((i for i, line in enumerate(body) if pattern.match(line)), None)
        if at is not None and value is None:
            del body[at]
        elif at is not None:
            match = pattern.match(body[at])
            body[at] = f"{match.group('indent')}{key} = {value}{match.group('comment') or ''}"
        elif value is not None:
            last = max((i for i, line in enumerate(body) if line.strip()), default=-1)
            body.insert(last + 1, f"{key} = {value}")
    return [*lines[: start + 1], *body, *lines[end:]]


def _check_written(path: Path, weights: Mapping[str, float], lexical: LexicalSpec | None) -> None:
    config = load_config(path)
    got = {spec.name: spec.weight for spec in config.fields}
    for name, value in weights.items():
        if abs(got[name] - float(value)) > 1e-5 * max(1.0, abs(float(value))):
            raise ConfigError(
                f"{path}: writing weight {name} = {value} failed (read back {got[name]}); "
                "edit the config by hand"
            )
    search = config.search
    if search.lexical != (lexical is not None) or (
        lexical is not None
        and (
            abs(search.lexical_weight - lexical.weight) > 1e-5
            or search.fusion != lexical.fusion
            or search.lexical_fields != lexical.fields
            or search.rank_constant != lexical.rank_constant
            or search.lexical_mode != lexical.mode
            or dict(search.lexical_boosts or {}) != (lexical.boosts or {})
            or search.oversample != lexical.oversample
        )
    ):
        raise ConfigError(
            f"{path}: writing the [search] lexical settings failed (read back {search}); "
            "edit the config by hand"
        )
