"""Hard negatives mined by exact search: unjudged products that the starting model ranks high for a training
query become extra negatives for it (docs/training.md, "Mined hard negatives").

The top of such a ranking holds many unjudged relevant products (false negatives), so the first `skip`
unjudged hits are passed over and the next `count` are taken. Mined pairs are score-0 triples: the batch
sampler treats them like judged-irrelevant documents (`negatives_per_row` of them per row).
"""

from __future__ import annotations

from collections.abc import Sequence

from gcl_search.ranking import rank_key
from gcl_search.training.data import Triple
from gcl_search.training.dev import exact_top_k
from gcl_search.training.towers import FieldTowers

MINED = "mined"


def mine_negatives(
    triples: Sequence[Triple], towers: FieldTowers, count: int, skip: int, batch_size: int = 128
) -> list[Triple]:
    """Score-0 triples: for each query in `triples`, unjudged documents at ranks skip+1 .. skip+count among
    the unjudged hits of an exact search over the whole catalogue with `towers` as they are now.

    Args:
        triples: the training triples (their queries are mined; every judged pair is excluded).
        towers: the model and fields that rank the catalogue (the starting model, before training).
        count: mined negatives per query.
        skip: unjudged top hits passed over as likely false negatives.
        batch_size: texts per forward pass.
    """
    if count <= 0:
        return []
    judged: dict[str, set[str]] = {}
    for t in triples:
        judged.setdefault(t.query, set()).add(t.doc_id)
    queries = sorted(judged)
    doc_ids = sorted(towers.catalogue)
    docs = towers.encode_catalogue(doc_ids, batch_size)
    depth = skip + count + max(len(d) for d in judged.values())
    hits = exact_top_k(towers.encode_queries(queries, batch_size), docs, doc_ids, depth)
    mined = []
    for query, found in zip(queries, hits):
        ranked = sorted(found, key=lambda d: rank_key(found[d], d))
        unjudged = [d for d in ranked if d not in judged[query]]
        for rank, doc_id in enumerate(unjudged[skip : skip + count], start=skip + 1):
            mined.append(Triple(query, doc_id, 0.0, f"{MINED}:{rank}"))
    return mined
