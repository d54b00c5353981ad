"""The training curve: loss per step and dev metrics per epoch, side by side, as a PNG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def plot_curves(
    steps: Sequence[tuple[int, float]],
    epochs: Sequence[Mapping[str, float]],
    out_path: str | Path,
    title: str = "",
) -> Path:
    """Draw training loss (left) and dev metrics (right).

    Args:
        steps: (global step, loss) pairs.
        epochs: one dict per evaluated epoch: `epoch` plus metric -> value.
        out_path: the PNG to write.
        title: figure title.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display in training jobs
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    if steps:
        left.plot([s for s, _ in steps], [v for _, v in steps], lw=0.8)
    left.set(xlabel="step", ylabel="loss", title="training loss")
    metrics = sorted({k for e in epochs for k in e if k != "epoch"})
    for name in metrics:
        points = [(e["epoch"], e[name]) for e in epochs if name in e]
        right.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    right.set(xlabel="epoch", ylabel="value", title="dev metrics")
    if metrics:
        right.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    out = Path(out_path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
