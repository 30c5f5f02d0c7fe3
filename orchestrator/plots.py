"""PNG plots of query answers (matplotlib, imported only when a plot is drawn).

- :func:`plot_metric`: a metric against one param, one line per value of another, each
  point the mean over seeds (and any other param) with std error bars;
- :func:`plot_curves`: learning curves, mean +- std band over seeds per config;
- :func:`plot_time_vs_batch`: wall time against batch size.

Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas, never pyplot: no
display, no global state, safe in a server or a thread. Files are written atomically.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from orchestrator.query import QueryError, aggregate, curve_stats

__all__ = ["plot_metric", "plot_curves", "plot_time_vs_batch", "FIGURE_SIZE", "DPI"]

FIGURE_SIZE = (8.0, 5.0)  # inches
DPI = 100  # so a plot is 800 x 500 pixels


def _figure() -> Any:
    from matplotlib.figure import Figure  # lazily: matplotlib takes ~0.3 s to import

    return Figure(figsize=FIGURE_SIZE, dpi=DPI, layout="constrained")


def _save(figure: Any, path: str) -> str:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}.png")
    try:
        figure.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _words(column: str) -> str:
    return column.replace("_", " ")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _x_axis(axes: Any, column: str, values: list[Any]) -> dict[Any, Any]:
    """Set up the x axis for ``values``; return where each value goes. Numbers spanning
    more than a factor of ten (learning rates, batch sizes) go on a log scale, labelled
    with the values themselves; anything else is categorical."""
    axes.set_xlabel(_words(column))
    if all(_number(v) for v in values):
        if min(values) > 0 and max(values) / min(values) >= 10:
            axes.set_xscale("log", base=2 if all(float(v).is_integer() for v in values) else 10)
            axes.set_xticks(values, [f"{v:g}" for v in values])
            axes.minorticks_off()
        return {v: v for v in values}
    axes.set_xticks(range(len(values)), [str(v) for v in values])
    return {v: i for i, v in enumerate(values)}


def _sorted(values: list[Any]) -> list[Any]:
    return sorted(set(values), key=lambda v: (v is None, str(type(v)), v if v is not None else 0))


def plot_metric(
    trials: pa.Table,
    x: str,
    path: str,
    metric: str = "test_accuracy",
    line: str | None = None,
    title: str | None = None,
) -> str:
    """``metric`` against the param ``x``, one line per value of the param ``line``: each
    point is the mean over the trials with those values (seeds, and any param not named),
    error bars one standard deviation. Writes a PNG to ``path`` and returns it."""
    if trials.num_rows == 0:
        raise QueryError("nothing to plot: no trials match the query")
    keys = [x] if line is None else [x, line]
    table = aggregate(trials, by=keys, metrics=[metric], stats=["mean", "std", "count"])
    rows = [r for r in table.to_pylist() if r[f"mean_{metric}"] is not None]
    if not rows:
        raise QueryError(f"nothing to plot: no trial has a {metric}")
    figure = _figure()
    axes = figure.add_subplot()
    where = _x_axis(axes, x, _sorted([r[x] for r in rows]))
    groups = _sorted([r[line] for r in rows]) if line else [None]
    for group in groups:
        points = sorted((r for r in rows if line is None or r[line] == group), key=lambda r: where[r[x]])
        std = [r[f"std_{metric}"] or 0.0 for r in points]
        axes.errorbar([where[r[x]] for r in points], [r[f"mean_{metric}"] for r in points], yerr=std,
                      marker="o", capsize=4, label=None if line is None else f"{group}")
    if line is not None:
        axes.legend(title=_words(line))
    counts = [r[f"count_{metric}"] for r in rows]
    runs = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
    axes.set_ylabel(_words(metric))
    heading = title or f"{_words(metric)} by {_words(x)}" + (f" and {_words(line)}" if line else "")
    axes.set_title(f"{heading}\n(mean ± std over {runs} trials per point)")
    axes.grid(True, alpha=0.3)
    return _save(figure, path)


def plot_curves(
    curves: pa.Table,
    path: str,
    metric: str = "val_accuracy",
    by: Sequence[str] | None = None,
    title: str | None = None,
) -> str:
    """Learning curves (from :func:`orchestrator.query.learning_curves`): per config
    (``by``; default: every param that tells the curves apart except seed), the mean of
    ``metric`` at each epoch over its trials, with a band of +- one standard deviation."""
    if curves.num_rows == 0:
        raise QueryError("nothing to plot: no epochs for the chosen trials")
    stats = curve_stats(curves, metric, by)
    keys = [c for c in stats.column_names if c not in ("epoch", "trials") and not c.endswith(f"_{metric}")]
    rows = stats.to_pylist()
    figure = _figure()
    axes = figure.add_subplot()
    configs = sorted({tuple(r[k] for k in keys) for r in rows}, key=str)
    for config in configs:
        points = sorted((r for r in rows if tuple(r[k] for k in keys) == config), key=lambda r: r["epoch"])
        epochs = [r["epoch"] for r in points]
        mean = [r[f"mean_{metric}"] for r in points]
        std = [r[f"std_{metric}"] or 0.0 for r in points]
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, config)) or "all trials"
        (drawn,) = axes.plot(epochs, mean, marker="." if len(epochs) < 30 else None, label=label)
        axes.fill_between(epochs, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                          color=drawn.get_color(), alpha=0.2, linewidth=0)
    seeds = max(r["trials"] for r in rows)
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel(_words(metric))
    axes.set_title(title or f"{_words(metric)} per epoch\n(mean ± std over up to {seeds} trials per config)")
    axes.legend(fontsize="small")
    axes.grid(True, alpha=0.3)
    return _save(figure, path)


def plot_time_vs_batch(
    trials: pa.Table,
    path: str,
    seconds: str = "total_seconds",
    line: str | None = None,
    title: str | None = None,
) -> str:
    """Wall time (``total_seconds``, or ``train_seconds``, ``epoch_seconds`` of the timing
    table...) against batch size, one line per value of ``line`` if given."""
    if seconds not in trials.column_names:
        raise QueryError(f"no column {seconds!r} to plot; choose one of the *_seconds columns")
    return plot_metric(trials, "batch_size", path, metric=seconds, line=line,
                       title=title or f"wall time ({_words(seconds)}) by batch size")
