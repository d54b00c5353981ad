"""The local BM25 side: analyzers, Lucene's length norms, the two lexical modes, boosts, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gcl_search.config import SearchSpec
from gcl_search.errors import ConfigError
from gcl_search.search.client import LexicalSpec
from gcl_search.search.options import resolve_lexical
from gcl_search.stores.base import IndexLayout, LayoutOptions
from gcl_search.stores.bm25 import (
    LexicalIndex,
    analyze,
    encoded_length,
    english_tokens,
    minimal_english_stem,
    standard_tokens,
)

# (text, standard, english): what OpenSearch's `_analyze` returns, 2.19.1 and 3.5.0 (checked on a real node
# by tests/integration/test_lexical_opensearch.py, which uses this same table).
TRICKY = [
    ("3.5mm jack", ["3.5mm", "jack"], ["3.5mm", "jack"]),
    ("USB-C cable", ["usb", "c", "cable"], ["usb", "c", "cable"]),
    ("don't stop", ["don't", "stop"], ["don't", "stop"]),
    ("1,000 pages", ["1,000", "pages"], ["1,000", "page"]),
    ("John's laptops", ["john's", "laptops"], ["john", "laptop"]),
    ("Apple\u2019s iPhones", ["apple\u2019s", "iphones"], ["apple", "iphone"]),
    ("The batteries of a phone", ["the", "batteries", "of", "a", "phone"], ["battery", "phone"]),
    ("e.g. Wi-Fi 802.11ac", ["e.g", "wi", "fi", "802.11ac"], ["e.g", "wi", "fi", "802.11ac"]),
    (
        "glasses shoes boxes cookies",
        ["glasses", "shoes", "boxes", "cookies"],
        ["glasse", "shoes", "boxe", "cooky"],
    ),
    (
        "LabelWriter\u2122 450, 330g/m\u00b2",
        ["labelwriter", "\u2122", "450", "330g", "m"],
        ["labelwriter", "\u2122", "450", "330g", "m"],
    ),
    ("a1.b x:y foo_bar", ["a1", "b", "x:y", "foo_bar"], ["a1", "b", "x:y", "foo_bar"]),
    ("\u65e5\u672c text", ["\u65e5", "\u672c", "text"], ["\u65e5", "\u672c", "text"]),
]


@pytest.mark.parametrize("text,standard,english", TRICKY)
def test_analyzers_on_tricky_strings(text, standard, english):
    assert standard_tokens(text) == standard
    assert english_tokens(text) == english
    assert analyze(text, "english") == english


def test_minimal_english_stemmer_rules():
    # Lucene's EnglishMinimalStemmer: -ies -> -y (not after a/e), -es kept after i/a/o/e, -us/-ss kept.
    cases = {
        "batteries": "battery",
        "series": "sery",
        "cables": "cable",
        "bus": "bus",
        "glass": "glass",
        "shoes": "shoes",
        "toes": "toes",
        "boxes": "boxe",
        "as": "as",
        "keys": "key",
        "cs": "cs",
    }
    assert {w: minimal_english_stem(w) for w in cases} == cases


def test_long_tokens_are_cut_at_255_characters():
    assert [len(t) for t in standard_tokens("x" * 600)] == [255, 255, 90]


def test_encoded_length_is_lucenes_one_byte_norm():
    # SmallFloat.intToByte4 / byte4ToInt: exact below 24, then 4 significant bits, rounded down.
    assert [encoded_length(n) for n in (0, 1, 23, 24, 25, 40, 100, 1000)] == [0, 1, 23, 24, 25, 40, 96, 984]


def _bm25(tf: float, df: int, n: int, dl: int, avgdl: float) -> float:
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * 2.2 * tf / (tf + 1.2 * (1 - 0.75 + 0.75 * dl / avgdl))


def test_combined_and_most_fields_match_a_hand_computation():
    texts = {"title": ["red cables", "blue cable", None], "brand": ["Acme", None, "Red Co"]}
    index = LexicalIndex(texts, "english", catch_all=True)
    most, matched = index.scores("red cable", "most_fields", ["title", "brand"], {"title": 2.0})
    # title: 2 docs, lengths 2, 2 (avg 2); brand: 2 docs, lengths 1, 2 (avg 1.5); "cables" -> "cable"
    want0 = 2.0 * (_bm25(1, 1, 2, 2, 2) + _bm25(1, 2, 2, 2, 2))
    want2 = _bm25(1, 1, 2, 2, 1.5)
    assert most == pytest.approx([want0, 2.0 * _bm25(1, 2, 2, 2, 2), want2])
    assert matched.tolist() == [True, True, True]
    combined, _ = index.scores("red cable", "combined", [], {})
    # the catch-all field: lengths 3, 2, 2 (avg 7/3); "red" in docs 0 and 2, "cable" in 0 and 1
    avg = 7 / 3
    assert combined == pytest.approx(
        [_bm25(1, 2, 3, 3, avg) * 2, _bm25(1, 2, 3, 2, avg), _bm25(1, 2, 3, 2, avg)]
    )
    assert combined == pytest.approx([0.8416, 0.4992, 0.4992], abs=1e-4)  # docs/search.md's worked example
    boosted, _ = index.scores("red cable", "combined", [], {"brand": 0.5})
    assert boosted == pytest.approx(combined + 0.5 * np.array([0, 0, want2]))


def test_repeated_query_terms_count_per_occurrence():
    index = LexicalIndex({"title": ["usb hub", "hub"]}, "standard")
    once, _ = index.scores("usb", "most_fields", ["title"], {})
    twice, _ = index.scores("usb usb", "most_fields", ["title"], {})
    assert twice == pytest.approx(2 * once)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"lexical_mode": "bm25f"}, "lexical mode 'bm25f' is not known"),
        ({"lexical_mode": "combined", "lexical_fields": ("title",)}, "combined mode scores the catch-all"),
        ({"lexical_boosts": {"title": 0.0}}, "lexical boost title=0.0 must be a finite number > 0"),
        ({"lexical_boosts": {"title": float("nan")}}, "must be a finite number > 0"),
    ],
)
def test_search_spec_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SearchSpec(**kwargs)


def test_unknown_analyzer_is_refused():
    with pytest.raises(ConfigError, match="analyzer 'snowball' is not known; use one of: standard, english"):
        LayoutOptions(analyzer="snowball")


def test_mode_resolution():
    combined = IndexLayout.__new__(IndexLayout)
    object.__setattr__(combined, "options", LayoutOptions(catch_all=True))
    legacy = IndexLayout.__new__(IndexLayout)
    object.__setattr__(legacy, "options", LayoutOptions())
    assert LexicalSpec().resolved_mode(combined) == "combined"
    assert LexicalSpec().resolved_mode(legacy) == "most_fields"  # an index from before the catch-all
    assert LexicalSpec(fields=("title",)).resolved_mode(combined) == "most_fields"
    # config fields without a mode mean most_fields; request fields drop a configured combined mode
    spec = resolve_lexical(SearchSpec(lexical=True, lexical_mode="combined"), fields=["title"])
    assert spec.mode is None and spec.fields == ("title",)
    spec = resolve_lexical(SearchSpec(), mode="combined", boosts={"title": 0.5})
    assert spec.mode == "combined" and spec.boosts == {"title": 0.5} and spec.fields is None
    with pytest.raises(ConfigError, match="turned off"):
        resolve_lexical(SearchSpec(), lexical=False, mode="combined")
