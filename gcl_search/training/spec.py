"""The `[train]` table of the shared TOML config: what to train on, how, and where to write the result.

A recipe is the usual field config (`[encoders.*]`, `[[fields]]`, `[[query_fields]]`, read by
`gcl_search.config`) plus::

    [train]
    output_dir = "runs/icecat-gcl"
    epochs = 3
    batch_size = 32

    [train.data]
    source = "icecat"            # icecat | pairs | marqo-gs

    [train.loss]
    weighting = "linear"         # binary | linear | reciprocal | power | exponential

Every key and default is below; docs/training.md explains the choices.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gcl_search.config import PRECISIONS, Config, from_table, parse_config, read_toml
from gcl_search.errors import ConfigError
from gcl_search.losses.gcl import NEGATIVE_SCOPES, NORMALISERS
from gcl_search.losses.weights import WEIGHTINGS

DATA_SOURCES = ("icecat", "pairs", "marqo-gs")


@dataclass(frozen=True)
class DataSpec:
    """`[train.data]`: the training pairs and catalogue.

    Args:
        source: `icecat` (the bundled sample), `pairs` (a triples file + a catalogue file) or `marqo-gs`.
        path: icecat: the sample folder (default: examples/icecat); marqo-gs: the folder of split CSVs.
        triples: pairs: JSONL/CSV/Parquet with `query`, `doc_id`, `score`.
        catalogue: pairs: JSONL/CSV/Parquet with `doc_id` and the fields' source columns.
        split: marqo-gs split name (e.g. `query_0_product_id_0`).
        score_column: marqo-gs score column (`score_linear` or `score_reciprocal`).
        limit: marqo-gs: read only this many rows (0 = all).
        dev_fraction: share of queries held out for dev evaluation (by query, never by pair).
        split_seed: seed of the query split (kept apart from the training seed so seeds share one split).
        folds: K-fold cross-validation by query (0 = the single dev_fraction split): the queries are dealt
            into `folds` seeded folds (split_seed) and fold `fold` is the dev set; run every fold to score
            every query once, out of fold.
        fold: which fold is the dev set (0-based, < folds).
        positive_threshold: scores above it are positives.
        negatives_per_row: judged-irrelevant documents (score 0) added per row as negatives for its query.
        mine_negatives: per training query, unjudged products the starting model ranks high (exact search
            over the catalogue) added to its score-0 pool (`gcl_search.training.mining`); needs
            negatives_per_row >= 1 to be used.
        mine_skip: unjudged top hits passed over before mining (likely false negatives).
        extra_triples: a triples file (e.g. teacher-ranked rows from `gcl-search triples`) always trained on
            and never split into dev: rows whose query is a dev query are dropped (no leakage), and a (query,
            doc) pair the main source also holds keeps the main source's score (a human grade wins).
    """

    source: str = "icecat"
    path: str | None = None
    triples: str | None = None
    catalogue: str | None = None
    split: str = "query_0_product_id_0"
    score_column: str = "score_linear"
    limit: int = 0
    dev_fraction: float = 0.2
    split_seed: int = 0
    folds: int = 0
    fold: int = 0
    positive_threshold: float = 0.0
    negatives_per_row: int = 0
    mine_negatives: int = 0
    mine_skip: int = 10
    extra_triples: str | None = None

    def __post_init__(self) -> None:
        if self.source not in DATA_SOURCES:
            raise ConfigError(f"source = {self.source!r}; use one of {', '.join(DATA_SOURCES)}")
        if self.source == "pairs" and not (self.triples and self.catalogue):
            raise ConfigError("source = 'pairs' needs both triples and catalogue paths")
        if self.source == "marqo-gs" and not self.path:
            raise ConfigError("source = 'marqo-gs' needs path (the folder holding the split CSVs)")
        if self.negatives_per_row < 0 or self.limit < 0:
            raise ConfigError("negatives_per_row and limit must be >= 0")
        if self.mine_negatives < 0 or self.mine_skip < 0:
            raise ConfigError("mine_negatives and mine_skip must be >= 0")
        if self.mine_negatives and not self.negatives_per_row:
            raise ConfigError(
                f"mine_negatives = {self.mine_negatives} needs negatives_per_row >= 1 (mined "
                "negatives join the per-row negative pool)"
            )
        if self.folds == 1 or self.folds < 0 or (self.folds and not 0 <= self.fold < self.folds):
            raise ConfigError(
                f"folds = {self.folds}, fold = {self.fold}: use folds >= 2 with 0 <= fold < "
                "folds, or folds = 0 for the dev_fraction split"
            )


@dataclass(frozen=True)
class LossSpec:
    """`[train.loss]`: the GCL loss (see `gcl_search.losses.GCLLoss` and `ScoreToWeight`).

    `score_min` / `score_max` default to the range of the positive training scores.
    """

    weighting: str = "linear"
    w_min: float = 0.1
    power: float = 2.0
    rate: float = 2.0
    step: float = 1.0
    score_min: float | None = None
    score_max: float | None = None
    temperature: float = 0.05
    learnable_temperature: bool = True
    normaliser: str = "weight_sum"
    symmetric: bool = True
    mask_known_positives: bool = True
    negative_scope: str = "shared"

    def __post_init__(self) -> None:
        for key, value, choices in (
            ("weighting", self.weighting, WEIGHTINGS),
            ("normaliser", self.normaliser, NORMALISERS),
            ("negative_scope", self.negative_scope, NEGATIVE_SCOPES),
        ):
            if value not in choices:
                raise ConfigError(f"{key} = {value!r}; use one of {', '.join(choices)}")


@dataclass(frozen=True)
class TrainSpec:
    """`[train]`: optimisation, evaluation and output.

    Args:
        output_dir: run folder (checkpoints, final model, config snapshot, curves, model card).
        encoder: the `[encoders.<name>]` to fine-tune (default: the only one the fields use).
        epochs / batch_size / lr / weight_decay: AdamW training; batch_size is the contrastive batch.
        warmup_ratio: share of steps with linear warmup before the cosine decay.
        max_grad_norm: gradient clipping (0 = off).
        seed: torch / sampler seed.
        precision: `auto` (bf16 on CUDA, fp32 on CPU), `fp32`, `bf16` or `fp16` (autocast; fp16 adds loss
            scaling). bf16 also runs on CPU (slow there, for testing the path).
        device: `auto`, `cpu`, `cuda`, `cuda:<n>`.
        grad_cache_chunk: rows per GradCache chunk (0 = no gradient caching).
        max_steps: stop after this many steps (0 = all epochs).
        eval_each_epoch: evaluate on dev queries after each epoch (and keep the best checkpoint).
        eval_metrics: metric names (the evaluation grammar); `select_metric` picks the best checkpoint.
        eval_top_k: ranking depth of dev retrieval (exact cosine search over the whole catalogue).
        eval_batch_size: texts per forward pass when encoding the catalogue.
        eval_max_docs: search only the dev queries' judged documents plus a seeded sample of others, this
            many in all (0 = the whole catalogue; a sample keeps per-epoch evaluation of big catalogues
            affordable).
        max_length: truncate texts to this many tokens while training (sentence-transformers).
        overwrite: replace a finished run in output_dir (otherwise refused).
        data / loss: the `[train.data]` and `[train.loss]` tables.
    """

    output_dir: str = "runs/train"
    encoder: str | None = None
    epochs: int = 3
    batch_size: int = 32
    lr: float = 2e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    seed: int = 0
    precision: str = "auto"
    device: str = "auto"
    grad_cache_chunk: int = 0
    max_steps: int = 0
    eval_each_epoch: bool = True
    eval_metrics: tuple[str, ...] = ("ndcg@10", "err@10", "judged@10")
    select_metric: str = "ndcg@10"
    eval_top_k: int = 100
    eval_batch_size: int = 128
    eval_max_docs: int = 0
    max_length: int | None = None
    overwrite: bool = False
    data: DataSpec = field(default_factory=DataSpec)
    loss: LossSpec = field(default_factory=LossSpec)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision = {self.precision!r}; use one of {', '.join(PRECISIONS)}")
        if self.epochs < 1 or self.batch_size < 2 or self.lr <= 0:
            raise ConfigError("epochs must be >= 1, batch_size >= 2 and lr > 0")
        if self.select_metric not in self.eval_metrics:
            raise ConfigError(f"select_metric {self.select_metric!r} must be one of eval_metrics")

    def to_dict(self) -> dict[str, object]:
        """Plain data for the config snapshot."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    """A recipe: the field config plus its `[train]` table."""

    config: Config
    train: TrainSpec
    path: Path | None = None


def load_train_config(path: str | Path, **overrides: object) -> TrainConfig:
    """Read a recipe TOML (the field config plus `[train]`); `overrides` replace `[train]` keys.

    `overrides` values of None are ignored; dict values (`data`, `loss`) update those sub-tables by key.
    Relative data paths and `output_dir` resolve against the current directory, as command-line paths do.

    Raises:
        ConfigError: unreadable file, unknown or invalid keys (the message names the file and key).
    """
    path = Path(path)
    data = read_toml(path, "recipe")
    try:
        return parse_train_config(data, path, **overrides)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err


def parse_train_config(
    recipe: Mapping[str, object], path: Path | None = None, **overrides: object
) -> TrainConfig:
    """Build a TrainConfig from an already-parsed recipe mapping (see `load_train_config`)."""
    data = dict(recipe)
    table = dict(data.pop("train", {}))  # type: ignore[call-overload]
    for key, value in overrides.items():
        if isinstance(value, Mapping):
            table[key] = {**table.get(key, {}), **value}
        elif value is not None:
            table[key] = value
    base_dir = path.resolve().parent if path is not None else None
    config = parse_config(data, base_dir=base_dir, path=path)
    return TrainConfig(config, from_table(TrainSpec, table, "[train]"), path)
