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
from orchestrator.answers._labels import config_labels, is_number, plural, short, spans_decades, words

__all__ = ["plot_metric", "plot_curves", "plot_time_vs_batch", "plot_search", "best_so_far", "FIGURE_SIZE", "DPI"]

FIGURE_SIZE = (8.0, 5.0)  # inches
DPI = 100  # so a plot is 800 x 500 pixels
MAX_TICKS = 8
MAX_LABELLED = 12  # curves with a legend entry; more are drawn thin and grey, and the title says so


def _figure() -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # lazily: matplotlib takes ~0.3 s to import

    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)  # drawn off-screen: tick labels and legend boxes can be measured
    return figure


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


_words = words


def _short_formatter() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: short(float(value)))


def _x_axis(axes: Any, column: str, values: list[Any], log: bool | None = None) -> dict[Any, Any]:
    """Set up the x axis for ``values``; return where each value goes. Numbers go on a log
    scale when ``log`` says so (a search space's loguniform or ``log: true``), or, when it
    is None, when they span a factor of ten or more (learning rates, batch sizes). A few values
    (a grid's) are the ticks themselves; many (a random search's) get at most
    ``MAX_TICKS`` round ticks. Labels are short (``0.00181``, ``1e-05``). Anything else is
    categorical."""
    from matplotlib.ticker import LogLocator, MaxNLocator, NullLocator

    axes.set_xlabel(_words(column))
    if all(is_number(v) for v in values):
        log = spans_decades(values) if log is None else log and min(values) > 0
        few = len(values) <= MAX_TICKS
        if log:  # a grid of batch sizes doubles; anything else is read in powers of ten
            axes.set_xscale("log", base=2 if few and all(float(v).is_integer() for v in values) else 10)
            axes.xaxis.set_minor_locator(NullLocator())
        if few:
            axes.set_xticks(values, [short(v) for v in values])
        else:
            decades = math.log10(max(values) / min(values)) if log else 0
            subs = (1.0, 2.0, 5.0) if decades < 2.5 else (1.0,)  # 1-2-5 steps when decades are few
            axes.xaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=MAX_TICKS) if log
                                         else MaxNLocator(MAX_TICKS))
            axes.xaxis.set_major_formatter(_short_formatter())
        return {v: v for v in values}
    axes.set_xticks(range(len(values)), [short(v) for v in values])
    return {v: i for i, v in enumerate(values)}


def _legend_outside(axes: Any, title: str | None = None) -> Any:
    """The legend right of the plot area: never over the data."""
    return axes.legend(title=title, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _sorted(values: list[Any]) -> list[Any]:
    return sorted(set(values), key=lambda v: (v is None, str(type(v)), v if v is not None else 0))


def plot_metric(
    trials: pa.Table,
    x: str,
    path: str,
    metric: str = "test_accuracy",
    line: str | None = None,
    title: str | None = None,
    log_x: bool | None = None,
) -> str:
    """``metric`` against the param ``x``, one line per value of the param ``line``: each
    point is the mean over the trials with those values (seeds, and any param not named),
    error bars one standard deviation. ``log_x``: a log x axis (default: when the values
    span a factor of ten). Writes a PNG to ``path`` and returns it."""
    return _save(metric_figure(trials, x, metric, line, title, log_x), path)


def metric_figure(trials: pa.Table, x: str, metric: str = "test_accuracy", line: str | None = None,
                  title: str | None = None, log_x: bool | None = None) -> Any:
    """The figure :func:`plot_metric` writes (for tests and notebooks)."""
    if trials.num_rows == 0:
        raise QueryError("nothing to plot: no trials match the query")
    keys = [x] if line is None else [x, line]
    table = aggregate(trials, by=keys, metrics=[metric], stats=["mean", "std", "count"])
    rows = [r for r in table.to_pylist() if r[f"mean_{metric}"] is not None]
    if not rows:
        raise QueryError(f"nothing to plot: no trial has a {metric}")
    figure = _figure()
    axes = figure.add_subplot()
    where = _x_axis(axes, x, _sorted([r[x] for r in rows]), log_x)
    groups = _sorted([r[line] for r in rows]) if line else [None]
    for group in groups:
        points = sorted((r for r in rows if line is None or r[line] == group), key=lambda r: where[r[x]])
        std = [r[f"std_{metric}"] or 0.0 for r in points]
        many = len(points) > MAX_TICKS  # a random search: a cloud of points, not a line through them
        axes.errorbar([where[r[x]] for r in points], [r[f"mean_{metric}"] for r in points], yerr=std,
                      marker="o", markersize=4 if many else 6, linestyle="none" if many else "-", capsize=0 if many else 4,
                      label=None if line is None else short(group))
    if line is not None:
        _legend_outside(axes, _words(line))
    counts = [r[f"count_{metric}"] for r in rows]
    runs = plural(max(counts), "trial") if min(counts) == max(counts) else f"{min(counts)}-{max(counts)} trials"
    axes.set_ylabel(_words(metric))
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(MAX_TICKS))
    heading = title or f"{_words(metric)} by {_words(x)}" + (f" and {_words(line)}" if line else "")
    axes.set_title(f"{heading}\n(mean ± std over {runs} per point)")
    axes.grid(True, alpha=0.3)
    return figure


def plot_curves(
    curves: pa.Table,
    path: str,
    metric: str = "val_accuracy",
    by: Sequence[str] | None = None,
    title: str | None = None,
) -> str:
    """Learning curves (from :func:`orchestrator.answers.learning_curves`): per config
    (``by``; default: every param that tells the curves apart except seed), the mean of
    ``metric`` at each epoch over its trials, with a band of +- one standard deviation.
    Legend labels name only what differs, rounded; past ``MAX_LABELLED`` configs the best
    ones are labelled and the rest drawn thin and grey, as the title says."""
    return _save(curves_figure(curves, metric, by, title), path)


def curves_figure(curves: pa.Table, metric: str = "val_accuracy", by: Sequence[str] | None = None,
                  title: str | None = None) -> Any:
    """The figure :func:`plot_curves` writes."""
    if curves.num_rows == 0:
        raise QueryError("nothing to plot: no epochs for the chosen trials")
    stats = curve_stats(curves, metric, by)
    keys = [c for c in stats.column_names if c not in ("epoch", "trials") and not c.endswith(f"_{metric}")]
    rows = stats.to_pylist()
    figure = _figure()
    axes = figure.add_subplot()
    by_config: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        by_config.setdefault(tuple(row[k] for k in keys), []).append(row)
    sign = -1.0 if higher_is_better(metric) else 1.0

    def final(config: tuple[Any, ...]) -> float:
        value = max(by_config[config], key=lambda r: r["epoch"])[f"mean_{metric}"]
        return math.inf if value is None or math.isnan(value) else sign * value

    configs = sorted(by_config, key=lambda c: (final(c), str(c)))  # best first
    labelled = configs[:MAX_LABELLED]
    labels = dict(zip(labelled, config_labels(keys, labelled)))
    for config in reversed(configs):  # the best drawn last, on top
        points = sorted(by_config[config], key=lambda r: r["epoch"])
        epochs = [r["epoch"] for r in points]
        mean = [r[f"mean_{metric}"] for r in points]
        std = [r[f"std_{metric}"] or 0.0 for r in points]
        if config not in labels:
            axes.plot(epochs, mean, color="0.75", linewidth=0.8, zorder=1)
            continue
        (drawn,) = axes.plot(epochs, mean, marker="." if len(epochs) < 30 else None, label=labels[config], zorder=3)
        axes.fill_between(epochs, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                          color=drawn.get_color(), alpha=0.2, linewidth=0, zorder=2)
    seeds = max(r["trials"] for r in rows)
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(MAX_TICKS, integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(MAX_TICKS))
    axes.set_xlabel("epoch")
    axes.set_ylabel(_words(metric))
    rest = f"; the best {len(labelled)} of {len(configs)} configs named, the rest grey" if len(configs) > len(labelled) else ""
    axes.set_title(title or f"{_words(metric)} per epoch\n(mean ± std over up to {plural(seeds, 'trial')} per config{rest})")
    handles, texts = axes.get_legend_handles_labels()
    order = sorted(range(len(texts)), key=lambda i: list(labels.values()).index(texts[i]))
    axes.legend([handles[i] for i in order], [texts[i] for i in order], fontsize="small", loc="upper left",
                bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    axes.grid(True, alpha=0.3)
    return figure


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
    seeds) on one plot compare at equal budgets. No dot is cut off silently: the y range
    takes in every trial unless a few far-off ones (diverged, stuck at chance) would flatten
    the lines; those are then counted in a note on the plot."""
    return _save(search_figure(trials, metric, goal, title), path)


def search_figure(trials: pa.Table, metric: str = "val_accuracy", goal: str | None = None,
                  title: str | None = None) -> Any:
    """The figure :func:`plot_search` writes."""
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
                            linewidth=2, label=f"{sweep} ({plural(len(points), 'trial')})")
        tried = [r for r in points if r["value"] is not None]
        axes.scatter([r["trial"] for r in tried], [r["value"] for r in tried], color=line.get_color(), alpha=0.25, s=12)
    low, high, outside = _search_range([r["best"] for r in rows if r["best"] is not None],
                                       [r["value"] for r in rows if r["value"] is not None])
    axes.set_ylim(low, high)
    if outside:
        below = [v for v in outside if v < low]
        above = [v for v in outside if v > high]
        parts = [f"{plural(len(side), 'trial')} {where} ({word} {short(value)})" for side, where, word, value in
                 ((below, f"below {short(low)}", "lowest", min(below or [0])),
                  (above, f"above {short(high)}", "highest", max(above or [0]))) if side]
        axes.text(0.99, 0.02, "not shown: " + "; ".join(parts), transform=axes.transAxes, ha="right", va="bottom",
                  fontsize="small", color="0.3", gid="outside-note")
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(MAX_TICKS, integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(MAX_TICKS))
    goal = goal or ("max" if higher_is_better(metric) else "min")
    axes.set_xlabel("trial (in the order started)")
    axes.set_ylabel(f"best {_words(metric)} so far")
    axes.set_title(title or f"best {_words(metric)} so far ({goal}imum of completed trials; dots: each trial)")
    _legend_outside(axes)
    axes.grid(True, alpha=0.3)
    return figure


def _search_range(bests: list[float], values: list[float]) -> tuple[float, float, list[float]]:
    """The y range of a search plot and the values left outside it. Every value fits unless
    that would make the range over four times the best-so-far lines' own (a diverged trial
    far below would flatten them); then the lines are framed and the rest counted."""
    def padded(low: float, high: float) -> tuple[float, float]:
        pad = (high - low) * 0.08 or abs(high) * 0.02 or 0.01
        return low - pad, high + pad

    every = padded(min(bests + values), max(bests + values))
    framed = padded(min(bests), max(bests))
    if every[1] - every[0] <= 4 * (framed[1] - framed[0]):
        return every[0], every[1], []
    # Frame the lines, widened to take in the values near them.
    span = framed[1] - framed[0]
    near = [v for v in values if framed[0] - span <= v <= framed[1] + span]
    low, high = padded(min(bests + near), max(bests + near))
    return low, high, [v for v in values if not low <= v <= high]
