"""Weighted multi-field search on a real OpenSearch node: latency and recall, side by side in one run.

For each weight setting (k = 10, 105 Icecat queries, all-MiniLM-L6-v2 vectors of title, description, brand):
- ours: `SearchClient.search_vectors` (attributes included): ONE request, the knn that `IndexLayout.knn_plan`
  picks (the concatenated vector at ef_search; for weights proportional to the index's preset weights, the
  preset vector `sum_f a_f d_f` at preset_ef_search) returning every hit's exact field similarities (painless
  script_fields) and attributes; the "path" column says which;
- single: one plain `knn` clause on the title vector, k = 10, ef --single-ef, ids and scores only (the floor;
  target ours <= 1.3x);
- perfield: a bool of per-field `knn` clauses (k = K each) whose union is re-scored exactly, also in ONE
  request (the same script_fields), with the smallest K in KS whose recall@10 reaches ours (equal recall;
  target ours >= 2x faster; ours is timed again beside it, so "pf/ours" is side by side as well);
and tie-aware recall@10 of ours and of the single-field query against exact brute force (numpy, float64).
The three requests of one query run back to back (in rotating order), so load spikes hit all of them alike.

The index (concatenated vector + per-field vectors + the preset vector at --preset weights, force-merged) is
built once (~5-10 min on 2 cores) and reused by later runs with the same parameters; --rebuild forces a new
one. Vectors come from ~/.cache/gcl-search/bench/icecat_minilm_fields.npz (encoded on first use, ~1 h on 2
cores).

    tools/opensearch-node/node.sh start --port 9260
    python benchmarks/bench_search.py --opensearch-url http://127.0.0.1:9260 \
        | tee benchmarks/results/search.txt
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gcl_search.config import parse_config  # noqa: E402
from gcl_search.records import Document  # noqa: E402
from gcl_search.search.client import SearchClient  # noqa: E402
from gcl_search.stores import opensearch_bodies as bodies  # noqa: E402
from gcl_search.stores.base import DenseField, IndexLayout, LayoutOptions  # noqa: E402
from gcl_search.stores.opensearch import OpenSearchStore  # noqa: E402

CACHE = Path(os.path.expanduser("~/.cache/gcl-search/bench"))
FIELDS = ("title", "description", "brand")
WEIGHTS = {"2f .7/.3/0": (0.7, 0.3, 0.0), "2f .5/.5/0": (0.5, 0.5, 0.0), "3f .6/.3/.1": (0.6, 0.3, 0.1),
           "3f 1/3 each": (1 / 3, 1 / 3, 1 / 3), "3f .2/.2/.6": (0.2, 0.2, 0.6),
           "title only": (1.0, 0.0, 0.0), "descr. only": (0.0, 1.0, 0.0)}
KS = (10, 20, 50, 100, 200, 400)


def load_fields(n_docs: int | None = None) -> tuple[list[str], dict, dict]:
    """(ids, field -> (n, 384) float32 vectors (zeros where absent), field -> (n,) present)."""
    path = CACHE / "icecat_minilm_fields.npz"
    if not path.is_file():
        _encode_icecat(path)
    with np.load(path) as data:
        ids = [str(x) for x in data["ids"]][:n_docs]
        vecs = {f: data[f"vec_{f}"][:n_docs].astype(np.float32) for f in FIELDS}
        present = {f: data[f"present_{f}"][:n_docs] for f in FIELDS}
    return ids, vecs, present


def load_queries() -> tuple[list[str], np.ndarray]:
    """The Icecat judged queries (first-seen order) and their MiniLM vectors, cached."""
    path = CACHE / "icecat_minilm_queries_judged.npz"
    if not path.is_file():
        from gcl_search.datasets.icecat import judgments_path

        with open(judgments_path(), newline="", encoding="utf-8") as handle:
            texts = list(dict.fromkeys(row["query"] for row in csv.DictReader(handle)))
        np.savez(path, texts=np.array(texts), vectors=_minilm().encode_texts(texts))
    with np.load(path) as data:
        return [str(t) for t in data["texts"]], data["vectors"].astype(np.float32)


def _minilm():
    from gcl_search.config import load_config
    from gcl_search.encoders.registry import load_encoders

    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "icecat.toml")
    return load_encoders(config)["minilm"]


def _encode_icecat(path: Path) -> None:
    from gcl_search.config import load_config
    from gcl_search.datasets.icecat import iter_catalogue
    from gcl_search.encoders.registry import load_encoders
    from gcl_search.fields import encode_records

    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "icecat.toml")
    fields = [f for f in config.fields if f.name in FIELDS]
    out = encode_records(list(iter_catalogue()), fields, load_encoders(config), id_key="doc_id",
                         progress=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, ids=np.array(out.ids), **{f"vec_{k}": v for k, v in out.vectors.items()},
             **{f"present_{k}": v for k, v in out.present.items()})


def build_index(url: str, name: str, options: LayoutOptions, ids, vecs, present, rebuild: bool
                ) -> tuple[OpenSearchStore, str]:
    """The bench index, reused when it holds every document and was built with the same HNSW parameters."""
    layout = IndexLayout(tuple(DenseField(f, 384, "minilm") for f in FIELDS), options=options)
    store = OpenSearchStore(url, name)
    if not rebuild and store.exists() and store.count() == len(ids):
        built = store.layout().options
        keys = ("m", "ef_construction", "ef_search", "per_field_vectors", "preset_weights",
                "preset_ef_search")
        if all(getattr(built, key) == getattr(options, key) for key in keys):
            return store, "reused"
    store.drop()
    store.create(layout)
    start = time.perf_counter()
    with store.bulk_load():
        for lo in range(0, len(ids), 1000):
            store.upsert(Document(ids[i], {f: vecs[f][i] for f in FIELDS if present[f][i]})
                         for i in range(lo, min(lo + 1000, len(ids))))
    store.client.indices.forcemerge(index=name, max_num_segments=1, request_timeout=3600)
    return store, f"built in {time.perf_counter() - start:.0f} s"


def tie_recall(found: list[str], exact: np.ndarray, row: dict[str, int], k: int = 10) -> float:
    """Recall@k where a hit counts when its exact score reaches the exact k-th best score (the catalogue
    holds many identical products, so which of several tied documents fill the last places is arbitrary)."""
    bar = np.partition(exact, len(exact) - k)[len(exact) - k]
    return sum(exact[row[d]] >= bar - 1e-6 for d in found[:k]) / k


def single_field(store: OpenSearchStore, q: np.ndarray, ef: int) -> list[str]:
    return [d for d, _ in store.knn(q, 10, target="title", ef_search=ef)]


def per_field(store: OpenSearchStore, layout: IndexLayout, qv: dict, w: dict, K: int) -> list[str]:
    """Per-field knn clauses (k = K, beam K) in one bool, every hit re-scored exactly in the same request."""
    clauses = [{"knn": {f"vec.{f}": {"vector": qv[f].tolist(), "k": K}}} for f, wf in w.items() if wf > 0]
    body = {"size": K * len(clauses), "_source": False, "query": {"bool": {"should": clauses}},
            "script_fields": bodies.field_sims_script(layout, qv)}
    hits = store.client.search(index=store.index, body=body)["hits"]["hits"]
    scored = [(-sum(w[f] * s for f, s in h["fields"][bodies.SIMS][0].items()), h["_id"]) for h in hits]
    return [d for _, d in sorted(scored)[:10]]


def timed(fn) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def ms(times: list[float], p: float) -> float:
    return float(np.percentile(np.array(times) * 1000, p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opensearch-url", default=os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9260"))
    parser.add_argument("--index", help="index name (default: bench-search-minilm-<docs>)")
    parser.add_argument("--n-docs", type=int, default=None, help="only the first N products (default: all)")
    parser.add_argument("--queries", type=int, default=105)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each request per query")
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries first (JIT, caches)")
    defaults = LayoutOptions()
    parser.add_argument("--ef-search", type=int, default=defaults.ef_search, help="our HNSW beam")
    parser.add_argument("--single-ef", type=int, default=200, help="the single-field query's HNSW beam")
    parser.add_argument("--m", type=int, default=defaults.m, help="HNSW m (index time)")
    parser.add_argument("--ef-construction", type=int, default=defaults.ef_construction, help="index time")
    parser.add_argument("--preset", default="0.7,0.3,0",
                        help="preset weights of title,description,brand (default: configs/icecat.toml's)")
    parser.add_argument("--rebuild", action="store_true", help="re-create the index even if it is reusable")
    args = parser.parse_args()
    load_start = os.getloadavg()
    ids, vecs, present = load_fields(args.n_docs)
    texts, qmatrix = load_queries()
    qmatrix = qmatrix[:args.queries]
    preset = {f: float(a) for f, a in zip(FIELDS, args.preset.split(",")) if float(a) > 0}
    options = LayoutOptions(per_field_vectors=True, m=args.m, ef_construction=args.ef_construction,
                            ef_search=args.ef_search, preset_weights=preset)
    args.index = args.index or f"bench-search-minilm-{len(ids)}"
    store, how = build_index(args.opensearch_url, args.index, options, ids, vecs, present, args.rebuild)
    layout = store.layout()
    config = parse_config({"encoders": {"minilm": {"backend": "sentence-transformers", "model": "x"}},
                           "fields": [{"name": f, "encoder": "minilm", "weight": 1.0} for f in FIELDS]})
    # no ef_search override: the index's own beams apply (ef_search on the concatenated vector,
    # preset_ef_search on the preset one)
    client = SearchClient(store, config, {"minilm": SimpleNamespace(dim=384)})
    concat = np.concatenate([vecs[f] * present[f][:, None] for f in FIELDS], axis=1).astype(np.float64)
    row = {d: i for i, d in enumerate(ids)}
    print(f"# bench_search: {len(ids)} docs (all-MiniLM-L6-v2, 3 x 384-d fields), {len(qmatrix)} queries x "
          f"{args.repeats} repeats, k=10, ef_search {args.ef_search} (preset {options.preset_ef_search}, "
          f"single-field {args.single_ef}), preset weights {preset}, HNSW m={args.m} "
          f"ef_construction={args.ef_construction}, index {args.index} ({how}), node {args.opensearch_url}")
    print(f"# load average before: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
    for q in qmatrix[:args.warmup]:
        qv = {f: q for f in FIELDS}
        client.search_vectors(qv, dict(zip(FIELDS, (0.5, 0.3, 0.2))), k=10)
        single_field(store, q, args.single_ef)
    print(f"{'weights':13s} {'path':6s} {'recall@10':>9s} {'p50 ms':>7s} {'p95 ms':>7s} | {'single':>6s} "
          f"{'s.rec':>5s} {'x single':>8s} | {'pf K':>4s} {'pf rec':>6s} {'pf p50':>6s} {'pf/ours':>7s}")
    ratios, speedups = {}, []
    for name, wt in WEIGHTS.items():
        w = dict(zip(FIELDS, wt))
        path = layout.knn_plan({f: qmatrix[0] for f in FIELDS}, w)[0].strip("_")
        ours_t, single_t, rec, srec = [], [], [], []
        exacts = []
        for qi, q in enumerate(qmatrix):
            qv = {f: q for f in FIELDS}
            exact = concat @ np.concatenate([wf * q.astype(np.float64) for wf in wt])
            exacts.append(exact)
            for r in range(args.repeats):
                runs = [lambda: client.search_vectors(qv, w, k=10),
                        lambda: single_field(store, q, args.single_ef)]
                order = [0, 1] if (qi + r) % 2 == 0 else [1, 0]
                got = {}
                for i in order:
                    got[i], t = timed(runs[i])
                    (ours_t if i == 0 else single_t).append(t)
            rec.append(tie_recall([h.doc_id for h in got[0]], exact, row))
            srec.append(tie_recall(got[1], concat[:, :384] @ q.astype(np.float64), row))
        recall = float(np.mean(rec))
        pf = None
        for K in KS:
            # ours is timed again beside each per-field request, so the ratio is side by side too
            pf_t, pf_ours_t, pf_rec = [], [], []
            for qi, q in enumerate(qmatrix):
                qv = {f: q for f in FIELDS}
                for r in range(args.repeats):
                    runs = [lambda: per_field(store, layout, qv, w, K),
                            lambda: client.search_vectors(qv, w, k=10)]
                    for i in ([0, 1] if (qi + r) % 2 == 0 else [1, 0]):
                        out, t = timed(runs[i])
                        (pf_t if i == 0 else pf_ours_t).append(t)
                        if i == 0:
                            top = out
                pf_rec.append(tie_recall(top, exacts[qi], row))
            pf = (K, float(np.mean(pf_rec)), ms(pf_t, 50), ms(pf_ours_t, 50))
            if pf[1] >= recall - 1e-9:
                break
        ratio, speedup = ms(ours_t, 50) / ms(single_t, 50), pf[2] / pf[3]
        ratios.setdefault(path, []).append(ratio)
        speedups.append(speedup)
        print(f"{name:13s} {path:6s} {recall:9.4f} {ms(ours_t, 50):7.2f} {ms(ours_t, 95):7.2f} | "
              f"{ms(single_t, 50):6.2f} {np.mean(srec):5.3f} {ratio:8.2f} | "
              f"{pf[0]:4d} {pf[1]:6.4f} {pf[2]:6.2f} {speedup:7.2f}", flush=True)
    load_end = os.getloadavg()
    spans = "; ".join(f"{path} {min(r):.2f}-{max(r):.2f}" for path, r in ratios.items())
    print(f"p50 ours / single: {spans} (target <= 1.3); per-field+rescore / ours "
          f"at equal recall: {min(speedups):.2f}-{max(speedups):.2f} (target >= 2; pf K = the smallest in "
          f"{', '.join(map(str, KS))} reaching our recall, else the last)")
    print(f"# load average after: {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")


if __name__ == "__main__":
    main()
