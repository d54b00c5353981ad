"""Score normalisation and fusion of a dense and a lexical score list (pure numpy, no store).

Dense scores (`sum_f w_f q_f . d_f`) lie in [-sum w, sum w] while BM25 is unbounded, so a hybrid score needs
either a normalisation of both lists over the candidate set, or a rank fusion:

- ``minmax``: `(s - min) / (max - min)` over the candidates; all equal -> 1 (OpenSearch's normalisation
  processor does the same). Then `score = (1 - lam) * dense_n + lam * lexical_n`.
- ``zscore``: `(s - mean) / std` (population std) over the candidates; all equal -> 0. Same combination.
- ``rrf``: reciprocal rank fusion, `score = (1 - lam) / (c + rank_dense) + lam / (c + rank_lexical)` with
  1-based ranks and rank constant `c` (60 by default, as in Cormack et al. 2009 and OpenSearch). A candidate
  without a lexical match has no lexical rank and gets no lexical term. `lam = 0.5` ranks exactly like plain
  unweighted RRF (every term is halved).

Every candidate has an exact dense score (the search client re-scores all of them). A candidate that the
lexical search did not return has raw lexical score 0 for the normalisations: BM25 is 0 for a document that
matches no term, and >= 0 otherwise. Written by hand because these are three lines of numpy each and no
maintained library offers them over an arbitrary candidate set (ranx's fusion works on whole runs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from gcl_search.errors import ConfigError
from gcl_search.ranking import rank_key

DEFAULT_RANK_CONSTANT = 60.0


def normalise_min_max(scores: np.ndarray) -> np.ndarray:
    """Min-max scale to [0, 1]; a constant (or one-element) array maps to all ones.

    Args:
        scores: float (n,).

    Returns:
        float64 (n,).
    """
    return _normalise(scores, np.min, np.ptp, constant=1.0)


def normalise_z_score(scores: np.ndarray) -> np.ndarray:
    """Standardise to mean 0 and (population) standard deviation 1; a constant array maps to zeros.

    Args:
        scores: float (n,).

    Returns:
        float64 (n,).
    """
    return _normalise(scores, np.mean, np.std, constant=0.0)


def _normalise(
    scores: np.ndarray,
    centre: Callable[[np.ndarray], float],
    spread: Callable[[np.ndarray], float],
    constant: float,
) -> np.ndarray:
    """`(s - centre(s)) / spread(s)`, or `constant` everywhere when the spread is 0."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return s
    width = float(spread(s))
    if width <= 0:
        return np.full_like(s, constant)
    return (s - centre(s)) / width


# The score normalisations fuse() combines with a weighted sum; RRF works on ranks instead.
NORMALISERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "minmax": normalise_min_max,
    "zscore": normalise_z_score,
}
FUSIONS = (*NORMALISERS, "rrf")


def ranks(scores: np.ndarray, ids: Sequence[str], valid: np.ndarray | None = None) -> np.ndarray:
    """1-based ranks by score descending, ties by id ascending; rows where `valid` is False get rank 0.

    Args:
        scores: float (n,).
        ids: the n document ids (the tie-break).
        valid: bool (n,), which rows take part (default: all).

    Returns:
        int64 (n,): the rank of each row, 0 where not valid.
    """
    s = np.asarray(scores, dtype=np.float64)
    valid = np.ones(len(s), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    rows = [i for i in range(len(s)) if valid[i]]
    rows.sort(key=lambda i: rank_key(s[i], ids[i]))
    out = np.zeros(len(s), dtype=np.int64)
    for position, i in enumerate(rows, start=1):
        out[i] = position
    return out


def rrf(
    dense_ranks: np.ndarray,
    lexical_ranks: np.ndarray,
    lexical_weight: float,
    rank_constant: float = DEFAULT_RANK_CONSTANT,
) -> np.ndarray:
    """Weighted reciprocal rank fusion; rank 0 means "not in that list" and contributes nothing.

    Args:
        dense_ranks, lexical_ranks: int (n,), 1-based, 0 = absent.
        lexical_weight: lam in [0, 1]; the dense list gets 1 - lam.
        rank_constant: c > 0.

    Returns:
        float64 (n,): `(1 - lam) / (c + r_d) + lam / (c + r_l)` over the lists a row is in.
    """

    def term(r: np.ndarray) -> np.ndarray:
        r = np.asarray(r, dtype=np.float64)
        return np.where(r > 0, 1.0 / (rank_constant + np.maximum(r, 1.0)), 0.0)

    return (1.0 - lexical_weight) * term(dense_ranks) + lexical_weight * term(lexical_ranks)


def fuse(
    ids: Sequence[str],
    dense: np.ndarray,
    lexical: np.ndarray,
    matched: np.ndarray,
    method: str,
    lexical_weight: float,
    rank_constant: float = DEFAULT_RANK_CONSTANT,
) -> np.ndarray:
    """The hybrid score of every candidate.

    Args:
        ids: candidate doc ids (for rank tie-breaks).
        dense: float (n,) exact dense scores.
        lexical: float (n,) raw BM25 scores, 0 where the lexical search did not return the candidate.
        matched: bool (n,) whether the lexical search returned the candidate (its lexical rank list, for RRF).
        method: one of FUSIONS.
        lexical_weight: lam in [0, 1].
        rank_constant: RRF's c.

    Returns:
        float64 (n,) combined scores.

    Raises:
        ConfigError: an unknown method, lam outside [0, 1] or c <= 0.
    """
    check_fusion(method, lexical_weight, rank_constant)
    if method == "rrf":
        return rrf(ranks(dense, ids), ranks(lexical, ids, matched), lexical_weight, rank_constant)
    norm = NORMALISERS[method]
    return (1.0 - lexical_weight) * norm(dense) + lexical_weight * norm(lexical)


def check_fusion(method: str, lexical_weight: float, rank_constant: float) -> None:
    """Validate fusion parameters (ConfigError naming the bad value and the allowed range)."""
    if method not in FUSIONS:
        raise ConfigError(f"fusion {method!r} is not known; use one of: {', '.join(FUSIONS)}")
    if not (np.isfinite(lexical_weight) and 0.0 <= lexical_weight <= 1.0):
        raise ConfigError(
            f"lexical weight {lexical_weight} must be in [0, 1] (0: dense only, 1: lexical only)"
        )
    if not (np.isfinite(rank_constant) and rank_constant > 0):
        raise ConfigError(
            f"rank constant {rank_constant} must be a finite number > 0 (60 is the usual choice)"
        )
