#!/usr/bin/env bash
# The README's main job, end to end on the embedded local store (no server):
#   the bundled Icecat catalogue -> all-MiniLM-L6-v2 on four fields -> local store
#   -> the 105 judged shopper queries through BM25, dense (title only, multi-field) and weighted hybrid retrieval
#   -> graded evaluation with paired significance tests, a report and a plot.
# Every step is a plain `gcl-search` command, printed before it runs. Re-running resumes/overwrites safely.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=$(scripts/venv.sh)
export PATH="$venv/bin:$PATH" HF_HUB_OFFLINE=1
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"  # this clone's code, whatever clone the shared venv points at
out=${GCL_SEARCH_DEMO_DIR:-runs/demo}
mkdir -p "$out"
step() { printf '\n+ %s\n' "$*" >&2; "$@"; }
t0=$(date +%s)

limit=()
[[ -n ${GCL_SEARCH_DEMO_LIMIT:-} ]] && limit=(--limit "$GCL_SEARCH_DEMO_LIMIT")
step gcl-search ingest --config configs/icecat.toml --catalogue icecat --store "$out/store" --index icecat \
    --checkpoint "$out/ingest.checkpoint.json" --failures-file "$out/ingest.failures.jsonl" "${limit[@]}"

judged=(--judgments examples/icecat/judgments.csv)
live=(--config configs/icecat.toml --store "$out/store" --index icecat -k 100 -m ndcg@10 --format json)
step gcl-search evaluate "${judged[@]}" "${live[@]}" --lexical-weight 1 --run-name bm25 --run-out "$out/bm25.jsonl" >/dev/null
step gcl-search evaluate "${judged[@]}" "${live[@]}" -w title=1,description=0 --run-name dense-title \
    --run-out "$out/dense-title.jsonl" >/dev/null
step gcl-search evaluate "${judged[@]}" "${live[@]}" --run-name dense-multi --run-out "$out/dense-multi.jsonl" >/dev/null
step gcl-search evaluate "${judged[@]}" "${live[@]}" --lexical-weight 0.5 --fusion minmax --run-name hybrid \
    --run-out "$out/hybrid.jsonl" >/dev/null

runs=(--run "bm25=$out/bm25.jsonl" --run "dense-title=$out/dense-title.jsonl" --run "dense-multi=$out/dense-multi.jsonl"
      --run "hybrid=$out/hybrid.jsonl")
metrics=(-m ndcg@10,err@10,rbp@0.8,map@100,mrr@10,judged@10)
step gcl-search evaluate "${judged[@]}" "${runs[@]}" "${metrics[@]}" --condensed --format markdown >"$out/report-condensed.md"
step gcl-search evaluate "${judged[@]}" "${runs[@]}" "${metrics[@]}" --format markdown --plot "$out/ndcg-deltas.png" \
    >"$out/report.md"
echo >&2
echo "Icecat, 86 judged queries with a relevant product (unjudged = not relevant); baseline: bm25" >&2
gcl-search evaluate "${judged[@]}" "${runs[@]}" "${metrics[@]}"
echo
echo "condensed (judged-only) nDCG@10:"
gcl-search evaluate "${judged[@]}" "${runs[@]}" -m ndcg@10 --condensed
echo
echo "full report: $out/report.md, $out/report-condensed.md; plot: $out/ndcg-deltas.png; runs: $out/*.jsonl"
echo "took $(( $(date +%s) - t0 )) s"
