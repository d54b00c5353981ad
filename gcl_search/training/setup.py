"""Everything a training run needs before its first step: data, split, dev judgments, encoder, loss, output
folder checks. Kept apart from the loop in `trainer.py` so each stays small."""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from gcl_search.encoders.base import Encoder, resolve_device
from gcl_search.errors import ConfigError
from gcl_search.losses import GCLLoss, ScoreToWeight, fit_score_range
from gcl_search.training.data import (
    TrainingData,
    Triple,
    judgments_from,
    load_pairs,
    read_triples,
    split_by_fold,
    split_by_query,
    validate,
)
from gcl_search.training.mining import mine_negatives
from gcl_search.training.sources import icecat_judgments, load_icecat, load_marqo_gs
from gcl_search.training.spec import DataSpec, LossSpec, TrainConfig, TrainSpec
from gcl_search.training.towers import FieldTowers, load_trainable, training_fields

DONE_FILE = "DONE.json"
SNAPSHOT_FILE = "train_config.json"


@dataclass
class RunSetup:
    """The prepared pieces of a run."""

    towers: FieldTowers
    loss_fn: GCLLoss
    train: list[Triple]
    dev_judgments: dict[str, dict[str, int]]
    data: TrainingData
    device: str


def load_training_data(tc: TrainConfig) -> TrainingData:
    """The pairs and catalogue the recipe's `[train.data]` names, validated against the training fields
    (plus `extra_triples`, validated against the same catalogue)."""
    doc_fields, _ = training_fields(tc.config)
    columns = [f.source for f in doc_fields]
    spec = tc.train.data
    if spec.source == "icecat":
        data = load_icecat(columns, spec.path)
    elif spec.source == "marqo-gs":
        data = load_marqo_gs(spec.path or ".", spec.split, spec.score_column, limit=spec.limit or None)
        unknown = sorted(set(columns) - {"title", "image"})
        if unknown:
            raise ConfigError(
                f"Marqo-GS-10M has the columns title and image; field source {unknown[0]!r} is "
                "not one of them"
            )
    else:
        data = load_pairs(spec.triples or "", spec.catalogue or "", columns)
    if spec.extra_triples:
        data.extra = _extra_triples(data, spec.extra_triples, columns)
    return data


def _extra_triples(data: TrainingData, path: str, columns: list[str]) -> list[Triple]:
    """`extra_triples` rows, validated against the catalogue; pairs the main source holds are dropped (its
    score wins)."""
    if not Path(path).is_file():
        raise ConfigError(
            f"[train.data] extra_triples = {path!r} does not exist; build it with `gcl-search "
            "triples` (docs/training.md) or drop the key"
        )
    extra = read_triples(path)
    validate(
        TrainingData(extra, data.catalogue, source=data.source, catalogue_locations=data.catalogue_locations),
        columns,
    )
    main = {(t.query, t.doc_id) for t in data.triples}
    data.source = f"{data.source} + {path}"
    return [t for t in extra if (t.query, t.doc_id) not in main]


def split_data(triples: list[Triple], spec: DataSpec) -> tuple[list[Triple], list[Triple]]:
    """(train, dev) triples: fold `spec.fold` of K folds when `spec.folds`, else the dev_fraction split."""
    if spec.folds:
        return split_by_fold(triples, spec.folds, spec.fold, spec.split_seed, spec.positive_threshold)
    return split_by_query(triples, spec.dev_fraction, spec.split_seed)


def train_dev(data: TrainingData, spec: DataSpec) -> tuple[list[Triple], list[Triple]]:
    """`split_data` of the main triples, plus the extra triples on the train side, minus any row of a dev
    query (so teacher rows never leak a held-out query)."""
    train, dev = split_data(data.triples, spec)
    dev_queries = {t.query for t in dev}
    return train + [t for t in data.extra if t.query not in dev_queries], dev


def dev_judgments(tc: TrainConfig, dev: list[Triple]) -> dict[str, dict[str, int]]:
    """Integer judgments of the dev queries (Icecat: the official grades; otherwise rounded scores)."""
    queries = {t.query for t in dev}
    if tc.train.data.source == "icecat":
        official = icecat_judgments(tc.train.data.path)
        return {q: official[q] for q in queries if q in official}
    return judgments_from(dev)


def build_loss(
    spec: LossSpec, train: list[Triple], positive_threshold: float, towers: FieldTowers
) -> GCLLoss:
    """The GCL loss, with the score range fitted on the training positives unless the recipe fixes it."""
    positives = [t.score for t in train if t.score > positive_threshold]
    low, high = (0.0, 1.0) if spec.weighting == "binary" else fit_score_range(positives)
    weighting = ScoreToWeight(
        spec.weighting,
        w_min=spec.w_min,
        power=spec.power,
        rate=spec.rate,
        step=spec.step,
        score_min=low if spec.score_min is None else spec.score_min,
        score_max=high if spec.score_max is None else spec.score_max,
    )
    return GCLLoss(
        weighting=weighting,
        temperature=spec.temperature,
        learnable_temperature=spec.learnable_temperature,
        normaliser=spec.normaliser,
        symmetric=spec.symmetric,
        mask_known_positives=spec.mask_known_positives,
        negative_scope=spec.negative_scope,
        query_field_weights=towers.query_weights,
        doc_field_weights=towers.doc_weights,
    )


def prepare(tc: TrainConfig, data: TrainingData | None = None) -> RunSetup:
    """Load data and model, mine negatives if asked, and build the loss (seeded by `[train] seed`)."""
    spec = tc.train
    torch.manual_seed(spec.seed)
    data = data or load_training_data(tc)
    train, dev = train_dev(data, spec.data)
    encoder = load_trainable(_encoder_spec(tc))
    if spec.max_length is not None and hasattr(encoder.model, "max_seq_length"):
        encoder.model.max_seq_length = spec.max_length
    doc_fields, query_fields = training_fields(tc.config)
    towers = FieldTowers(encoder, doc_fields, query_fields, data.catalogue, tc.config.images)
    if spec.data.mine_negatives:
        train = train + mine_negatives(
            train, towers, spec.data.mine_negatives, spec.data.mine_skip, spec.eval_batch_size
        )
    loss_fn = build_loss(spec.loss, train, spec.data.positive_threshold, towers).to(encoder.device)
    return RunSetup(towers, loss_fn, train, dev_judgments(tc, dev), data, str(encoder.device))


def _encoder_spec(tc: TrainConfig):
    doc_fields, _ = training_fields(tc.config)
    name = tc.train.encoder or doc_fields[0].encoder
    if name not in tc.config.encoders:
        raise ConfigError(f"[train] encoder = {name!r} is not defined; add [encoders.{name}]")
    enc = tc.config.encoders[name]
    device = resolve_device(tc.train.device if tc.train.device != "auto" else enc.device)
    return dataclasses.replace(enc, device=device)


def autocast_dtype(spec: TrainSpec, device: str) -> torch.dtype | None:
    """The autocast dtype for training: `auto` is bf16 on CUDA and fp32 (None) elsewhere."""
    precision = spec.precision
    if precision == "auto":
        precision = "bf16" if device.startswith("cuda") else "fp32"
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def check_output_dir(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to clobber a finished run (unless `overwrite`) or silently restart an unfinished one.

    Raises:
        ConfigError: a finished run without `overwrite`, an unfinished run without `resume` or `overwrite`,
            or a non-empty folder that is not a gcl-search run.
    """
    if not out.exists() or not any(out.iterdir()):
        if resume:
            raise ConfigError(f"{out}: nothing to resume (no run here); drop --resume to start one")
        return
    ours = (out / SNAPSHOT_FILE).is_file()
    if not ours:
        raise ConfigError(
            f"{out}: the folder is not empty and holds no gcl-search run; choose another output_dir"
        )
    if overwrite:
        shutil.rmtree(out)
        return
    if (out / DONE_FILE).is_file():
        raise ConfigError(
            f"{out}: holds a finished run ({DONE_FILE}); pass --overwrite to replace it or "
            "choose another output_dir"
        )
    if not resume:
        raise ConfigError(
            f"{out}: holds an unfinished run; pass --resume to continue it or --overwrite to start over"
        )


def write_snapshot(out: Path, tc: TrainConfig, setup: RunSetup, encoder: Encoder) -> dict[str, object]:
    """Write the resolved config next to the checkpoints (and copy the recipe file)."""
    out.mkdir(parents=True, exist_ok=True)
    snapshot = {
        "train": tc.train.to_dict(),
        "loss": setup.loss_fn.get_config_dict(),
        "encoder": dataclasses.asdict(_encoder_spec(tc)),
        "doc_fields": [dataclasses.asdict(f) for f in setup.towers.doc_fields],
        "query_fields": [dataclasses.asdict(f) for f in setup.towers.query_fields],
        "data": {
            "source": setup.data.source,
            "train_pairs": len(setup.train),
            "dev_queries": len(setup.dev_judgments),
        },
        "recipe": str(tc.path) if tc.path else None,
    }
    (out / SNAPSHOT_FILE).write_text(json.dumps(snapshot, indent=2, default=str), encoding="utf-8")
    if tc.path is not None and Path(tc.path).is_file():
        shutil.copyfile(tc.path, out / "recipe.toml")
    return snapshot
