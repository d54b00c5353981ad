"""BM25 for the local store, computed the way OpenSearch (2.19 and 3.5) scores a `text` field.

Per field f and query term t (OpenSearch's default LegacyBM25Similarity, k1 = 1.2, b = 0.75):

    BM25_f(t, d) = idf_f(t) * (k1 + 1) * tf / (tf + k1 * (1 - b + b * L(dl) / avgdl_f))
    idf_f(t)     = ln(1 + (N_f - n_f(t) + 0.5) / (n_f(t) + 0.5))

with N_f the documents that HAVE the field, n_f(t) those containing t, avgdl_f their mean token count, and
L(dl) the document length as Lucene stores it: one byte per document (`SmallFloat.intToByte4`), exact
below 24 tokens and rounded down to 4 significant bits above. A query term repeated in the query counts once
per occurrence (a `match` query is a sum of term clauses). A request's lexical score (`LexicalIndex.scores`):

- ``most_fields``: `sum_f b_f BM25_f(q, d)` over the requested fields, boost b_f (1 by default);
- ``combined``: `BM25_all(q, d) + sum_f b_f BM25_f(q, d)`, where `all` is the catch-all field: the
  concatenation of every text field of the index, scored as ONE field (what product search does with a
  `copy_to` field: term frequencies and lengths add up across fields, one idf), plus optional boosted fields.

Analyzers (`ANALYZERS`, recorded in the index layout, mirrored by `opensearch_mapping.ENGLISH_ANALYSIS`):

- ``standard``: Lucene's standard tokenizer (UAX#29 word breaks) and lowercase;
- ``english``: standard tokenizer, english possessive ("'s" dropped), lowercase, the English stop words
  (Lucene's `_english_` set) and `minimal_english` (Harman's S-stemmer, plurals only: "cables" -> "cable",
  "batteries" -> "battery"). Chosen over Porter (`porter_stem`) and porter2 (`snowball`) by measurement
  (benchmarks/results/lexical.md) and because it is a dozen lines that Python reproduces exactly.

The tokenizer implements the UAX#29 rules that matter for Latin text ("3.5mm", "don't", "1,000", "e.g" stay
whole; "USB-C" -> "usb", "c"; ideographs and pictographs such as "®" and "™" are one token each;
tokens over 255 characters are split); emoji sequences (ZWJ, keycaps) and other scripts are approximated.
Measured: 0 differences from `_analyze` over the 76,903 Icecat texts, both analyzers. Parity with OpenSearch's
rankings is tested on a real node (tests/integration/test_lexical_opensearch.py).

Written here rather than on bm25s (used before): bm25s takes exact document lengths and its own tokenizer, so
it cannot reproduce Lucene's one-byte length norm or the catch-all field's shared statistics, and local
rankings then differ from OpenSearch's; the formula above is a few lines of numpy over posting lists.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from gcl_search.config import ANALYZERS, LEXICAL_MODES

if TYPE_CHECKING:
    from gcl_search.stores.layout import IndexLayout

K1 = 1.2
B = 0.75
CATCH_ALL = "_all"  # the catch-all field's name in LexicalIndex (field names never start with "_")
MAX_TOKEN_LENGTH = 255
# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (OpenSearch `_english_`).
ENGLISH_STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "
    "they this to was will with".split()
)

_HAN = "\u3040-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # hiragana and ideographs: one token each
# Extended_Pictographic characters (emoji, but also "®", "™", "©"): Lucene emits each as a token.
_EMOJI = (
    "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u2388\u23cf"
    "\u23e9-\u23f3\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u2605\u2607-\u2612"
    "\u2614-\u2685\u2690-\u2705\u2708-\u2712\u2714\u2716\u271d\u2721\u2728\u2733\u2734\u2744\u2747"
    "\u274c\u274e\u2753-\u2755\u2757\u2763-\u2767\u2795-\u2797\u27a1\u27b0\u27bf\u2934\u2935"
    "\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001faff"
)
# Python's \w also matches "other numbers" (category No: "²", "½"), which UAX#29 does not put in words.
_NO = "".join(
    sorted(
        {
            re.escape(c)
            for c in map(chr, range(0x30000))
            if unicodedata.category(c) == "No" and re.match(r"\w", c)
        }
    )
)
# Marks and format characters (WB4: Extend, Format) continue the word they follow.
_EXT = "".join(
    sorted(
        {
            re.escape(c)
            for c in map(chr, range(0x30000))
            if unicodedata.category(c) in ("Mn", "Mc", "Me", "Cf") and c != "\u200b"
        }
    )
)
_WORD = rf"[^\W{_HAN}{_NO}]"
_WORD_X = rf"{_WORD}[{_EXT}]*"
_LETTER = rf"[^\W\d_{_HAN}{_NO}]"
# UAX#29 WB6/7 (MidLetter, MidNumLet, Single_Quote between letters) and WB11/12 (MidNum, MidNumLet,
# Single_Quote between digits).
_MID_LETTER = ":\u00b7\u0387\u05f4\u2027\ufe13\ufe55\uff1a.\u2018\u2019\u2024\ufe52\uff07\uff0e'"
_MID_NUM = (
    ",;\u037e\u0589\u060c\u060d\u066c\u07f8\u2044\ufe10\ufe14\ufe50\ufe54\uff0c\uff1b"
    ".\u2018\u2019\u2024\ufe52\uff07\uff0e'"
)
_TOKEN = re.compile(
    rf"[{_HAN}{_EMOJI}]|(?:{_WORD_X})+"
    rf"(?:(?:(?<={_LETTER})[{re.escape(_MID_LETTER)}](?={_LETTER})"
    rf"|(?<=\d)[{re.escape(_MID_NUM)}](?=\d))(?:{_WORD_X})+)*"
)


def standard_tokens(text: str) -> list[str]:
    """Lucene's `standard` analyzer: UAX#29 word tokens, lowercased, cut into pieces of 255 characters."""
    out = []
    for token in _TOKEN.findall(text.lower()):
        if token.strip("_"):  # a run of underscores alone is no word
            out.extend(token[i : i + MAX_TOKEN_LENGTH] for i in range(0, len(token), MAX_TOKEN_LENGTH))
    return out


def minimal_english_stem(token: str) -> str:
    """Lucene's EnglishMinimalStemmer (Harman's S-stemmer), character for character."""
    n = len(token)
    if n < 3 or token[-1] != "s" or token[-2] in "us":
        return token
    if token[-2] == "e":
        if n > 3 and token[-3] == "i" and token[-4] not in "ae":
            return token[:-3] + "y"
        if token[-3] in "iaoe":
            return token
    return token[:-1]


def english_tokens(text: str) -> list[str]:
    """The `english` analyzer: standard tokens, possessive "'s" dropped, stop words out, minimal stemming."""
    out = []
    for token in standard_tokens(text):
        if len(token) >= 2 and token[-2] in "'\u2019\uff07" and token[-1] == "s":
            token = token[:-2]
        if token not in ENGLISH_STOP_WORDS:
            out.append(minimal_english_stem(token))
    return out


_ANALYZE = {"standard": standard_tokens, "english": english_tokens}


def analyze(text: str, analyzer: str = "standard") -> list[str]:
    """The terms `analyzer` makes of `text` (ConfigError for an unknown analyzer)."""
    check_analyzer(analyzer)
    return _ANALYZE[analyzer](text)


def check_analyzer(analyzer: str) -> None:
    from gcl_search.errors import ConfigError

    if analyzer not in ANALYZERS:
        raise ConfigError(f"analyzer {analyzer!r} is not known; use one of: {', '.join(ANALYZERS)}")


def check_lexical(mode: str | None, fields: Sequence[str] | None, boosts: Mapping[str, float] | None) -> None:
    """Validate a lexical mode with its fields and boosts (ConfigError naming the bad value)."""
    from gcl_search.errors import ConfigError

    if mode is not None and mode not in LEXICAL_MODES:
        raise ConfigError(f"lexical mode {mode!r} is not known; use one of: {', '.join(LEXICAL_MODES)}")
    if mode == "combined" and fields is not None:
        raise ConfigError(
            "lexical fields name the fields of a most_fields search; the combined mode scores "
            "the catch-all field of all text fields (add per-field terms with boosts instead, "
            "or use the most_fields mode)"
        )
    for name, boost in (boosts or {}).items():
        if not (isinstance(boost, (int, float)) and math.isfinite(boost) and boost > 0):
            raise ConfigError(
                f"lexical boost {name}={boost} must be a finite number > 0 (leave a field out instead of 0)"
            )


def lexical_fields(
    layout: IndexLayout,
    fields: Sequence[str] | None,
    mode: str,
    boosts: Mapping[str, float] | None,
    where: str,
    remedy: str,
) -> list[str]:
    """The text fields a lexical request on `where` searches (None: all of the layout's), checked against the
    layout the same way by every store; `remedy` ends the message of an index without a catch-all field."""
    from gcl_search.errors import ConfigError

    check_lexical(mode, fields if mode == "combined" else None, boosts)
    fields = list(layout.text_fields if fields is None else fields)
    unknown = sorted((set(fields) | set(boosts or {})) - set(layout.text_fields))
    if unknown:
        raise ConfigError(
            f"{unknown[0]!r} is not a text field of {where} (text fields: "
            f"{', '.join(layout.text_fields) or 'none'})"
        )
    if mode == "combined" and not layout.options.catch_all:
        raise ConfigError(
            f"{where} has no catch-all text field (created before it existed, or with [index] "
            f"catch_all = false); use the most_fields lexical mode or {remedy}"
        )
    return fields


def encoded_length(length: int) -> int:
    """A document length as Lucene reads it back from its one-byte norm (SmallFloat intToByte4/byte4ToInt)."""
    if length < 24:
        return length
    rest = length - 24
    shift = rest.bit_length() - 4
    return 24 + (rest if shift <= 0 else (rest >> shift) << shift)


class FieldBM25:
    """BM25 over one field: inverted lists of (row, tf) per term, built from analysed documents."""

    def __init__(self, docs: Sequence[Sequence[str]]):
        self._n = len(docs)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        lengths = np.zeros(self._n, dtype=np.float64)
        for row, tokens in enumerate(docs):
            lengths[row] = encoded_length(len(tokens))
            for term, tf in Counter(tokens).items():
                rows, tfs = postings.setdefault(term, ([], []))
                rows.append(row)
                tfs.append(tf)
        self._postings = {
            t: (np.array(r, dtype=np.int64), np.array(f, dtype=np.float64)) for t, (r, f) in postings.items()
        }
        self._count = int(sum(1 for tokens in docs if tokens))
        total = sum(len(tokens) for tokens in docs)
        avgdl = total / self._count if self._count else 1.0
        self._norm = K1 * (1 - B + B * lengths / avgdl)

    def add_scores(self, out: np.ndarray, tokens: Sequence[str], boost: float) -> None:
        """Add `boost * BM25(tokens, row)` to `out` (n,) for every row with a matching term."""
        for term in tokens:
            posting = self._postings.get(term)
            if posting is None:
                continue
            rows, tf = posting
            idf = math.log(1 + (self._count - len(rows) + 0.5) / (len(rows) + 0.5))
            out[rows] += boost * idf * (K1 + 1) * tf / (tf + self._norm[rows])


class LexicalIndex:
    """The BM25 side of a local store: one index per text field and, with `catch_all`, one over their
    concatenation (`CATCH_ALL`).

    Args:
        texts_by_field: text field -> its text per row (None / "" where a row lacks it), in field order.
        analyzer: one of ANALYZERS (the index's, from its layout).
        catch_all: also index the concatenation of all the fields (the `combined` mode needs it).
    """

    def __init__(
        self,
        texts_by_field: Mapping[str, Sequence[str | None]],
        analyzer: str = "standard",
        catch_all: bool = True,
    ):
        self.analyzer = analyzer
        tokens = {
            name: [analyze(t, analyzer) if t else [] for t in texts] for name, texts in texts_by_field.items()
        }
        self._fields = {name: FieldBM25(docs) for name, docs in tokens.items()}
        if catch_all and tokens:
            rows = zip(*tokens.values())
            self._fields[CATCH_ALL] = FieldBM25([[t for field in row for t in field] for row in rows])
        self._n = len(next(iter(tokens.values()), ()))

    def scores(
        self, text: str, mode: str, fields: Sequence[str], boosts: Mapping[str, float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, matched): float64 (n,) lexical scores (module docstring), bool (n,) "some term matched".

        Args:
            text: the query text (analysed with the index's analyzer).
            mode: "combined" (the catch-all field plus `boosts`) or "most_fields" (`fields`, boosted).
            fields: the fields of a most_fields request.
            boosts: field -> b_f > 0 (most_fields: 1 for a field left out).
        """
        tokens = analyze(text, self.analyzer)
        out = np.zeros(self._n, dtype=np.float64)
        terms = {CATCH_ALL: 1.0, **boosts} if mode == "combined" else {f: boosts.get(f, 1.0) for f in fields}
        for name, boost in terms.items():
            self._fields[name].add_scores(out, tokens, boost)
        return out, out > 0
