"""The checks `SearchClient` runs when built and on every request: page, dense score, index layout."""

from __future__ import annotations

from collections.abc import Mapping

from gcl_search.config import DENSE_SCORES, MAX_K, Config
from gcl_search.encoders.base import Encoder
from gcl_search.errors import ConfigError
from gcl_search.stores.base import IndexLayout, layout_from_config


def check_dense_score(method: str) -> str:
    """`method` itself when it names a known dense score (`config.DENSE_SCORES`)."""
    if method not in DENSE_SCORES:
        raise ConfigError(f"dense score {method!r} is not known; use one of: {', '.join(DENSE_SCORES)}")
    return method


def check_page(k: int, offset: int) -> None:
    """k >= 1 hits after `offset` >= 0, with offset + k within `MAX_K` (the deepest hit a request reaches)."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ConfigError(f"k = {k!r} must be an integer in 1..{MAX_K}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0 or offset + k > MAX_K:
        raise ConfigError(f"offset = {offset!r} must be an integer >= 0 with offset + k <= {MAX_K}")


def check_layout(layout: IndexLayout, config: Config, encoders: Mapping[str, Encoder], where: str) -> None:
    """Refuse to search an index whose recorded dense fields differ from the config's (names, order, dims,
    encoders); text fields and attributes come from the index itself."""
    dims = {name: enc.dim for name, enc in encoders.items()}
    expected = layout_from_config(config, dims, text_fields=layout.text_fields, attributes=layout.attributes)
    layout.check_compatible(expected, where=f"{where} (its _meta)")
