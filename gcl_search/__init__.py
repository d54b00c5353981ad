"""gcl-search: Generalized Contrastive Learning for multi-field search (arXiv 2404.08535)."""

from __future__ import annotations

from gcl_search.errors import (
    CatalogueError,
    ConfigError,
    DimensionMismatch,
    EncoderNotFound,
    GclSearchError,
    IndexNotFound,
    InputFileError,
    StoreUnavailable,
)

__version__ = "0.1.0"

__all__ = [
    "CatalogueError",
    "ConfigError",
    "DimensionMismatch",
    "EncoderNotFound",
    "GclSearchError",
    "IndexNotFound",
    "InputFileError",
    "StoreUnavailable",
    "__version__",
]
