"""The rescoring pool on OpenSearch: which `depth` of the knn's `pool` candidates come back.

When the knn score is not the requested dense score (`IndexLayout.knn_exact`), the knn asks for `pool`
candidates and a Lucene `rescore` window over all of them re-ranks them by the dense score, computed by a
painless `script_score` from the stored vector (`DENSE_RESCORE_SCRIPT`); only the best `depth` are fetched,
with their field similarities, dot products and attributes. Fetching is what costs (~0.17 ms per hit, mostly
reading `_source`: docs/search.md), so fetching 200 hits to rescore them in Python would more than double a
request; the rescore window computes over doc values and fetches nothing.

The script is the OpenSearch transcription of `gcl_search.fields.vectors.multi_field_scores` (the one
definition): it only CHOOSES the page; every score a hit reports is recomputed by that function from the hit's
field similarities and dot products. Parity with the local store, which ranks with the function itself, is
tested on a real node (tests/integration/test_search_opensearch.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gcl_search.stores.layout import IndexLayout

# `_score` must be >= 0: the dense score x maps to 1 + x (x >= 0) or 1 / (1 - x), increasing in x, as the
# k-NN plugin maps inner products. Field vectors are unit (the store contract), so `d_f . d_f` is taken as 1
# here (it only chooses the page; the client's scores use the dot products the hits report).
DENSE_RESCORE_SCRIPT = """
def present = doc['gcl_present'];
Map cache = new HashMap();
List vs = new ArrayList(); List os = new ArrayList(); List ws = new ArrayList(); List ds = new ArrayList();
double num = 0;
for (int j = 0; j < params.names.size(); ++j) {
  if (!present.contains(params.names.get(j))) { continue; }
  String field = params.fields.get(j);
  float[] v = cache.get(field);
  if (v == null) { v = doc[field].value; cache.put(field, v); }
  int o = params.offsets.get(j);
  double w = params.w.get(j);
  int qi = params.qi.get(j);
  if (qi >= 0) {
    List q = params.q.get(qi);
    double acc = 0;
    for (int i = 0; i < q.size(); ++i) { acc += v[o + i] * (double) q.get(i); }
    num += w * acc;
  }
  vs.add(v); os.add(o); ws.add(w); ds.add(params.dims.get(j));
}
double x = num;
if (params.fused) {
  double norm2 = 0;
  for (int a = 0; a < vs.size(); ++a) {
    float[] va = vs.get(a); int oa = os.get(a); int n = ds.get(a); double wa = ws.get(a);
    norm2 += wa * wa;
    for (int b = a + 1; b < vs.size(); ++b) {
      int nb = ds.get(b);
      if (nb != n) { continue; }
      float[] vb = vs.get(b); int ob = os.get(b); double wb = ws.get(b);
      double acc = 0;
      for (int i = 0; i < n; ++i) { acc += (double) va[oa + i] * vb[ob + i]; }
      norm2 += 2.0 * wa * wb * acc;
    }
  }
  x = norm2 > 0 ? num / Math.sqrt(norm2) : 0.0;
}
return x >= 0 ? 1.0 + x : 1.0 / (1.0 - x);
""".strip()


def dense_rescore(layout: IndexLayout, query_vectors: Mapping[str, np.ndarray], weights: Mapping[str, float],
                  dense_score: str, window: int, sources: Mapping[str, tuple[str, int]]) -> dict[str, Any]:
    """The `rescore` clause ranking the top `window` knn hits by the dense score (`dense_score`).

    Args:
        sources: field -> (index field, offset) of its stored vector (`opensearch_bodies._vector_source`).
    """
    names, fields, offsets, qi, dims, w, unique = [], [], [], [], [], [], []
    for f in layout.dense_fields:
        weight = float(weights.get(f.name, 0.0))
        if weight <= 0:
            continue
        q = query_vectors.get(f.name)
        index = -1
        if q is not None and np.any(q):
            q = np.asarray(q, dtype=np.float32)
            index = next((i for i, u in enumerate(unique) if np.array_equal(u, q)), -1)
            if index < 0:
                index = len(unique)
                unique.append(q)
        field, offset = sources[f.name]
        names.append(f.name)
        fields.append(field)
        offsets.append(offset)
        qi.append(index)
        dims.append(f.dim)
        w.append(weight)
    params = {"names": names, "fields": fields, "offsets": offsets, "qi": qi, "dims": dims, "w": w,
              "q": [u.tolist() for u in unique], "fused": dense_score == "fused"}
    script = {"lang": "painless", "source": DENSE_RESCORE_SCRIPT, "params": params}
    return {"window_size": window,
            "query": {"rescore_query": {"script_score": {"query": {"match_all": {}}, "script": script}},
                      "query_weight": 0.0, "rescore_query_weight": 1.0, "score_mode": "total"}}
