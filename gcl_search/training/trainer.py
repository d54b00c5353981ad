"""`train(recipe)`: fine-tune a sentence-transformers or open_clip encoder with the GCL loss.

AdamW with linear warmup + cosine decay, gradient clipping, seeded batches, autocast (bf16 / fp16 with loss
scaling), optional GradCache, a resumable checkpoint after every epoch (and when stopped early), dev
evaluation each epoch with the best model kept, a loss/metric plot, a config snapshot and model cards.

Output folder::

    train_config.json  recipe.toml       resolved config snapshot, and the recipe as given
    checkpoints/last.pt                  resumable state (safe to load: tensors only)
    best/  final/                        exported models (+ README.md model card)
    history.json  curves.png             loss per step, dev metrics per epoch
    DONE.json                            written last: the run finished (never overwritten unless asked)
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from gcl_search.training.batches import Batch, PairSampler
from gcl_search.training.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from gcl_search.training.data import TrainingData
from gcl_search.training.dev import DevResult, dev_corpus, retrieve, score_run
from gcl_search.training.export import export_model
from gcl_search.training.gradcache import chunked, grad_cache_step
from gcl_search.training.plot import plot_curves
from gcl_search.training.setup import (
    DONE_FILE,
    RunSetup,
    autocast_dtype,
    check_output_dir,
    prepare,
    write_snapshot,
)
from gcl_search.training.spec import TrainConfig


@dataclass
class TrainResult:
    """What a run produced.

    Attributes:
        output_dir: the run folder.
        model_dir: the model to use (best dev epoch, or the final one without dev evaluation).
        finished: False when stopped early by `stop_after` (resume with `resume=True`).
        history: {"steps": [[step, loss], ...], "epochs": [{"epoch": e, metric: value, ...}, ...]}.
        best: the best epoch's dev metrics (empty without dev evaluation).
    """

    output_dir: Path
    model_dir: Path | None
    finished: bool
    history: dict[str, list[Any]] = field(default_factory=dict)
    best: dict[str, float] = field(default_factory=dict)


def cosine_schedule(total_steps: int, warmup_ratio: float):
    """LR multiplier: linear warmup over `warmup_ratio` of the steps, then cosine decay to 0."""
    warmup = int(round(warmup_ratio * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


class _Run:
    def __init__(self, tc: TrainConfig, setup: RunSetup, progress: bool):
        self.tc, self.spec, self.setup, self.progress = tc, tc.train, setup, progress
        self.out = Path(self.spec.output_dir)
        self.model = setup.towers.encoder.model
        self.sampler = PairSampler(
            setup.train,
            self.spec.batch_size,
            self.spec.data.negatives_per_row,
            self.spec.data.positive_threshold,
            seed=self.spec.seed,
        )
        steps = self.spec.epochs * len(self.sampler)
        self.total_steps = min(steps, self.spec.max_steps) if self.spec.max_steps else steps
        modules = (self.model, setup.loss_fn)
        params = [p for m in modules for p in m.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=self.spec.lr, weight_decay=self.spec.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, cosine_schedule(self.total_steps, self.spec.warmup_ratio)
        )
        self.dtype = autocast_dtype(self.spec, setup.device)
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=self.dtype == torch.float16 and setup.device.startswith("cuda")
        )
        self.position = {"epoch": 0, "step_in_epoch": 0, "global_step": 0}
        self.history: dict[str, list[Any]] = {"steps": [], "epochs": []}
        self.best: dict[str, float] = {}

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.setup.device.split(":")[0], dtype=self.dtype)

    # --- one step -----------------------------------------------------------------------------------------
    def loss_of(self, embs: list[Any], batch: Batch) -> torch.Tensor:
        with self.autocast():
            return self.setup.loss_fn.compute_loss(
                embs[0],
                embs[1],
                batch.scores.to(self.setup.device),
                known_positive=batch.known_positive,
                negative_emb=embs[2] if len(embs) > 2 else None,
                negative_owner=batch.negative_owner,
                negative_known_positive=batch.negative_known_positive,
            )

    def _encoded(self, fn):
        def run(chunk):
            with self.autocast():
                return fn(list(chunk))

        return run

    def step(self, batch: Batch) -> float:
        towers, chunk = self.setup.towers, self.spec.grad_cache_chunk
        parts = [
            (self._encoded(towers.embed_queries), batch.queries),
            (self._encoded(towers.embed_docs), batch.doc_ids),
        ]
        if batch.negative_doc_ids:
            parts.append((self._encoded(towers.embed_docs), batch.negative_doc_ids))
        if chunk > 0:
            loss = grad_cache_step(
                [(fn, chunked(items, chunk)) for fn, items in parts],
                lambda embs: self.loss_of(embs, batch),
                scale=self.scaler.scale,
            )
        else:
            loss = self.loss_of([fn(items) for fn, items in parts], batch)
            self.scaler.scale(loss).backward()
        if self.spec.max_grad_norm > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(
                [p for g in self.optimizer.param_groups for p in g["params"]], self.spec.max_grad_norm
            )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        return float(loss.detach())

    # --- state --------------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "loss": self.setup.loss_fn.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "position": dict(self.position),
            "rng": rng_state(),
            "history": json.dumps(self.history),
            "best": json.dumps(self.best),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.setup.loss_fn.load_state_dict(state["loss"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.position = dict(state["position"])
        self.history, self.best = json.loads(state["history"]), json.loads(state["best"])
        set_rng_state(state["rng"])

    def save(self) -> None:
        save_checkpoint(self.out / "checkpoints" / "last.pt", self.state())
        (self.out / "history.json").write_text(json.dumps(self.history), encoding="utf-8")

    # --- evaluation and export ----------------------------------------------------------------------------
    def evaluate(self) -> DevResult:
        towers, judgments = self.setup.towers, self.setup.dev_judgments
        self.model.eval()
        doc_ids = dev_corpus(
            list(towers.catalogue), judgments, self.spec.eval_max_docs, self.spec.data.split_seed
        )
        docs = towers.encode_catalogue(doc_ids, self.spec.eval_batch_size, progress=self.progress)
        query_ids = sorted(judgments)
        queries = towers.encode_queries(query_ids, self.spec.eval_batch_size)
        self.model.train()
        run = retrieve(queries, query_ids, docs, doc_ids, self.spec.eval_top_k)
        return score_run(judgments, run, self.spec.eval_metrics)

    def export(self, name: str, metrics: dict[str, float]) -> Path:
        enc = self.tc.config.encoders[self.setup.towers.doc_fields[0].encoder]
        card = {
            "name": f"{self.out.name} ({name})",
            "base_model": f"{enc.backend}: {enc.model}",
            "arch": enc.model,
            "data": self.setup.data.source,
            "metrics": metrics,
            "config": {"train": self.spec.to_dict(), "loss": self.setup.loss_fn.get_config_dict()},
        }
        return export_model(self.setup.towers.encoder, self.out / name, card)


def train(
    tc: TrainConfig,
    resume: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
    data: TrainingData | None = None,
) -> TrainResult:
    """Fine-tune the recipe's encoder with the GCL loss and write the run folder (see the module docstring).

    Args:
        tc: the recipe (field config + `[train]`).
        resume: continue the unfinished run in `output_dir` from its last checkpoint, exactly.
        progress: tqdm bars on stderr.
        stop_after: stop after this many global steps with a resumable checkpoint (time-boxed jobs, tests).
        data: already loaded training data (otherwise read as `[train.data]` says).

    Returns:
        TrainResult.

    Raises:
        ConfigError: bad recipe, or an output folder that holds a finished / unfinished run (see
            `check_output_dir`).
        InputFileError: bad data rows, or a corrupt checkpoint on resume.
    """
    out = Path(tc.train.output_dir)
    check_output_dir(out, resume, tc.train.overwrite)
    setup = prepare(tc, data)
    run = _Run(tc, setup, progress)
    if resume:
        run.restore(load_checkpoint(out / "checkpoints" / "last.pt"))
    else:
        write_snapshot(out, tc, setup, setup.towers.encoder)
    finished = _loop(run, stop_after)
    run.save()
    if not finished:
        return TrainResult(out, None, False, run.history, run.best)
    return _finish(run)


def _loop(run: _Run, stop_after: int | None) -> bool:
    spec, pos = run.spec, run.position
    run.model.train()
    with tqdm(
        total=run.total_steps, initial=pos["global_step"], desc="train", unit="step", disable=not run.progress
    ) as bar:
        while pos["epoch"] < spec.epochs:
            for i, batch in enumerate(run.sampler.epoch(pos["epoch"])):
                if i < pos["step_in_epoch"]:
                    continue  # replayed on resume: the same batches, already trained on
                if pos["global_step"] >= run.total_steps:
                    break
                if stop_after is not None and pos["global_step"] >= stop_after:
                    return False
                loss = run.step(batch)
                pos["step_in_epoch"], pos["global_step"] = i + 1, pos["global_step"] + 1
                run.history["steps"].append([pos["global_step"], loss])
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", epoch=pos["epoch"] + 1)
            _end_epoch(run)
            if pos["global_step"] >= run.total_steps:
                break
    return True


def _end_epoch(run: _Run) -> None:
    pos = run.position
    if run.spec.eval_each_epoch and run.setup.dev_judgments:
        result = run.evaluate()
        metrics = result.flat()
        run.history["epochs"].append({"epoch": pos["epoch"] + 1, **metrics})
        if metrics[run.spec.select_metric] > run.best.get(run.spec.select_metric, float("-inf")):
            run.best = metrics
            run.export("best", metrics)
    pos["epoch"], pos["step_in_epoch"] = pos["epoch"] + 1, 0
    run.save()


def _finish(run: _Run) -> TrainResult:
    final = run.export("final", run.history["epochs"][-1] if run.history["epochs"] else {})
    plot_curves(run.history["steps"], run.history["epochs"], run.out / "curves.png", title=run.out.name)
    model_dir = run.out / "best" if run.best else final
    summary = {"model_dir": str(model_dir), "best": run.best, "steps": run.position["global_step"]}
    (run.out / DONE_FILE).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return TrainResult(run.out, model_dir, True, run.history, run.best)
