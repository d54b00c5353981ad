"""BM25 for the local store, on bm25s, tuned to score like OpenSearch's default `text` field.

OpenSearch scores a term as `idf * (k1 + 1) * tf / (tf + k1 * (1 - b + b * dl / avgdl))` (its default is
Lucene's LegacyBM25Similarity, which keeps the `(k1 + 1)` factor that Lucene 8 dropped) with
`idf = ln(1 + (N - n + 0.5) / (n + 0.5))`, k1 = 1.2, b = 0.75, where N and avgdl count only the documents
that HAVE the field. bm25s' "lucene" method is the same formula without `(k1 + 1)`, so each field gets its
own bm25s index over the documents with non-empty text in it, scores are scaled by `(k1 + 1)`, and a
multi-field query sums the per-field scores (OpenSearch `multi_match` with `type: most_fields`). The
tokenizer approximates Lucene's standard analyzer (UAX#29 word breaks, lowercased, no stop words).
Remaining differences: Lucene stores document lengths in one byte (lossy for long fields), and the analyser
differs on rare scripts; parity tests compare rankings, and scores to 2e-2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import bm25s
import numpy as np

K1 = 1.2
B = 0.75
# Word characters, joined across '.' / apostrophes between word characters and ',' between digits, as UAX#29
# keeps "3.5mm", "don't" and "1,000" whole.
_TOKEN = re.compile(r"\w+(?:(?:[.'\u2019]|(?<=\d),(?=\d))\w+)*")


def analyze(text: str) -> list[str]:
    """Lowercased word tokens, approximating Lucene's standard analyzer."""
    return _TOKEN.findall(text.lower())


class FieldBM25:
    """BM25 over one text field of n documents (rows of the store)."""

    def __init__(self, texts: Sequence[str | None]):
        self._rows = np.array([i for i, t in enumerate(texts) if t and analyze(t)], dtype=np.int64)
        self._n = len(texts)
        self._model: bm25s.BM25 | None = None
        if len(self._rows):
            self._model = bm25s.BM25(k1=K1, b=B, method="lucene")
            self._model.index([analyze(texts[i]) for i in self._rows], show_progress=False)

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """float32 (n,): the field's BM25 score of every row (0 where no term matches)."""
        out = np.zeros(self._n, dtype=np.float32)
        if self._model is None or not tokens:
            return out
        # Lucene scores a repeated query term once per occurrence; bm25s does too when it is repeated.
        out[self._rows] = (K1 + 1) * self._model.get_scores(list(tokens))
        return out


class MultiFieldBM25:
    """Per-field BM25 indexes; a query's score is the sum over the requested fields."""

    def __init__(self, texts_by_field: Mapping[str, Sequence[str | None]]):
        self._fields = {name: FieldBM25(texts) for name, texts in texts_by_field.items()}

    def scores(self, text: str, fields: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(scores, matched): float32 (n,) summed BM25 and bool (n,) "some term matched in some field"."""
        tokens = analyze(text)
        per_field = [self._fields[name].scores(tokens) for name in fields]
        total = np.sum(per_field, axis=0) if per_field else np.zeros(0, dtype=np.float32)
        return total, total > 0
