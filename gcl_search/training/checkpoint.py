"""Training checkpoints: everything needed for an exact resume, saved atomically and loaded without
unpickling Python objects (`torch.load(weights_only=True)`).

A checkpoint holds the model and loss parameters, the optimizer, LR schedule and loss-scaler states, the
position (epoch, step within the epoch, global step), the torch RNG states, the history and the best metric.
Batches are a pure function of (seed, epoch), so the position is enough to replay the same data order.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from gcl_search.errors import InputFileError

CHECKPOINT_VERSION = 1


def rng_state() -> dict[str, Any]:
    """The torch RNG states (CPU and every CUDA device)."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned."""
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically (a crash mid-write never leaves a truncated checkpoint)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"version": CHECKPOINT_VERSION, **state}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`, refusing pickled Python objects.

    Raises:
        InputFileError: the file is missing, truncated/corrupt, not a gcl-search checkpoint, or from another
            checkpoint version; the message says how to start over.
    """
    path = Path(path)
    fix = "delete it to start the run over, or pass --overwrite"
    if not path.is_file():
        raise InputFileError(path, None, f"no checkpoint here to resume from; {fix}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise InputFileError(
            path, None, f"the checkpoint holds Python objects, refused ({err}); {fix}"
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise InputFileError(path, None, f"the checkpoint is corrupt ({err}); {fix}") from err
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise InputFileError(
            path,
            None,
            f"not a gcl-search training checkpoint (version "
            f"{state.get('version') if isinstance(state, dict) else '?'}); {fix}",
        )
    return state
