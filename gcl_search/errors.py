"""The exceptions the library raises on bad input or an unusable environment.

Every message says what went wrong *and* what to do next. The CLI turns any `GclSearchError` into a one-line
error and exit status 1 (see `gcl_search.cli`); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class GclSearchError(Exception):
    """Base class: a problem the user can fix (input, config, environment)."""


class ConfigError(GclSearchError):
    """A config file or option is invalid."""


class InputFileError(GclSearchError):
    """A data file (judgments, run, catalogue, triples) is malformed.

    Args:
        path: the file.
        line_no: 1-based line (or row) number, or None when the problem is the whole file.
        reason: what is wrong and how to fix it.
    """

    def __init__(self, path: object, line_no: int | None, reason: str):
        self.path = str(path)
        self.line_no = line_no
        self.reason = reason
        where = f"{self.path}:{line_no}" if line_no is not None else self.path
        super().__init__(f"{where}: {reason}")


class CatalogueError(InputFileError):
    """A catalogue record cannot be read."""


class EncoderNotFound(GclSearchError):
    """An encoder spec names no known backend or model."""


class StoreUnavailable(GclSearchError):
    """The store (an OpenSearch cluster, a local store directory) cannot be reached or opened."""


class IndexNotFound(GclSearchError):
    """The index does not exist."""


class DimensionMismatch(GclSearchError):
    """A vector's dimension, or an index's recorded layout, does not match the config."""
