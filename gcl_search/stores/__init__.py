"""Stores: the embedded local store (a directory) and OpenSearch, behind one `VectorStore` interface.

`from gcl_search.stores import IndexLayout, VectorStore, Term, Range`; the backends live in
`gcl_search.stores.local` (LocalStore) and `gcl_search.stores.opensearch` (OpenSearchStore,
needs opensearch-py).
"""

from __future__ import annotations

from gcl_search.stores.base import (
    CONCAT,
    FUSED,
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

__all__ = ["CONCAT", "FUSED", "PRESET", "AttributeField", "DenseField", "Filter", "IndexLayout",
           "LayoutOptions", "Range", "Term", "VectorStore", "layout_from_config"]
