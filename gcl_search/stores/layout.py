"""IndexLayout: what an index holds and how a config must match it (schema, save/load, compatibility); its
parts (dense fields, attributes, options) are in `gcl_search.stores.layout_parts`.

Every document carries ONE concatenated vector `D = [d_1; ...; d_F]` (field vectors in layout order) and,
optionally, a preset vector; how those vectors and the query vectors that search them are built is
`gcl_search.stores.derived` (docs/stores.md says why this layout). The layout is recorded in the index
(`_meta.gcl_search` in OpenSearch, `meta.json` in the local store) so that ingest and search can refuse a
config that does not match what was indexed (`check_compatible`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING

from gcl_search.errors import ConfigError, DimensionMismatch
from gcl_search.field_weights import check_weights
from gcl_search.stores.knn import OpenSearchOptions
from gcl_search.stores.layout_parts import ATTRIBUTE_TYPES, AttributeField, DenseField, LayoutOptions

if TYPE_CHECKING:
    from gcl_search.config import Config

# The parts are re-exported: callers import them from here.
__all__ = [
    "ATTRIBUTE_TYPES",
    "CONCAT",
    "LAYOUT_VERSION",
    "PRESET",
    "AttributeField",
    "DenseField",
    "IndexLayout",
    "LayoutOptions",
    "layout_from_config",
]

LAYOUT_VERSION = 1
# Names of the vector targets a `knn` call can search, besides a dense field's own name.
CONCAT = "_concat"
PRESET = "_preset"
# Options a layout written before they existed lacks, and the value that describes such an index.
_LEGACY_OPTIONS = {"impute_missing": False, "preset_fused": False, "id_tiebreak": False}
# Recorded by layouts written while a training-weights "fused" vector existed; nothing reads it now.
_DROPPED_OPTIONS = ("fused_weights",)
# OpenSearchOptions are recorded flat among the options (the format indices already have).
_OPENSEARCH_KEYS = tuple(f.name for f in fields(OpenSearchOptions))


@dataclass(frozen=True)
class IndexLayout:
    """The shape of an index: dense fields (in concatenation order), BM25 text fields, attributes, options.

    Args:
        dense_fields: embedded fields, in the order of the concatenated vector.
        text_fields: fields indexed for BM25 (keys of `Document.texts`).
        attributes: filterable attributes. Other attributes are stored and returned but cannot be filtered on.
        options: storage/search options.
    """

    dense_fields: tuple[DenseField, ...]
    text_fields: tuple[str, ...] = ()
    attributes: tuple[AttributeField, ...] = ()
    options: LayoutOptions = field(default_factory=LayoutOptions)

    def __post_init__(self) -> None:
        names = [f.name for f in self.dense_fields]
        if not names:
            raise ConfigError("an index layout needs at least one dense field")
        for kind, values in (
            ("dense field", names),
            ("text field", list(self.text_fields)),
            ("attribute", [a.name for a in self.attributes]),
        ):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ConfigError(f"{kind} {dupes[0]!r} is listed twice in the index layout")
        preset = self.options.preset_weights
        if preset is not None:
            check_weights(preset, names, "preset weight")
            weighted = [f for f in self.dense_fields if preset.get(f.name, 0) > 0]
            if len({(f.encoder, f.dim) for f in weighted}) > 1:
                raise ConfigError(
                    f"preset_weights weights fields of several encoders or dimensions "
                    f"({sorted({(f.encoder, f.dim) for f in weighted})}); "
                    "a preset vector needs one query vector for all its fields: weight only "
                    "fields of one encoder"
                )

    @property
    def preset_dim(self) -> int:
        """Dimension of the preset vector (the shared dimension of its weighted fields)."""
        preset = self.options.preset_weights or {}
        return next(f.dim for f in self.dense_fields if preset.get(f.name, 0) > 0)

    @property
    def field_names(self) -> tuple[str, ...]:
        """Dense field names in concatenation order."""
        return tuple(f.name for f in self.dense_fields)

    @property
    def concat_dim(self) -> int:
        """Dimension of the concatenated vector: sum of the field dimensions."""
        return sum(f.dim for f in self.dense_fields)

    @property
    def offsets(self) -> dict[str, slice]:
        """Field name -> its slice of the concatenated vector."""
        out, start = {}, 0
        for f in self.dense_fields:
            out[f.name] = slice(start, start + f.dim)
            start += f.dim
        return out

    def attribute(self, name: str) -> AttributeField:
        """The filterable attribute `name` (ConfigError listing the declared ones if it is not declared)."""
        for a in self.attributes:
            if a.name == name:
                return a
        known = ", ".join(a.name for a in self.attributes) or "none"
        raise ConfigError(
            f"{name!r} is not a filterable attribute of this index (declared: {known}); "
            "declare it in the index layout and re-create the index"
        )

    def to_meta(self) -> dict:
        """A JSON-able dict for `_meta.gcl_search` / meta.json (inverse: `from_meta`)."""
        options = asdict(self.options)
        options.update(options.pop("opensearch"))
        if options["preset_weights"] is not None:
            options["preset_weights"] = dict(options["preset_weights"])
        return {
            "layout_version": LAYOUT_VERSION,
            "dense_fields": [asdict(f) for f in self.dense_fields],
            "text_fields": list(self.text_fields),
            "attributes": [asdict(a) for a in self.attributes],
            "options": options,
        }

    @classmethod
    def from_meta(cls, meta: Mapping[str, object], where: str = "index") -> IndexLayout:
        """Rebuild a layout written by `to_meta`.

        Raises:
            ConfigError: the meta is missing, from a newer layout version, or malformed (names `where`).
        """
        version = meta.get("layout_version") if isinstance(meta, Mapping) else None
        if version != LAYOUT_VERSION:
            raise ConfigError(
                f"{where}: layout version {version!r} is not {LAYOUT_VERSION}; the index was "
                "not created by this gcl-search version (re-create it)"
            )
        try:
            options = {**_LEGACY_OPTIONS, **meta["options"]}
            opensearch = OpenSearchOptions(**{k: options.pop(k) for k in _OPENSEARCH_KEYS if k in options})
            for key in _DROPPED_OPTIONS:
                options.pop(key, None)
            return cls(
                dense_fields=tuple(DenseField(**f) for f in meta["dense_fields"]),
                text_fields=tuple(meta["text_fields"]),
                attributes=tuple(AttributeField(**a) for a in meta["attributes"]),
                options=LayoutOptions(**options, opensearch=opensearch),
            )
        except (KeyError, TypeError) as err:
            raise ConfigError(
                f"{where}: malformed gcl_search layout metadata ({err!r}); re-create the index"
            ) from err

    def check_compatible(self, other: IndexLayout, where: str = "index") -> None:
        """Refuse to write or search `where` (laid out as `self`) with a config that gives `other`.

        The dense fields must match in name, order, dimension and encoder; the text fields and filterable
        attributes must match too. Options (HNSW parameters, oversampling) may differ.

        Raises:
            DimensionMismatch: a field's dimension differs.
            ConfigError: fields, their order, encoders, text fields or attributes differ.
        """
        mine, theirs = self.dense_fields, other.dense_fields
        if [f.name for f in mine] != [f.name for f in theirs]:
            raise ConfigError(
                f"{where} was built with dense fields {list(self.field_names)} but the config "
                f"has {list(other.field_names)}; use a matching config or re-index into a new "
                "index"
            )
        for a, b in zip(mine, theirs):
            if a.dim != b.dim:
                raise DimensionMismatch(
                    f"{where}: field {a.name!r} has dimension {a.dim} in the index but "
                    f"{b.dim} in the config (encoder {b.encoder!r}); re-index into a new "
                    "index or use the original encoder"
                )
            if a.encoder != b.encoder or a.modality != b.modality:
                raise ConfigError(
                    f"{where}: field {a.name!r} was encoded with {a.encoder!r} ({a.modality}) "
                    f"but the config uses {b.encoder!r} ({b.modality}); re-index or fix the "
                    "config"
                )
        same_attrs = set(self.attributes) == set(other.attributes)
        if tuple(self.text_fields) != tuple(other.text_fields) or not same_attrs:
            raise ConfigError(
                f"{where}: text fields / attributes {list(self.text_fields)} / "
                f"{[a.name for a in self.attributes]} differ from the config's "
                f"{list(other.text_fields)} / {[a.name for a in other.attributes]}; re-index "
                "into a new index or fix the config"
            )


def layout_from_config(
    config: Config,
    dims: Mapping[str, int],
    text_fields: Sequence[str] | None = None,
    attributes: Sequence[AttributeField] = (),
    options: LayoutOptions | None = None,
) -> IndexLayout:
    """Build the IndexLayout for a Config's document fields.

    Args:
        config: the loaded config; its `fields` give the dense fields in order.
        dims: encoder name -> output dimension (from the loaded encoders, `Encoder.dim`).
        text_fields: BM25 fields; default: `[index] text_fields`, else every text-modality field.
        attributes: filterable attributes.
        options: layout options (default: LayoutOptions(), with `preset_weights` = the fields' weights when
            the config's `[index] preset_vector` is set).

    Raises:
        ConfigError: an encoder's dimension is not given.
    """
    dense = []
    for spec in config.fields:
        if spec.encoder not in dims:
            raise ConfigError(
                f"no dimension known for encoder {spec.encoder!r} (field {spec.name!r}); "
                "load the encoder first"
            )
        dense.append(DenseField(spec.name, int(dims[spec.encoder]), spec.encoder, spec.modality))
    if text_fields is None:
        text_fields = config.text_field_names()
    if options is None:
        preset = {spec.name: spec.weight for spec in config.fields if spec.weight > 0}
        beam = config.index.preset_ef_search
        hnsw = OpenSearchOptions() if beam is None else OpenSearchOptions(preset_ef_search=beam)
        options = LayoutOptions(
            preset_weights=preset if config.index.preset_vector else None,
            analyzer=config.index.analyzer,
            catch_all=config.index.catch_all,
            opensearch=hnsw,
        )
    return IndexLayout(tuple(dense), tuple(text_fields), tuple(attributes), options)
