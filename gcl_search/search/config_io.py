"""Write tuned field weights into a config file, keeping its comments, order and every other key.

No TOML writer that round-trips comments is a dependency of the project, and the edit is narrow: inside each
`[[fields]]` table, replace the value of `weight = ...` (keeping a trailing comment) or add the line after
`name = ...`. The result is re-read with `load_config` and checked before it replaces anything.

The config has no table for the lexical settings yet, so those are written as a comment block at the end of
the file (and printed by the CLI); pass them to `gcl-search search` as flags.
"""

from __future__ import annotations

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
_TUNED_MARK = "# gcl-search tune:"


def write_weights(config_path: str | Path, out_path: str | Path, weights: Mapping[str, float],
                  lexical: LexicalSpec | None = None, note: str = "") -> Path:
    """Copy `config_path` to `out_path` (may be the same file) with new `[[fields]]` weights.

    Args:
        config_path: the source config.
        out_path: where to write; written atomically (a temporary file, then a rename).
        weights: field name -> weight; every name must be a `[[fields]]` table of the config.
        lexical: tuned lexical settings, recorded as a comment block.
        note: one line recorded in that comment block (e.g. the metric and held-out score).

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
        raise ConfigError(f"{config_path}: no [[fields]] table named {missing[0]!r}; the weights must name "
                          "the config's document fields")
    edited += _comment_block(lexical, note)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text("\n".join(edited) + "\n", encoding="utf-8")
    try:
        _check_written(tmp, weights)
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
    return [*table[:at + 1], value, *table[at + 1:]]


def _comment_block(lexical: LexicalSpec | None, note: str) -> list[str]:
    block = []
    if note:
        block.append(f"{_TUNED_MARK} {note}")
    if lexical is not None:
        fields = ",".join(lexical.fields) if lexical.fields else "all text fields"
        block.append(f"{_TUNED_MARK} lexical fields={fields} weight={lexical.weight:.6g} "
                     f"fusion={lexical.fusion} rank_constant={lexical.rank_constant:g}")
    return block


def _check_written(path: Path, weights: Mapping[str, float]) -> None:
    config = load_config(path)
    got = {spec.name: spec.weight for spec in config.fields}
    for name, value in weights.items():
        if abs(got[name] - float(value)) > 1e-5 * max(1.0, abs(float(value))):
            raise ConfigError(f"{path}: writing weight {name} = {value} failed (read back {got[name]}); "
                              "edit the config by hand")
