"""Stores: the embedded local store (a directory) and OpenSearch, behind one `VectorStore` interface.

`from gcl_search.stores import IndexLayout, VectorStore, Term, Range`; the backends live in
`gcl_search.stores.local` (LocalStore) and `gcl_search.stores.opensearch` (OpenSearchStore,
needs opensearch-py).
"""

from __future__ import annotations

from pathlib import Path

from gcl_search.stores.base import (
    CONCAT,
    PRESET,
    AttributeField,
    DenseField,
    Filter,
    IndexLayout,
    LayoutOptions,
    Range,
    Term,
    VectorStore,
    layout_from_config,
)

# Where the local store's indices live when no directory is given (every command and the Python API).
DEFAULT_STORE_DIR = Path("gcl-store")

__all__ = [
    "DEFAULT_STORE_DIR",
    "CONCAT",
    "PRESET",
    "AttributeField",
    "DenseField",
    "Filter",
    "IndexLayout",
    "LayoutOptions",
    "Range",
    "Term",
    "VectorStore",
    "layout_from_config",
]
