"""The whole config (`Config`, with the checks across tables) and reading it from a TOML file."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gcl_search.config.fields import EncoderSpec, FieldSpec, ImageSpec
from gcl_search.config.search import IndexSpec, SearchSpec
from gcl_search.config.tables import coerce, from_table, get_array, get_table, read_toml, reject_unknown
from gcl_search.errors import ConfigError

_PATH_PREFIXES = ("./", "../", "/", "~", ".\\", "..\\")


@dataclass(frozen=True)
class Config:
    """The whole config file. Cross-table checks run here, so a Config built in code is validated too.

    Args:
        encoders: encoder name -> EncoderSpec.
        fields: document fields, in index order (the concatenated vector follows this order).
        query_fields: query fields.
        images: image reading options.
        search: request defaults (`[search]`).
        index: the layout of a new index (`[index]`).
        train: the `[train]` table as written; a training recipe is also a valid ingest/search config.
            The trainer validates it (`gcl_search.training.spec.load_train_config`).
        path: the file this config came from (None when built in code).
    """

    encoders: Mapping[str, EncoderSpec]
    fields: tuple[FieldSpec, ...]
    query_fields: tuple[FieldSpec, ...] = ()
    images: ImageSpec = field(default_factory=ImageSpec)
    search: SearchSpec = field(default_factory=SearchSpec)
    index: IndexSpec = field(default_factory=IndexSpec)
    train: Mapping[str, object] = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self) -> None:
        for key in ("fields", "query_fields"):
            _check_fields(key, getattr(self, key), self.encoders)
        text_fields = self.text_field_names()
        for key in ("lexical_fields", "lexical_boosts"):
            unknown = [name for name in getattr(self.search, key) or () if name not in text_fields]
            if unknown:
                known = ", ".join(text_fields) or "none"
                raise ConfigError(
                    f"[search].{key}: {unknown[0]!r} is not a BM25 text field ([index] "
                    f"text_fields, else the text [[fields]]: {known})"
                )

    def text_field_names(self) -> list[str]:
        """The BM25 text fields of a new index: `[index] text_fields`, else the text `[[fields]]`."""
        if self.index.text_fields is not None:
            return list(self.index.text_fields)
        return [spec.name for spec in self.fields if spec.modality == "text"]


def _check_fields(key: str, specs: tuple[FieldSpec, ...], encoders: Mapping[str, EncoderSpec]) -> None:
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        where = f"{key}[{i}] (name = {spec.name!r})"
        if spec.name in seen:
            raise ConfigError(
                f"{where}: duplicate name, already used by {key}[{seen[spec.name]}]; "
                "field names must be unique"
            )
        seen[spec.name] = i
        encoder = encoders.get(spec.encoder)
        if encoder is None:
            known = ", ".join(sorted(encoders)) or "none"
            raise ConfigError(
                f"{where}: encoder = {spec.encoder!r} is not defined; defined encoders: "
                f"{known} (add an [encoders.{spec.encoder}] table)"
            )
        if spec.modality not in encoder.modalities:
            raise ConfigError(
                f"{where}: modality {spec.modality!r} needs an encoder with an image tower, "
                f"but {spec.encoder!r} ({encoder.backend}) encodes text only; use an open_clip "
                "encoder"
            )
    if specs and not any(spec.weight > 0 for spec in specs):
        raise ConfigError(f"{key}: every weight is 0; give at least one field a weight > 0")


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config.

    Relative paths in `model`, `pretrained` (when written as `./x` or `../x`) and `[images] root` resolve
    against the config file's directory, so a config works from any working directory.

    Args:
        path: the TOML file.

    Returns:
        The validated Config.

    Raises:
        ConfigError: the file is missing or not TOML, or a key is unknown, mistyped or invalid. The message
            names the file and the key.
    """
    path = Path(path)
    data = read_toml(path, "config file")
    try:
        return parse_config(data, base_dir=path.resolve().parent, path=path)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err


def parse_config(
    data: Mapping[str, object], base_dir: Path | None = None, path: Path | None = None
) -> Config:
    """Build a Config from an already-parsed TOML mapping (what `load_config` does after reading the file)."""
    hints = typing.get_type_hints(Config)
    known = [f.name for f in dataclasses.fields(Config) if f.name != "path"]
    reject_unknown(data, known, "top level")
    values: dict[str, object] = {"path": path}
    encoders = get_table(data, "encoders", "")
    values["encoders"] = {name: _encoder(name, table, base_dir) for name, table in encoders.items()}
    for key in ("fields", "query_fields"):
        items = enumerate(get_array(data, key))
        values[key] = tuple(from_table(FieldSpec, item, f"{key}[{i}]") for i, item in items)
    if not values["fields"]:
        raise ConfigError("fields: no [[fields]] table; declare at least one document field")
    for key in known:
        if key not in values and key in data:
            values[key] = coerce(get_table(data, key, ""), hints[key], f"[{key}]")
    images = values.get("images")
    if isinstance(images, ImageSpec) and images.root is not None:
        values["images"] = dataclasses.replace(images, root=_resolve(images.root, base_dir, always=True))
    return Config(**values)  # type: ignore[arg-type]


def _encoder(name: str, table: object, base_dir: Path | None) -> EncoderSpec:
    where = f"[encoders.{name}]"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table (write [encoders.{name}] with backend and model keys)")
    spec = from_table(EncoderSpec, {**table, "name": name}, where)
    pretrained = None if spec.pretrained is None else _resolve(spec.pretrained, base_dir)
    return dataclasses.replace(spec, model=_resolve(spec.model, base_dir), pretrained=pretrained)


def _resolve(value: str, base_dir: Path | None, always: bool = False) -> str:
    prefix = "local-dir:" if value.startswith("local-dir:") else ""
    raw = value[len(prefix) :]
    if base_dir is None or not (always or prefix or raw.startswith(_PATH_PREFIXES)):
        return value
    return prefix + str((base_dir / Path(raw).expanduser()).resolve())
