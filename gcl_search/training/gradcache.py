"""Gradient caching (GradCache) for large contrastive batches in bounded memory.

Gao, Zhang, Han, Callan: "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup"
(RepL4NLP 2021). The contrastive loss couples every row of the batch, so the batch cannot simply be split
into micro-batches. GradCache instead (1) embeds the batch chunk by chunk without an autograd graph, (2) runs
the loss on the detached embeddings and backpropagates to them, caching d loss / d embedding, then (3)
re-embeds each chunk with a graph and backpropagates the cached gradient through it. Peak activation memory
is one chunk's, and the parameter gradients equal those of the whole-batch loss.

Written here (about 60 lines) rather than taken from the `grad-cache` package: that package is unmaintained,
not on PyPI in a current version, and hard-codes two towers of HF-style model outputs, while the trainer needs
any number of towers (queries, documents, extra negatives) returning multi-field dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch

Embeddings = torch.Tensor | Mapping[str, torch.Tensor]
Encode = Callable[[Any], Embeddings]


class _RngState:
    """The CPU (and CUDA) RNG state at a point, so a chunk's re-run draws the same dropout masks."""

    def __init__(self) -> None:
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None

    @contextmanager
    def restored(self):
        devices = list(range(len(self.cuda))) if self.cuda is not None else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu)
            if self.cuda is not None:
                torch.cuda.set_rng_state_all(self.cuda)
            yield


def _concat(parts: list[Embeddings]) -> Embeddings:
    if isinstance(parts[0], Mapping):
        return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
    return torch.cat(parts)


def _leaf(emb: Embeddings) -> Embeddings:
    if isinstance(emb, Mapping):
        return {key: value.detach().requires_grad_() for key, value in emb.items()}
    return emb.detach().requires_grad_()


def _split_grads(leaf: Embeddings, sizes: list[int]) -> list[Embeddings]:
    if isinstance(leaf, Mapping):
        split = {key: torch.split(_grad_of(value), sizes) for key, value in leaf.items()}
        return [{key: parts[i] for key, parts in split.items()} for i in range(len(sizes))]
    return list(torch.split(_grad_of(leaf), sizes))


def _grad_of(tensor: torch.Tensor) -> torch.Tensor:
    # A field the loss never used (e.g. all rows lack it) has no gradient: it contributes nothing.
    return tensor.grad if tensor.grad is not None else torch.zeros_like(tensor)


def _rows(emb: Embeddings) -> int:
    return next(iter(emb.values())).shape[0] if isinstance(emb, Mapping) else emb.shape[0]


def _backward_chunk(encode: Encode, chunk: Any, grad: Embeddings) -> None:
    emb = encode(chunk)
    if isinstance(emb, Mapping):
        keys = list(emb)
        torch.autograd.backward([emb[k] for k in keys], [grad[k] for k in keys])
    else:
        torch.autograd.backward(emb, grad)


def grad_cache_step(
    towers: Sequence[tuple[Encode, Sequence[Any]]],
    loss_fn: Callable[[list[Embeddings]], torch.Tensor],
    scale: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Accumulate the gradients of `loss_fn` over whole-batch embeddings, one chunk of activations at a time.

    Args:
        towers: per tower (queries, documents, negatives, ...) an `encode(chunk)` function returning
            (rows, dim) embeddings or a dict of them, and the list of input chunks.
        loss_fn: takes the list of whole-batch embeddings (one per tower, in order) and returns the loss.
        scale: applied to the loss before backward (e.g. `GradScaler.scale` for fp16); the cached gradients
            carry the same scale, so the parameter gradients match an unchunked `scale(loss).backward()`.

    Returns:
        The (detached, unscaled) loss. Parameter `.grad`s are accumulated as by `loss.backward()`.
    """
    states: list[list[_RngState]] = []
    leaves: list[Embeddings] = []
    sizes: list[list[int]] = []
    for encode, chunks in towers:
        tower_states, parts = [], []
        for chunk in chunks:
            tower_states.append(_RngState())
            with torch.no_grad():
                parts.append(encode(chunk))
        states.append(tower_states)
        sizes.append([_rows(p) for p in parts])
        leaves.append(_leaf(_concat(parts)))
    loss = loss_fn(leaves)
    (scale(loss) if scale is not None else loss).backward()
    for (encode, chunks), leaf, tower_states, tower_sizes in zip(towers, leaves, states, sizes):
        for chunk, state, grad in zip(chunks, tower_states, _split_grads(leaf, tower_sizes)):
            with state.restored():
                _backward_chunk(encode, chunk, grad)
    return loss.detach()


def chunked(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """`items` cut into consecutive chunks of at most `size` (size <= 0: one chunk)."""
    if size <= 0 or size >= len(items):
        return [items]
    return [items[i : i + size] for i in range(0, len(items), size)]
