"""The OpenSearch client's JSON serializer: orjson, with float32 vectors in their shortest round-trip form.

`json.dumps(vec.tolist())` writes each float32 as the 17-digit repr of its float64 widening (~20 bytes, e.g.
0.10000000149011612); orjson writes the shortest decimal that parses back to the same float32 (0.1, ~11 bytes)
and does it in C. OpenSearch parses knn_vector values as float, so the stored vector is bit-identical
(tests/integration/test_opensearch_serializer.py checks it on a real node).

Only float32 ndarrays get the float32 form; everything else serialises to the same values as
opensearch-py's JSONSerializer (numpy scalars, dates, Decimal and UUID go through its `default`). Where orjson
would differ, the body falls back to that serializer whole: orjson cannot encode it (ints beyond 64 bits,
non-str keys, float subclasses), or its output contains `null`, which is also what orjson writes for NaN and
infinities (JSONSerializer writes NaN / Infinity, which OpenSearch refuses; `null` could pass silently).
Responses are parsed as before (the inherited `loads`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from opensearchpy.serializer import JSONSerializer

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class VectorJSONSerializer(JSONSerializer):
    """`OpenSearch(serializer=VectorJSONSerializer())`; mimetype application/json."""

    def dumps(self, data: Any) -> Any:
        if isinstance(data, str):
            return data
        try:
            out = orjson.dumps(data, default=self._default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().dumps(data)
        if b"null" in out:
            return super().dumps(data)
        return out.decode()

    def _default(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray) and obj.dtype == np.float32:
            return orjson.Fragment(orjson.dumps(np.ascontiguousarray(obj), option=orjson.OPT_SERIALIZE_NUMPY))
        return self.default(obj)
