"""The painless scripts of OpenSearch searches, and their parameters.

They read the stored vectors' doc values (the vectors are not in `_source`), so a search returns each hit's
exact field similarities `q_f . d_f` (`FIELD_SIMS_SCRIPT`, and for the fused score the dot products
`d_f . d_g`) or field vectors (`VECTORS_SCRIPT`) without a second request.

The rescoring pool: when the knn score is not the requested dense score (`derived.knn_exact`), the knn asks
for `pool` candidates and a Lucene `rescore` window re-ranks all of them by the dense score, computed by
`DENSE_RESCORE_SCRIPT` from the stored vectors; only the best `depth` are fetched. Fetching is what a request
spends its time on (docs/search.md), so fetching the pool to rescore it in Python would cost more than the
window, which computes over doc values and fetches nothing. That script is the transcription of
`gcl_search.fields.vectors.multi_field_scores` (the one definition): it only CHOOSES the page; every score a
hit reports is recomputed by that function from the hit's field similarities and dot products. Parity with
the local store is tested on a real node (tests/integration/test_search_opensearch.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gcl_search.stores.layout import IndexLayout
from gcl_search.stores.opensearch_mapping import vector_source

SIMS = "gcl_sims"
VECTORS = "gcl_vectors"
# Per hit, one value per field the document has (in gcl_present), read from the stored vectors' doc values, so
# no second request is needed. `%s` is the per-field body: it reads `v` (the stored float[]), `o` (the
# field's offset in it) and `j` (its position in params) and puts the field's value into `out`.
_FIELD_LOOP = """
Map out = new HashMap();
def present = doc['gcl_present'];
for (int j = 0; j < params.names.size(); ++j) {
  String name = params.names.get(j);
  if (!present.contains(name)) { continue; }
  float[] v = doc[params.fields.get(j)].value;
  int o = params.offsets.get(j);
  %s
}
return out;
""".strip()
# Field j's stored vector `v`, its offset `o` in it, and `acc` = q_f . d_f when the field has a query vector
# (`qi` >= 0), in double like the local store's float64 dot. `v` is read per field even where fields share
# one stored vector: caching it in a HashMap cost ~3 ms more per 200-hit pool on 3.5 (search.txt, 2026-12-06).
_QUERY_DOT = """
  float[] v = doc[params.fields.get(j)].value;
  int o = params.offsets.get(j);
  int qi = params.qi.get(j);
  double acc = 0;
  if (qi >= 0) {
    List q = params.q.get(qi);
    for (int i = 0; i < q.size(); ++i) { acc += v[o + i] * (double) q.get(i); }
  }
""".lstrip("\n")
# {"s": {field: q_f . d_f}, "d": {f: {g: d_f . d_g}}} per hit: q_f are float32 values sent as doubles;
# products and sums in double, like the local store's float64 dot. "s" for the fields with a query vector
# (qi >= 0), "d" (the fused score's norm) for the pairs of fields flagged in params.dot, f before g in layout
# order. The dot products are computed here rather than stored at ingest: no mapping change, and
# benchmarks/results/search.txt measures their cost (fused vs sum, same pool).
FIELD_SIMS_SCRIPT = (
    """
Map sims = new HashMap();
List dv = new ArrayList(); List doff = new ArrayList();
List dname = new ArrayList(); List ddim = new ArrayList();
def present = doc['gcl_present'];
for (int j = 0; j < params.names.size(); ++j) {
  String name = params.names.get(j);
  if (!present.contains(name)) { continue; }
"""
    + _QUERY_DOT
    + """  if (qi >= 0) { sims.put(name, acc); }
  if (params.dot.get(j)) { dv.add(v); doff.add(o); dname.add(name); ddim.add(params.dims.get(j)); }
}
Map out = new HashMap();
out.put('s', sims);
if (dv.size() > 0) {
  Map dots = new HashMap();
  for (int a = 0; a < dv.size(); ++a) {
    Map row = new HashMap();
    float[] va = dv.get(a); int oa = doff.get(a); int n = ddim.get(a);
    for (int b = a; b < dv.size(); ++b) {
      int nb = ddim.get(b);
      if (nb != n) { continue; }
      float[] vb = dv.get(b); int ob = doff.get(b);
      double acc = 0;
      for (int i = 0; i < n; ++i) { acc += (double) va[oa + i] * vb[ob + i]; }
      row.put(dname.get(b), acc);
    }
    dots.put(dname.get(a), row);
  }
  out.put('d', dots);
}
return out;
"""
).strip()
# {field: [floats]}: each field's vector.
VECTORS_SCRIPT = (
    _FIELD_LOOP
    % """float[] part = new float[params.dims.get(j)];
  for (int i = 0; i < part.length; ++i) { part[i] = v[o + i]; }
  out.put(name, part);"""
)
# `_score` must be >= 0: the dense score x maps to 1 + x (x >= 0) or 1 / (1 - x), increasing in x, as the
# k-NN plugin maps inner products. Field vectors are unit (the store contract), so `d_f . d_f` is taken as 1
# here (it only chooses the page; the client's scores use the dot products the hits report).
DENSE_RESCORE_SCRIPT = (
    """
def present = doc['gcl_present'];
List vs = new ArrayList(); List os = new ArrayList(); List ws = new ArrayList(); List ds = new ArrayList();
double num = 0;
for (int j = 0; j < params.names.size(); ++j) {
  if (!present.contains(params.names.get(j))) { continue; }
"""
    + _QUERY_DOT
    + """  double w = params.w.get(j);
  if (qi >= 0) { num += w * acc; }
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
"""
).strip()


def script_params(
    layout: IndexLayout, query_vectors: Mapping[str, np.ndarray], names: Sequence[str]
) -> dict[str, list]:
    """The per-field params the scripts share, over the dense fields in `names` (in layout order): where each
    field's vector is stored (`fields`, `offsets`), its `dims`, and `qi`, its query vector's index in `q`
    (-1: none or all zero). Identical query vectors (one encoder for several fields) are sent once."""
    params: dict[str, list] = {"names": [], "fields": [], "offsets": [], "qi": [], "dims": []}
    unique: list[np.ndarray] = []
    for f in layout.dense_fields:
        if f.name not in names:
            continue
        q = query_vectors.get(f.name)
        index = -1
        if q is not None and np.any(q):
            q = np.asarray(q, dtype=np.float32)
            index = next((i for i, u in enumerate(unique) if np.array_equal(u, q)), -1)
            if index < 0:
                index = len(unique)
                unique.append(q)
        field, offset = vector_source(layout, f.name)
        params["names"].append(f.name)
        params["fields"].append(field)
        params["offsets"].append(offset)
        params["qi"].append(index)
        params["dims"].append(f.dim)
    params["q"] = [u.tolist() for u in unique]
    return params


def field_sims_script(
    layout: IndexLayout, query_vectors: Mapping[str, np.ndarray], dot_fields: Sequence[str] = ()
) -> dict[str, Any]:
    """`script_fields` entry returning per hit {"s": {field: q_f . d_f}} for the fields whose query vector is
    non-zero, and {"d": {f: {g: d_f . d_g}}} over `dot_fields` (FIELD_SIMS_SCRIPT; `parse_field_sims` reads
    it)."""
    with_q = {name for name, q in query_vectors.items() if q is not None and np.any(q)}
    names = [f.name for f in layout.dense_fields if f.name in dot_fields or f.name in with_q]
    params = script_params(layout, query_vectors, names)
    params["dot"] = [name in dot_fields for name in params["names"]]
    return {SIMS: {"script": {"lang": "painless", "source": FIELD_SIMS_SCRIPT, "params": params}}}


def parse_field_sims(hit: Mapping[str, Any]) -> tuple[dict[str, float], dict[tuple[str, str], float] | None]:
    """({field: q_f . d_f}, {(f, g): d_f . d_g} or None) from a hit of a search with `field_sims_script`."""
    value = hit.get("fields", {}).get(SIMS, [{}])[0]
    sims = {name: float(v) for name, v in value.get("s", {}).items()}
    if "d" not in value:
        return sims, None
    return sims, {(f, g): float(v) for f, row in value["d"].items() for g, v in row.items()}


def vectors_script(layout: IndexLayout) -> dict[str, Any]:
    """`script_fields` entry returning per hit {field: [floats]} for every field the document has."""
    params = script_params(layout, {}, layout.field_names)
    del params["qi"], params["q"]
    return {VECTORS: {"script": {"lang": "painless", "source": VECTORS_SCRIPT, "params": params}}}


def dense_rescore(
    layout: IndexLayout,
    query_vectors: Mapping[str, np.ndarray],
    weights: Mapping[str, float],
    dense_score: str,
    window: int,
) -> dict[str, Any]:
    """The `rescore` clause ranking the top `window` knn hits by the dense score (`dense_score`)."""
    names = [f.name for f in layout.dense_fields if float(weights.get(f.name, 0.0)) > 0]
    params = script_params(layout, query_vectors, names)
    params["w"] = [float(weights[name]) for name in params["names"]]
    params["fused"] = dense_score == "fused"
    script = {"lang": "painless", "source": DENSE_RESCORE_SCRIPT, "params": params}
    return {
        "window_size": window,
        "query": {
            "rescore_query": {"script_score": {"query": {"match_all": {}}, "script": script}},
            "query_weight": 0.0,
            "rescore_query_weight": 1.0,
            "score_mode": "total",
        },
    }
