"""The report's charts, as Plotly figures (imported only when a report is made).

Each function takes :class:`ReportData` and returns a ``plotly.graph_objects.Figure`` or
None when there is nothing to draw. Everything drawn is SVG except the parallel
coordinates (Plotly draws their lines with WebGL, which is what keeps 10,000 lines smooth).
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.answers._labels import plural, short, words
from orchestrator.answers._report_data import COST, MAX_POINTS, ReportData, sample_rows

__all__ = ["parallel_coordinates", "importance_bars", "pareto_chart", "curves_chart", "progress_chart", "FIGURES"]

_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
_HEIGHT = 460


def _go() -> Any:
    import plotly.graph_objects as go  # lazily: only a report needs Plotly

    return go


def _layout(figure: Any, title: str, x: str | None = None, y: str | None = None, **extra: Any) -> Any:
    # Legends right of the plot area, never over the data; at most ~8 ticks, short numbers.
    layout = {"title": {"text": title, "x": 0.01, "xanchor": "left"}, "height": _HEIGHT, "template": "plotly_white",
              "margin": {"l": 70, "r": 30, "t": 80, "b": 60}, "font": {"size": 13},
              "legend": {"orientation": "v", "x": 1.02, "y": 1, "xanchor": "left"}}
    figure.update_layout(**{**layout, **extra})
    if x:
        figure.update_xaxes(title_text=x, nticks=8, tickformat="~g")
    if y:
        figure.update_yaxes(title_text=y, nticks=8)
    return figure


def _colour(sweeps: list[str], sweep: str | None) -> str:
    return "#999999" if sweep is None else _COLOURS[sweeps.index(sweep) % len(_COLOURS)]


MAX_LINES = 2000  # parallel-coordinate lines: past that the picture is a solid band, and slow to draw


def parallel_coordinates(data: ReportData) -> Any:
    go = _go()
    from orchestrator.answers._query import best

    table = data.completed
    if table.num_rows > MAX_LINES:  # a sample, with the best 10 % of it always in
        top = best(table, data.metric, k=MAX_LINES // 10, descending=data.goal == "max")["trial_id"].to_pylist()
        table = sample_rows(table, MAX_LINES - len(top), keep=top)
    drawn = (f"{plural(table.num_rows, 'trial')} drawn of {data.completed.num_rows:,}: the best "
             f"{MAX_LINES // 10:,} and a random sample" if table.num_rows < data.completed.num_rows
             else plural(table.num_rows, "completed trial"))
    dimensions = []
    axes = ([*data.axes] + (["sweep"] if len(data.sweeps) > 1 else []))
    for param in axes:
        values = table[param].to_pylist()
        if param in data.log_params:
            logs = [math.log10(v) for v in values]
            ticks = _log_ticks(min(values), max(values))
            dimensions.append({"label": f"{words(param)} (log)", "values": logs,
                               "tickvals": [math.log10(t) for t in ticks], "ticktext": [short(t) for t in ticks]})
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if v is not None) \
                and None not in values and len(set(values)) > 4:
            dimensions.append({"label": words(param), "values": values})
        else:
            names = sorted({short(v) for v in values})
            code = {name: i for i, name in enumerate(names)}
            dimensions.append({"label": words(param), "values": [code[short(v)] for v in values],
                               "tickvals": list(range(len(names))), "ticktext": names})
    metric = table[data.metric].to_pylist()
    dimensions.append({"label": words(data.metric), "values": metric})
    figure = go.Figure(go.Parcoords(
        dimensions=dimensions,
        line={"color": metric, "colorscale": "Viridis", "reversescale": data.goal == "min", "showscale": True,
              "colorbar": {"title": {"text": words(data.metric)}, "x": 1.06}},
    ))
    return _layout(figure, f"{words(data.metric)} against every param that varied "
                           f"({drawn}; drag on an axis to select)",
                   margin={"l": 90, "r": 150, "t": 110, "b": 40})


def _log_ticks(low: float, high: float, most: int = 8) -> list[float]:
    """Ticks for a log axis from ``low`` to ``high``: 1-2-5 steps inside the range, or only
    the powers of ten when those are too many; at least the two ends."""
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    for steps in ((1, 2, 5), (1,), (1,)):
        ticks = [m * 10.0 ** d for d in decades for m in steps if low <= m * 10.0 ** d * (1 + 1e-9) and m * 10.0 ** d <= high * (1 + 1e-9)]
        if 2 <= len(ticks) <= most:
            return ticks
    if len(ticks) > most:
        return ticks[:: math.ceil(len(ticks) / most)]
    return [low, high]


def _integer_axis(figure: Any, largest: int) -> None:
    """Epochs and trial numbers: whole numbers only, at most ~8 ticks."""
    figure.update_xaxes(tick0=0, dtick=max(1, math.ceil(largest / 8)))


def importance_bars(data: ReportData) -> Any:
    go = _go()
    figure = go.Figure()
    notes = []
    for sweep, importance in data.importance.items():
        notes.append((f"{sweep}: " if len(data.sweeps) > 1 else "") + importance.describe())
        if importance.values:
            params = list(importance.values)[::-1]
            figure.add_trace(go.Bar(x=[importance.values[p] for p in params], y=[words(p) for p in params],
                                    orientation="h", name=sweep, marker_color=_colour(data.sweeps, sweep),
                                    text=[f"{importance.values[p]:.2f}" for p in params], textposition="auto"))
    if not figure.data:
        return None
    height = max(260, 90 + 34 * len(data.axes) * max(1, len(figure.data)))
    return _layout(figure, f"importance of each param for {words(data.metric)}<br><sup>{'; '.join(notes)}</sup>",
                   x="share of the variance explained", barmode="group", height=height, showlegend=len(data.sweeps) > 1,
                   xaxis_range=[0, 1.05])


def pareto_chart(data: ReportData) -> Any:
    if data.pareto.num_rows == 0:
        return None
    go = _go()
    figure = go.Figure()
    front_ids = data.pareto["trial_id"].to_pylist()
    shown = sample_rows(data.completed, MAX_POINTS, keep=front_ids)
    for sweep in data.sweeps:
        part = shown.filter(pc.field("sweep") == sweep)
        figure.add_trace(go.Scatter(x=part[COST].to_pylist(), y=part[data.metric].to_pylist(), mode="markers",
                                    name=f"{sweep}: trials", marker={"color": _colour(data.sweeps, sweep), "size": 7,
                                                                     "opacity": 0.45},
                                    text=part["trial_id"].to_pylist(), hovertemplate="%{text}<br>%{x:.3g} s, %{y:.4g}"))
    front = data.pareto.sort_by(COST)
    figure.add_trace(go.Scatter(x=front[COST].to_pylist(), y=front[data.metric].to_pylist(), mode="lines+markers",
                                name="Pareto front", line={"color": "black", "shape": "hv" if data.goal == "max" else "linear"},
                                marker={"size": 9, "symbol": "diamond"}, text=front_ids,
                                hovertemplate="%{text}<br>%{x:.3g} s, %{y:.4g}"))
    sampled = f"; {shown.num_rows:,} of {data.completed.num_rows:,} trials drawn" if shown.num_rows < data.completed.num_rows else ""
    return _layout(figure, f"{words(data.metric)} against cost: {plural(front.num_rows, 'trial')} on the Pareto front{sampled}",
                   x="total seconds per trial", y=words(data.metric))


def curves_chart(data: ReportData) -> Any:
    if not data.curves:
        return None
    go = _go()
    figure = go.Figure()
    for index, curve in enumerate(data.curves):
        colour = "#999999" if curve["kind"] == "band" else _COLOURS[index % len(_COLOURS)]
        fill = _rgba(colour, 0.15)
        figure.add_trace(go.Scatter(x=curve["epochs"] + curve["epochs"][::-1], y=curve["high"] + curve["low"][::-1],
                                    fill="toself", fillcolor=fill, line={"width": 0}, hoverinfo="skip",
                                    showlegend=False, legendgroup=str(index)))
        figure.add_trace(go.Scatter(x=curve["epochs"], y=curve["mean"], mode="lines+markers" if len(curve["epochs"]) < 30 else "lines",
                                    name=curve["label"], legendgroup=str(index),
                                    line={"color": colour, "dash": "dot" if curve["kind"] == "band" else "solid"}))
    _layout(figure, f"learning curves: {words(data.curve_metric)} per epoch<br><sup>{data.curves_note}</sup>",
            x="epoch", y=words(data.curve_metric))
    _integer_axis(figure, max(max(c["epochs"]) for c in data.curves))
    return figure


def progress_chart(data: ReportData) -> Any:
    rows = data.progress
    if rows.num_rows == 0:
        return None
    go = _go()
    figure = go.Figure()
    for sweep in data.sweeps:
        part = rows.filter(pc.field("sweep") == sweep)
        if part.num_rows == 0:
            continue
        colour = _colour(data.sweeps, sweep)
        figure.add_trace(go.Scatter(x=part["trial"].to_pylist(), y=part["best"].to_pylist(), mode="lines",
                                    line={"shape": "hv", "width": 3, "color": colour},
                                    name=f"{sweep}: best so far ({plural(part.num_rows, 'trial')})"))
        dots = part.filter(pc.is_valid(pc.field("value")))
        every = dots.num_rows
        dots = dots.take(pa.array(_spread(dots.num_rows), pa.int64()))
        shown = "each trial" if dots.num_rows == every else f"{dots.num_rows:,} of {every:,} trials, evenly spread"
        figure.add_trace(go.Scatter(x=dots["trial"].to_pylist(), y=dots["value"].to_pylist(), mode="markers",
                                    marker={"color": colour, "size": 6, "opacity": 0.35}, name=f"{sweep}: {shown}",
                                    text=dots["trial_id"].to_pylist(), hovertemplate="%{text}: %{y:.4g}"))
    _layout(figure, f"search progress: best {words(data.metric)} so far ({data.goal}imum of completed trials)",
            x="trial (in the order started)", y=words(data.metric))
    _integer_axis(figure, max(rows["trial"].to_pylist()))
    return figure


def _spread(n: int) -> list[int]:
    from orchestrator.answers._report_data import thin

    return thin(n, MAX_POINTS)


def _rgba(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


FIGURES = (
    ("parallel", "What was tried", parallel_coordinates),
    ("importance", "Hyperparameter importance", importance_bars),
    ("pareto", "The objective against cost (Pareto front)", pareto_chart),
    ("curves", "Learning curves", curves_chart),
    ("progress", "Search progress", progress_chart),
)
