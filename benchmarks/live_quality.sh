#!/usr/bin/env bash
# Icecat retrieval quality against a LIVE index (issue 6 closing note), everything through `gcl-search`:
# BM25 alone, dense title only, dense multi-field (config weights), default hybrid, tuned weights, tuned hybrid;
# nDCG@10 standard and condensed, judged@10, paired randomisation tests against BM25.
#
# Tuned rows never score a query they were tuned on: the judged queries with a relevant product are split by
# query into halves A and B (seeded); `gcl-search tune` runs on A and its written config is evaluated on B,
# and vice versa (2-fold cross-fitting), and the two held-out runs are merged into one run over all queries.
#
# Prerequisite (the full catalogue, all-MiniLM-L6-v2 on four fields):
#   gcl-search ingest --config configs/icecat.toml --catalogue icecat --index icecat-live --opensearch-url URL
# Usage: benchmarks/live_quality.sh URL [INDEX=icecat-live] [OUT=runs/live-quality]
# (a URL that is not http(s)://... is taken as a local store directory, for a quick check of the script)
set -euo pipefail
url=${1:?usage: benchmarks/live_quality.sh URL [INDEX] [OUT]}
index=${2:-icecat-live}
out=${3:-runs/live-quality}
py=${PYTHON:-python}
mkdir -p "$out"
gs() { "$py" -m gcl_search "$@"; }
judged=(-j examples/icecat/judgments.csv)
store=(--opensearch-url "$url" --index "$index")
[[ $url == http* ]] || store=(--store "$url" --index "$index")
base=(--config configs/icecat.toml "${store[@]}")

"$py" - "$out" <<'EOF'
import random, sys
from pathlib import Path
from gcl_search.evaluation import read_judgments
from gcl_search.search.live import SearchQuery, write_queries

qrels = read_judgments("examples/icecat/judgments.csv")
ids = sorted(q for q, docs in qrels.items() if any(g >= 1 for g in docs.values()))
random.Random(0).shuffle(ids)
half = len(ids) // 2
for name, part in (("A", ids[:half]), ("B", ids[half:])):
    write_queries(Path(sys.argv[1]) / f"{name}.jsonl", [SearchQuery(q, q) for q in sorted(part)])
print(f"split {len(ids)} queries with a relevant product into A ({half}) and B ({len(ids) - half})",
      file=sys.stderr)
EOF

# the untuned rows: four live runs over every judged query from one model load
gs evaluate "${judged[@]}" "${base[@]}" -m ndcg@10 \
    --live "bm25=--lexical-weight 1 --run-out $out/bm25.jsonl" \
    --live "dense-title=--no-lexical --weight title=1,description=0,brand=0,name=0 --run-out $out/dense-title.jsonl" \
    --live "dense-multi=--no-lexical --run-out $out/dense-multi.jsonl" \
    --live "hybrid-default=--lexical-weight 0.5 --fusion minmax --run-out $out/hybrid-default.jsonl" >/dev/null

for half in A B; do
    other=$([[ $half == A ]] && echo B || echo A)
    gs tune "${base[@]}" "${judged[@]}" --queries "$out/$half.jsonl" --heldout 0 --no-lexical \
        --write-config "$out/tuned-$half.toml" >"$out/tune-$half.txt"
    gs tune "${base[@]}" "${judged[@]}" --queries "$out/$half.jsonl" --heldout 0 --lexical \
        --write-config "$out/tuned-hybrid-$half.toml" >"$out/tune-hybrid-$half.txt"
    # the written configs carry the tuned weights and [search] lexical settings: no request flags needed
    gs evaluate "${judged[@]}" --config "$out/tuned-$half.toml" "${store[@]}" --queries "$out/$other.jsonl" \
        --missing-queries skip --run-out "$out/tuned-on-$other.jsonl" -m ndcg@10 >/dev/null
    gs evaluate "${judged[@]}" --config "$out/tuned-hybrid-$half.toml" "${store[@]}" \
        --queries "$out/$other.jsonl" --missing-queries skip --run-out "$out/tuned-hybrid-on-$other.jsonl" \
        -m ndcg@10 >/dev/null
done
cat "$out/tuned-on-A.jsonl" "$out/tuned-on-B.jsonl" >"$out/tuned.jsonl"
cat "$out/tuned-hybrid-on-A.jsonl" "$out/tuned-hybrid-on-B.jsonl" >"$out/tuned-hybrid.jsonl"

runs=()
for name in bm25 dense-title dense-multi hybrid-default tuned tuned-hybrid; do
    runs+=(--run "$name=$out/$name.jsonl")
done
echo "## standard (unjudged = not relevant)"
gs evaluate "${judged[@]}" "${runs[@]}" -m ndcg@10,judged@10 --format markdown
echo
echo "## condensed (judged-only)"
gs evaluate "${judged[@]}" "${runs[@]}" -m ndcg@10 --condensed --format markdown
for f in "$out"/tune-*.txt; do echo; echo "## $(basename "$f")"; cat "$f"; done
