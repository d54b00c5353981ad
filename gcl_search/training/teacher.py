"""Training triples from a teacher ranking (`gcl-search triples`): queries -> a teacher's top-k -> rows
`(query, doc_id, score)` with the score derived from rank position, merged with human judgments.

The GCL paper's Marqo-GS-10M rows are exactly this: an existing engine's top 100 per query, scored by position
(`score_linear` = 101 - position, `score_reciprocal` = 1 / position). Most teams have a catalogue and a search
engine but no ratings; this module turns those into training data for `gcl-search train` ([train.data]
source = "pairs" with `triples`, or `extra_triples` next to human judgments).

Queries come from a queries file, or are generated from the catalogue's own fields (`generate_queries`):
category-like columns, the title's product-type phrase, brand + that phrase; deterministic, de-duplicated,
capped per product, most frequent first.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gcl_search.errors import ConfigError
from gcl_search.ranking import ranked
from gcl_search.training.data import Triple

RANK_FORMULAS = ("linear", "reciprocal")
_WORD = re.compile(r"^[A-Za-z][A-Za-z/&'-]*[A-Za-z]$")  # alphabetic word; model numbers hold digits
# Words that break a type phrase: function words, units, colours and packaging terms of product titles.
STOP_WORDS = frozenset(
    """a an and or the for to with of in on by from per x ft cm mm m inch mb gb tb kb mbit
pages page pc pcs w v mah original compatible black white cyan magenta yellow blue red green grey gray silver
pink orange purple brown gold light dark colour color matt gloss""".split()
)


@dataclass(frozen=True)
class RankScore:
    """Score of the hit at 1-based `rank` in a teacher's top `depth`.

    - `linear` (default, the paper's `score_linear` scaled): `scale * (depth + 1 - rank) / depth`; with the
      default scale = depth this is `depth + 1 - rank` (101 - position for a top 100), rank 1 -> depth, rank
      depth -> 1.
    - `reciprocal` (the paper's `score_reciprocal`): `scale / rank`, default scale 1.

    Args:
        formula: one of RANK_FORMULAS.
        scale: the top hit's score (None: the formula's default above).
    """

    formula: str = "linear"
    scale: float | None = None

    def __post_init__(self) -> None:
        if self.formula not in RANK_FORMULAS:
            raise ConfigError(f"rank score {self.formula!r}; use one of {', '.join(RANK_FORMULAS)}")
        if self.scale is not None and not self.scale > 0:
            raise ConfigError(f"rank score scale {self.scale} must be > 0")

    def top(self, depth: int) -> float:
        """The score of rank 1."""
        return self(1, depth)

    def __call__(self, rank: int, depth: int) -> float:
        if not 1 <= rank <= depth:
            raise ValueError(f"rank {rank} outside 1..{depth}")
        if self.formula == "linear":
            scale = float(depth) if self.scale is None else self.scale
            return scale * (depth + 1 - rank) / depth
        return (1.0 if self.scale is None else self.scale) / rank


def normalise_query(text: str) -> str:
    """Lower-case with single spaces: the key under which generated and excluded queries are compared."""
    return " ".join(text.lower().split())


def title_phrase(title: str, brand: str = "", max_words: int = 3) -> str:
    """The product-type phrase of a title: the last `max_words` words of the first run of lower-case
    alphabetic words ("Xerox 006R90321 toner cartridge Original Black" -> "toner cartridge"), else of the
    longest run of alphabetic words; brand words and tokens with digits (model numbers) break runs."""
    brand_words = {w.lower() for w in brand.split()}
    runs: list[list[str]] = [[]]
    for raw in title.replace(",", " ").split():
        token = raw.strip("()[]\"'.:;")
        if _WORD.match(token) and token.lower() not in brand_words and token.lower() not in STOP_WORDS:
            runs[-1].append(token)
        elif runs[-1]:
            runs.append([])
    runs = [r for r in runs if r]
    if not runs:
        return ""
    lower = [[w for w in r if w[0].islower()] for r in runs]
    chosen = next((r for r in lower if r), None)
    if chosen is None:
        chosen = max(runs, key=len)  # max keeps the first of equal lengths
    return normalise_query(" ".join(chosen[-max_words:]))


def product_queries(
    record: Mapping[str, object],
    title_field: str = "title",
    brand_field: str = "brand",
    type_fields: Sequence[str] = (),
    per_product: int = 3,
) -> list[str]:
    """Up to `per_product` queries for one product, in priority order: category-like columns, the title's
    type phrase, brand + phrase, the phrase's head noun (its last word)."""
    out: list[str] = []
    for name in type_fields:
        value = record.get(name)
        if isinstance(value, str) and value.strip():
            out.append(normalise_query(value))
    brand = str(record.get(brand_field) or "").strip()
    phrase = title_phrase(str(record.get(title_field) or ""), brand)
    if phrase:
        out.append(phrase)
        if brand:
            out.append(normalise_query(f"{brand} {phrase}"))
        if " " in phrase:
            out.append(phrase.split()[-1])
    unique = list(dict.fromkeys(q for q in out if q))
    return unique[:per_product]


def generate_queries(
    records: Iterable[Mapping[str, object]],
    *,
    title_field: str = "title",
    brand_field: str = "brand",
    type_fields: Sequence[str] = (),
    per_product: int = 3,
    max_queries: int = 0,
    min_products: int = 1,
    exclude: Iterable[str] = (),
) -> list[str]:
    """Queries generated from a catalogue, de-duplicated, most products first (ties alphabetical).

    Args:
        records: catalogue rows (dicts with the named fields).
        title_field / brand_field / type_fields: the columns read (type_fields: category-like columns).
        per_product: at most this many queries per product (`product_queries`).
        max_queries: keep the first this many (0 = all).
        min_products: keep queries that at least this many products generated.
        exclude: queries never to emit (e.g. held-out evaluation queries), compared by `normalise_query`.

    Returns:
        Query texts (normalised), deterministic for a given catalogue.
    """
    if per_product < 1:
        raise ConfigError(f"per_product = {per_product} must be >= 1")
    counts: Counter[str] = Counter()
    for record in records:
        counts.update(product_queries(record, title_field, brand_field, type_fields, per_product))
    banned = {normalise_query(q) for q in exclude}
    ranked = sorted(
        (q for q, n in counts.items() if n >= min_products and q not in banned), key=lambda q: (-counts[q], q)
    )
    return ranked[:max_queries] if max_queries else ranked


def ranking_from_run(run: Mapping[str, Mapping[str, float]]) -> dict[str, list[str]]:
    """query -> doc ids best first (score descending, ties by doc id) from a run."""
    return {q: [d for d, _ in ranked(docs)] for q, docs in run.items()}


def ranking_from_client(
    client: object, queries: Sequence[str], depth: int, *, progress: bool = False, **request: object
) -> dict[str, list[str]]:
    """query -> the teacher's top `depth` doc ids through a `SearchClient` with any request options.

    A pure-lexical request (lexical weight 1) keeps only documents the lexical search matched: BM25 has no
    opinion about the rest, which the client returns as tied filler when fewer than `depth` match.
    """
    lexical = request.get("lexical")
    pure_lexical = lexical is not None and getattr(lexical, "weight", 0.0) >= 1.0
    items: Iterable[str] = queries
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(queries, desc="teacher", unit="q")
    out = {}
    for query in items:
        hits = client.search(query, k=depth, attributes=False, **request)  # type: ignore[attr-defined]
        out[query] = [h.doc_id for h in hits if not pure_lexical or h.lexical_score]
    return out


def teacher_triples(
    rankings: Mapping[str, Sequence[str]],
    depth: int,
    score: RankScore | None = None,
    judgments: Mapping[str, Mapping[str, int]] | None = None,
    human_scale: float | None = None,
) -> list[Triple]:
    """Rows from a teacher's rankings, merged with human judgments.

    Teacher rows: the top `depth` of each ranking, scored by `score` (rank position). Human rows: every judged
    (query, doc), score `grade / max_grade * human_scale` (default human_scale: the rank-1 score, so the best
    human grade equals the teacher's top score); a human grade replaces the teacher's score for that pair, and
    a judged-irrelevant pair (grade <= 0) stays a negative (score 0) even when the teacher ranked it.

    Returns:
        Triples sorted by (query, -score, doc_id); `location` says "teacher:rank N" or "human:grade G".
    """
    if depth < 1:
        raise ConfigError(f"depth = {depth} must be >= 1")
    score = score or RankScore()
    rows: dict[tuple[str, str], Triple] = {}
    for query, docs in rankings.items():
        for rank, doc_id in enumerate(list(dict.fromkeys(docs))[:depth], start=1):
            rows[query, doc_id] = Triple(query, doc_id, score(rank, depth), f"teacher:rank {rank}")
    if judgments:
        top = max((g for graded in judgments.values() for g in graded.values()), default=0)
        scale = score.top(depth) if human_scale is None else human_scale
        for query, graded in judgments.items():
            for doc_id, grade in graded.items():
                value = scale * grade / top if grade > 0 and top > 0 else 0.0
                rows[query, doc_id] = Triple(query, doc_id, value, f"human:grade {grade}")
    return sorted(rows.values(), key=lambda t: (t.query, -t.score, t.doc_id))


def write_triples(path: str | Path, triples: Iterable[Triple]) -> int:
    """Write triples as JSONL (`query`, `doc_id`, `score`, `origin`), readable by `gcl-search train`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for t in triples:
            row = {"query": t.query, "doc_id": t.doc_id, "score": round(t.score, 6), "origin": t.location}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
