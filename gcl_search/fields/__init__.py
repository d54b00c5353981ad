"""Multi-field embedding (docs/config.md, "Multi-field embedding"; docs/search.md, "Scoring").

A record with fields k = 1..K is embedded as

    e = normalize( sum_k a_k * normalize(f_k(x_k)) )

where `f_k` is the encoder for field k's modality and the weights `a_k` are renormalised over the fields the
record has (a missing field gets weight 0). The per-field unit vectors are kept too: the index stores their
concatenation `D = [d_1; ...; d_F]` (absent field = zero block), searched with
`Q = [w_1 q_1; ...; w_F q_F]`, so `Q . D = sum_f w_f q_f . d_f` for any weights chosen at query time.

`encode_records` embeds a batch of records (dicts): each distinct (encoder, modality) runs once per batch over
the distinct values of all its fields, and a bad record (corrupt image, missing required field) becomes a
`RecordError` instead of failing the batch.

Modules: `values` (a record's field values and errors), `encode` (the batch pipeline), `vectors` (fusing field
vectors, query vectors per document field, the multi-field dense score).
"""

from __future__ import annotations

from gcl_search.fields.encode import ON_ERROR, EncodedRecords, encode_records
from gcl_search.fields.values import RecordError
from gcl_search.fields.vectors import (
    fuse_fields,
    query_vectors_for_fields,
    renormalised_weights,
)

__all__ = [
    "ON_ERROR",
    "EncodedRecords",
    "RecordError",
    "encode_records",
    "fuse_fields",
    "query_vectors_for_fields",
    "renormalised_weights",
]
