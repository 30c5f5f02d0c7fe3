"""PNG plots of query answers (matplotlib, imported only when a plot is drawn).

- :func:`plot_metric`: a metric against one param, one line per value of another, each
  point the mean over seeds (and any other param) with std error bars;
- :func:`plot_curves`: learning curves, mean +- std band over seeds per config;
- :func:`plot_time_vs_batch`: wall time against batch size;
- :func:`plot_search`: the best metric so far against trial number, one line per sweep
  (numbers from :func:`best_so_far`).

Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas, never pyplot: no
display, no global state, safe in a server or a thread. Files are written atomically.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from orchestrator.answers._where import QueryError, check_column
from orchestrator.answers._query import aggregate, higher_is_better
from orchestrator.answers._curves import curve_stats

__all__ = ["plot_metric", "plot_curves", "plot_time_vs_batch", "plot_search", "best_so_far", "FIGURE_SIZE", "DPI"]

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
    """Learning curves (from :func:`orchestrator.answers.learning_curves`): per config
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


def best_so_far(trials: pa.Table, metric: str = "val_accuracy", goal: str | None = None) -> pa.Table:
    """Per sweep, its trials in the order they started (``started_at``, then ``trial_id``),
    numbered from 1, with ``value`` (the metric) and ``best``: the best value of a
    completed trial up to and including this one (``goal`` max or min; default: as the
    metric's name says), null before the first. Stopped trials count as trials tried, but
    a value they reached before being stopped is not a result."""
    for column in ("sweep", "trial_id", "status", "started_at", metric):
        check_column(column, trials.column_names, "trials")
    goal = goal or ("max" if higher_is_better(metric) else "min")
    better = max if goal == "max" else min
    ordered = sorted(trials.select(["sweep", "trial_id", "status", "started_at", metric]).to_pylist(),
                     key=lambda r: (r["sweep"], r["started_at"] is None, r["started_at"] or 0, r["trial_id"]))
    out: dict[str, list[Any]] = {"sweep": [], "trial": [], "trial_id": [], "status": [], "value": [], "best": []}
    sweep, number, best = None, 0, None
    for row in ordered:
        if row["sweep"] != sweep:
            sweep, number, best = row["sweep"], 0, None
        number += 1
        value = row[metric]
        usable = value is not None and math.isfinite(value)
        if usable and row["status"] == "completed":
            best = value if best is None else better(best, value)
        for key, item in (("sweep", sweep), ("trial", number), ("trial_id", row["trial_id"]),
                          ("status", row["status"]), ("value", value if usable else None), ("best", best)):
            out[key].append(item)
    types = {"sweep": pa.string(), "trial": pa.int64(), "trial_id": pa.string(), "status": pa.string(),
             "value": pa.float64(), "best": pa.float64()}
    return pa.table({k: pa.array(v, types[k]) for k, v in out.items()})


def plot_search(
    trials: pa.Table,
    path: str,
    metric: str = "val_accuracy",
    goal: str | None = None,
    title: str | None = None,
) -> str:
    """How a search progressed: per sweep, the best ``metric`` so far (a step line) against
    trial number, over a faint dot per trial's own value; several sweeps (methods, search
    seeds) on one plot compare at equal budgets."""
    progress = best_so_far(trials, metric, goal)
    if progress.num_rows == 0:
        raise QueryError("nothing to plot: no trials match the query")
    rows = progress.to_pylist()
    sweeps = sorted({r["sweep"] for r in rows})
    if all(r["best"] is None for r in rows):
        raise QueryError(f"nothing to plot: no completed trial has a {metric}")
    figure = _figure()
    axes = figure.add_subplot()
    for sweep in sweeps:
        points = [r for r in rows if r["sweep"] == sweep]
        (line,) = axes.plot([r["trial"] for r in points], [r["best"] for r in points], drawstyle="steps-post",
                            linewidth=2, label=f"{sweep} ({len(points)} trials)")
        tried = [r for r in points if r["value"] is not None]
        axes.scatter([r["trial"] for r in tried], [r["value"] for r in tried], color=line.get_color(), alpha=0.25, s=12)
    # Frame the best-so-far lines: a diverged trial's dot far below would flatten them.
    bests = [r["best"] for r in rows if r["best"] is not None]
    pad = (max(bests) - min(bests)) * 0.15 or abs(max(bests)) * 0.02 or 0.01
    axes.set_ylim(min(bests) - pad, max(bests) + pad)
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    goal = goal or ("max" if higher_is_better(metric) else "min")
    axes.set_xlabel("trial (in the order started)")
    axes.set_ylabel(f"best {_words(metric)} so far")
    axes.set_title(title or f"best {_words(metric)} so far ({goal}imum of completed trials; dots: each trial)")
    axes.legend(fontsize="small")
    axes.grid(True, alpha=0.3)
    return _save(figure, path)
