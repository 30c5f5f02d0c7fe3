"""``orch report``: one self-contained HTML page per sweep (or several, to compare them).

Everything is inside the file: plotly.js once (Plotly's offline bundle, ~4.8 MB), the data
of each chart as JSON, the tables as HTML. It opens offline and fetches nothing. Each chart
marks itself drawn (``data-orch-drawn``) once Plotly has rendered it, and the page records
when the last one was (``data-orch-rendered-ms`` on ``<body>``): tests and the scale
benchmark read both from the DOM of a headless browser.
"""

from __future__ import annotations

import html
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from orchestrator.answers._labels import plural, short, words
from orchestrator.answers._report_data import COST, ReportData, gather_report
from orchestrator.answers._where import Where
from orchestrator.errors import InputError
from orchestrator.store import ResultsStore

__all__ = ["Report", "build_report"]

_DRAWN = ("var d=document.getElementById('{plot_id}'); d.setAttribute('data-orch-drawn','1');"
          "d.setAttribute('data-orch-drawn-ms',Math.round(performance.now()));"
          "window.orchDrawn=(window.orchDrawn||0)+1;"
          "if(window.orchDrawn===window.orchCharts){document.body.setAttribute('data-orch-rendered-ms',"
          "Math.round(performance.now()));}")
_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1300px;color:#222;padding:0 16px}
h1{font-size:26px;margin-bottom:4px} h2{font-size:20px;margin-top:34px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0} th,td{padding:3px 10px;text-align:left;border-bottom:1px solid #eee}
th{background:#f5f5f5;position:sticky;top:0} td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f7f7f7;padding:10px;font-size:12px;overflow:auto;max-height:360px}
.scroll{max-height:520px;overflow:auto;border:1px solid #eee}
.scroll tbody tr{content-visibility:auto;contain-intrinsic-size:auto 21px} .note{color:#666;font-size:13px}
.status-completed{color:#1a7f37} .status-failed{color:#c62828} .status-stopped,.status-diverged{color:#b26a00}
nav a{margin-right:14px} .chart{min-height:300px}
"""


@dataclass(frozen=True)
class Report:
    """A rendered report: ``html`` is the whole page. In a notebook it shows itself inline
    (in an iframe, so its scripts and styles stay apart from the notebook's)."""

    html: str
    sweeps: tuple[str, ...]
    trials: int
    charts: int

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the page to ``path`` atomically; return the path. An unwritable path is an
        :class:`InputError` naming it."""
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        tmp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}.html")
        try:
            with open(tmp, "w", encoding="utf-8") as out:
                out.write(self.html)
            os.replace(tmp, path)
        except OSError as e:
            raise InputError(f"cannot write the report to {path!r} ({e.strerror or e}); choose another path with -o") from None
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return path

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" style="width:100%;height:900px;'
                'border:1px solid #ddd" title="orch report"></iframe>')

    def __repr__(self) -> str:
        return f"Report({', '.join(self.sweeps)}: {plural(self.trials, 'trial')}, {self.charts} charts)"


def build_report(
    store: ResultsStore,
    sweeps: Sequence[str] | None = None,
    *,
    metric: str | None = None,
    goal: str | None = None,
    where: Where | None = None,
) -> Report:
    """The report of ``sweeps`` (default: every sweep in the store) on ``metric`` (default:
    the first sweep's ``sweep.metric``). Unknown sweeps and sweeps without a completed trial
    raise :class:`orchestrator.answers.QueryError` with one line saying what to fix."""
    from orchestrator.answers._report_figures import FIGURES

    data = gather_report(store, sweeps, metric=metric, goal=goal, where=where)
    charts = []
    for key, heading, draw in FIGURES:
        figure = draw(data)
        if figure is not None:
            charts.append((key, heading, figure))
        elif key == "importance":  # the section stays, saying why there is no chart
            reasons = "; ".join((f"{s}: " if len(data.sweeps) > 1 else "") + i.describe() for s, i in data.importance.items())
            charts.append((key, heading, reasons))
    page = _page(data, charts)
    return Report(page, tuple(data.sweeps), data.trials.num_rows, sum(not isinstance(c[2], str) for c in charts))


def _page(data: ReportData, charts: list[tuple[str, str, Any]]) -> str:
    from plotly.offline import get_plotlyjs

    title = f"orch report: {', '.join(data.sweeps)}"
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>",
             f"<style>{_STYLE}</style><script>window.orchCharts={sum(not isinstance(c[2], str) for c in charts)};</script>",
             f"<script>{get_plotlyjs()}</script></head><body>",
             f"<h1>{_e(title)}</h1><p class=note>{_summary(data)}; made {when}.</p>",
             "<nav>" + "".join(f'<a href="#{k}">{_e(h)}</a>' for k, h, _ in charts)
             + '<a href="#setup">Setup</a><a href="#best">Best</a><a href="#trials">Every trial</a></nav>',
             _setup(data), _best(data), *(_comparison(data) if data.comparisons else [])]
    for key, heading, figure in charts:
        if isinstance(figure, str):
            parts.append(f'<h2 id="{key}">{_e(heading)}</h2><p class=note>{_e(figure)}</p>')
            continue
        body = _deferred(figure.to_html(include_plotlyjs=False, full_html=False, div_id=f"orch-{key}",
                                        post_script=_DRAWN, config={"displaylogo": False, "responsive": True}))
        parts.append(f'<h2 id="{key}">{_e(heading)}</h2><div class=chart>{body}</div>')
    parts.append(_trials(data))
    parts.append("</body></html>")
    return "\n".join(parts)


def _deferred(chart: str) -> str:
    """Plotly's chart script run as its own task after the page is parsed, not while it
    is: the text and tables show at once, and the page answers scrolling and clicks
    between one chart and the next instead of freezing until all are drawn."""
    opening, closing = "<script>", "</script>"
    if chart.count(opening) != 1 or chart.count(closing) != 1:
        return chart  # not the shape Plotly writes today: leave it as it is
    return chart.replace(opening, opening + "setTimeout(function(){", 1).replace(closing, "}, 0);" + closing, 1)


def _e(text: Any) -> str:
    return html.escape(str(text))


def _summary(data: ReportData) -> str:
    counts: dict[str, int] = {}
    for status in data.trials["status"].to_pylist():
        counts[status] = counts.get(status, 0) + 1
    states = ", ".join(f"{n:,} {s}" for s, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return (f"{plural(data.trials.num_rows, 'trial')} in {plural(len(data.sweeps), 'sweep')} ({states}); "
            f"objective: {_e(data.metric)} ({data.goal})")


def _table(rows: list[dict[str, Any]], columns: list[str], numbers: set[str] | None = None) -> str:
    numbers = numbers or set()
    head = "".join(f"<th>{_e(words(c))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            text = "" if value is None else (f"{value:.4f}" if isinstance(value, float) and c in numbers else short(value, 4))
            klass = ' class="n"' if c in numbers else (f' class="status-{_e(value)}"' if c == "status" else "")
            cells.append(f"<td{klass}>{_e(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _varied(data: ReportData) -> str:
    rows = []
    for param in data.params:
        values = sorted({short(v) for v in data.trials[param].to_pylist()}, key=_natural)
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data.trials[param].to_pylist())
        if numeric and len(values) > 8:
            column = data.trials[param].to_pylist()
            text = f"{len(values):,} values from {short(min(column))} to {short(max(column))}"
            text += " (log scale)" if param in data.log_params else ""
        else:
            text = ", ".join(values)
        rows.append({"param": param, "values": text})
    if not rows:
        return "<p>Nothing varied: every trial has the same params.</p>"
    return _table(rows, ["param", "values"])


def _natural(text: str) -> tuple[int, float | str]:
    try:
        return (0, float(text))
    except ValueError:
        return (1, text)


def _setup(data: ReportData) -> str:
    versions = [{"library": k, "versions": ", ".join(v)} for k, v in data.versions.items()]
    configs = "".join(
        f"<details><summary>experiment of sweep {_e(s)} (click to open)</summary>"
        f"<pre>{_e(text)}</pre></details>" for s, text in data.configs.items())
    missing = [s for s in data.sweeps if s not in data.configs]
    note = f"<p class=note>No saved experiment for {', '.join(map(_e, missing))}.</p>" if missing else ""
    return (f'<h2 id="setup">Setup: what varied</h2>{_varied(data)}{configs}{note}'
            f"<h3>Library versions</h3>{_table(versions, ['library', 'versions'])}")


def _best(data: ReportData) -> str:
    metric = data.metric
    configs = data.best_configs
    columns = ["sweep", *(p for p in data.axes if p in configs.column_names), "trials", f"mean_{metric}",
               f"std_{metric}", "mean_test_accuracy", f"mean_{COST}"]
    columns = list(dict.fromkeys(c for c in columns if c in configs.column_names))
    numbers = {c for c in columns if c.startswith(("mean_", "std_"))}
    top = _sorted_trials(data.completed, data).slice(0, 5)
    trial_columns = _trial_columns(data)
    return (f'<h2 id="best">Best configs and trials</h2><p class=note>Configs: mean and std over seeds of '
            f"completed trials, best {data.metric} first.</p>{_table(configs.to_pylist(), columns, numbers)}"
            f"<h3>Best trials</h3>{_table(top.to_pylist(), trial_columns, _numbers(trial_columns, data))}")


def _trial_columns(data: ReportData) -> list[str]:
    lead = ["sweep"] if len(data.sweeps) > 1 else []
    metrics = list(dict.fromkeys([data.metric, "test_accuracy", COST, "epochs_run"]))
    return [*lead, "trial_id", "status", *data.params, *metrics]


def _numbers(columns: list[str], data: ReportData) -> set[str]:
    return {c for c in columns if c in (data.metric, "test_accuracy", COST)}


def _sorted_trials(table: pa.Table, data: ReportData) -> pa.Table:
    from orchestrator.answers._query import best

    return best(table, data.metric, k=None, descending=data.goal == "max")


def _comparison(data: ReportData) -> list[str]:
    parts = ['<h2 id="compare">Sweeps compared</h2>']
    for a, b, differences, table in data.comparisons:
        changed = "; ".join(f"{words(k)}: {short(x)} in {a}, {short(y)} in {b}" for k, (x, y) in differences.items())
        parts.append(f"<h3>{_e(b)} against {_e(a)}</h3><p class=note>{_e(changed or 'no param set differently as a whole')}; "
                     f"configs matched on the rest, delta = {_e(b)} - {_e(a)}.</p>")
        numbers = {c for c in table.column_names if c.startswith(("mean_", "std_")) or c == "delta"}
        parts.append(_table(table.slice(0, 20).to_pylist(), table.column_names, numbers))
    return parts


def _trials(data: ReportData) -> str:
    table = _sorted_trials(data.trials, data)
    columns = [c for c in _trial_columns(data) if c in table.column_names]
    return (f'<h2 id="trials">Every trial ({table.num_rows:,})</h2><p class=note>The latest run of each trial, '
            f"best {_e(data.metric)} first; trials without one last.</p>"
            f"<div class=scroll>{_table(table.select(columns).to_pylist(), columns, _numbers(columns, data))}</div>")
