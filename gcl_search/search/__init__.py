"""Weighted multi-field hybrid retrieval: `SearchClient`, live evaluation (`run_queries`) and weight tuning.

`from gcl_search.search import SearchClient, LexicalSpec`; see docs/search.md.
"""

from __future__ import annotations

from gcl_search.search.client import LexicalSpec, SearchClient

__all__ = ["LexicalSpec", "SearchClient"]
