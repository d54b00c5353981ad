"""The rescoring pool on Elasticsearch, picked client-side: which `depth` of the knn's pool come back.

OpenSearch ranks the pool on the node (a painless rescore window); without painless, every pool hit brings
its field vectors (`gcl_vectors` doc values) and the best `depth` by the dense score are picked here, with
the score's one definition (`fields.vectors.multi_field_scores`, rounded as `search.scoring` rounds it), on
matrices: a Candidate (with its per-field dicts) is built only for the hits kept. Profiled on a pool of 200:
the per-hit Candidate path spent ~20 ms in Python, this ~2 ms.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gcl_search.fields.vectors import multi_field_scores
from gcl_search.stores.elasticsearch_bodies import PRESENT_FIELD, VECTORS_FIELD
from gcl_search.stores.layout import IndexLayout


def best_of_pool(
    layout: IndexLayout,
    hits: Sequence[Mapping[str, Any]],
    query_vectors: Mapping[str, np.ndarray],
    weights: Mapping[str, float],
    dense_score: str,
    depth: int,
) -> list[Mapping[str, Any]]:
    """The `depth` hits with the best exact dense score, best first (ties by doc_id)."""
    from gcl_search.search.scoring import SCORE_DECIMALS

    names, offsets, n = layout.field_names, layout.offsets, len(hits)
    if n <= depth:
        return list(hits)
    values = [h.get("fields", {}) for h in hits]
    empty = bytes(4 * layout.concat_dim)
    raw = b"".join(base64.b64decode(v[VECTORS_FIELD][0]) if VECTORS_FIELD in v else empty for v in values)
    matrix = np.frombuffer(raw, dtype="<f4").reshape(n, layout.concat_dim).astype(np.float64)
    present = np.array([[name in v.get(PRESENT_FIELD, ()) for name in names] for v in values], dtype=bool)
    sims = np.zeros((n, len(names)))
    for j, name in enumerate(names):
        q = query_vectors.get(name)
        if q is not None and np.any(q):
            sims[:, j] = matrix[:, offsets[name]] @ np.asarray(q, dtype=np.float64)
    dots = None
    if dense_score == "fused":
        dots = np.zeros((n, len(names), len(names)))
        for a, fa in enumerate(layout.dense_fields):
            for b in range(a, len(names)):
                if layout.dense_fields[b].dim == fa.dim:
                    prod = np.einsum("nd,nd->n", matrix[:, offsets[fa.name]], matrix[:, offsets[names[b]]])
                    dots[:, a, b] = dots[:, b, a] = prod
    w = np.array([float(weights.get(name, 0.0)) for name in names])
    scores = np.round(multi_field_scores(sims, dots, present, w, dense_score), SCORE_DECIMALS)
    order = sorted(range(n), key=lambda i: (-scores[i], hits[i]["_id"]))[:depth]
    return [hits[i] for i in order]
