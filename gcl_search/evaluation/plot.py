"""Plots to a file (matplotlib, Agg backend): metric bars with 95% CIs, or sorted per-query deltas."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gcl_search.evaluation.compare import Comparison
from gcl_search.evaluation.evaluate import Report


def plot_means(reports: Mapping[str, Report], path: str | Path) -> Path:
    """Grouped bars: one group per metric, one bar per run, 95% CI as error bars."""
    plt = _pyplot()
    names = list(reports)
    metrics = reports[names[0]].metrics
    x = np.arange(len(metrics))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(metrics) * len(names)), 4))
    for i, name in enumerate(names):
        report = reports[name]
        means = np.array([report.means[m] for m in metrics])
        ci = np.array([report.ci[m] for m in metrics])
        err = np.nan_to_num(np.abs(ci.T - means))
        ax.bar(x + i * width, means, width, yerr=err, capsize=3, label=name)
    ax.set_xticks(x + width * (len(names) - 1) / 2, metrics, rotation=30, ha="right")
    ax.set_ylabel("mean (95% CI)")
    ax.legend()
    return _save(fig, path)


def plot_deltas(comparison: Comparison, path: str | Path, metric: str | None = None) -> Path:
    """Per-query (run - baseline) differences on one metric, sorted, one panel per compared run."""
    plt = _pyplot()
    metric = metric or comparison.metrics[0]
    others = [n for n in comparison.reports if n != comparison.baseline]
    fig, axes = plt.subplots(len(others), 1, figsize=(8, 2.8 * len(others)), squeeze=False)
    base = comparison.reports[comparison.baseline].column(metric)
    for ax, name in zip(axes[:, 0], others):
        delta = np.sort(comparison.reports[name].column(metric) - base)[::-1]
        colours = ["tab:green" if d > 0 else "tab:red" for d in delta]
        ax.bar(np.arange(len(delta)), delta, color=colours, width=1.0)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title(f"{metric}: {name} - {comparison.baseline} per query (mean {delta.mean():+.4f})")
        ax.set_xlabel("queries, sorted by delta")
        ax.set_ylabel("delta")
    return _save(fig, path)


def _pyplot():  # noqa: ANN202 - matplotlib.pyplot module
    import matplotlib

    matplotlib.use("Agg")  # plots go to files; never open a window
    import matplotlib.pyplot as plt

    return plt


def _save(fig: object, path: str | Path) -> Path:
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
