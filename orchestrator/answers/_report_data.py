"""What a report shows, gathered from the store as plain tables and dicts (no plotting here).

Sized for 10,000 trials: learning curves are aggregated (the best configs one by one, every
trial as a median and a 10-90 % band) and thinned to at most ``MAX_EPOCH_POINTS`` epochs;
point clouds keep at most ``MAX_POINTS`` points, the Pareto front always whole.
"""

from __future__ import annotations

import importlib.metadata
import math
import platform
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.answers._compare import compare_sweeps, sweep_differences
from orchestrator.answers._curves import learning_curves
from orchestrator.answers._importance import Importance, param_importance
from orchestrator.answers._labels import space_scales, spans_decades
from orchestrator.answers._pareto import pareto_front
from orchestrator.answers._plots import best_so_far
from orchestrator.answers._query import aggregate, best, higher_is_better, select_trials, varying_params
from orchestrator.answers._where import QueryError, Where
from orchestrator.store import ResultsStore

__all__ = ["ReportData", "gather_report", "MAX_POINTS", "MAX_EPOCH_POINTS", "TOP_CURVES"]

MAX_POINTS = 2000  # dots per cloud: more only slows the page, the picture stays the same
MAX_EPOCH_POINTS = 200  # epochs per curve
TOP_CURVES = 8  # configs drawn one by one; the rest as a band
COST = "total_seconds"
_EPOCH_METRICS = ("val_accuracy", "val_loss", "accuracy", "loss")


@dataclass
class ReportData:
    sweeps: list[str]
    metric: str
    goal: str
    trials: pa.Table  # latest run of each trial, every status
    completed: pa.Table  # completed, with a value of the metric
    params: list[str]  # params that vary, seed last if it varies
    log_params: set[str]
    configs: dict[str, str]  # sweep -> its resolved experiment (YAML)
    versions: dict[str, list[str]]
    best_configs: pa.Table
    pareto: pa.Table
    curve_metric: str
    curves: list[dict[str, Any]]  # {"label", "sweep", "epochs", "mean", "low", "high", "kind"}
    curves_note: str
    progress: pa.Table  # best_so_far
    importance: dict[str, Importance]  # per sweep
    comparisons: list[tuple[str, str, dict[str, Any], pa.Table]] = field(default_factory=list)

    @property
    def axes(self) -> list[str]:
        """The params a person tuned (the ones that vary, seed aside)."""
        return [p for p in self.params if p != "seed"]


def sweep_goal(configs: dict[str, str], metric: str | None, goal: str | None) -> tuple[str, str]:
    """The metric and goal of the report: as given, else the first sweep's ``sweep.metric``
    and ``sweep.goal``, else val_accuracy, larger is better."""
    import yaml

    for text in configs.values():
        try:
            section = (yaml.safe_load(text) or {}).get("sweep") or {}
        except yaml.YAMLError:
            continue
        if metric is None or metric == section.get("metric"):
            metric = metric or section.get("metric")
            goal = goal or section.get("goal")
            break
    metric = metric or "val_accuracy"
    return metric, goal or ("max" if higher_is_better(metric) else "min")


def gather_report(
    store: ResultsStore,
    sweeps: Sequence[str] | None = None,
    metric: str | None = None,
    goal: str | None = None,
    where: Where | None = None,
) -> ReportData:
    known = store.sweeps()
    sweeps = list(sweeps or known)
    if not sweeps:
        raise QueryError("the store has no sweeps; run one first (orch run CONFIG)")
    for sweep in sweeps:
        if sweep not in known:
            raise QueryError(f"no sweep {sweep!r} in the store (sweeps there: {', '.join(known) or 'none'}); "
                             "check the name or --store")
    configs = {s: texts[-1] for s in sweeps if (texts := store.read_configs(s))}
    metric, goal = sweep_goal(configs, metric, goal)
    base = where or Where()
    trials = select_trials(store, Where(sweeps=tuple(sweeps), conditions=base.conditions))
    if metric not in trials.column_names:
        raise QueryError(f"no column {metric!r} in the trials; choose --metric from test_accuracy, val_accuracy, "
                         "val_loss, total_seconds, ...")
    done = trials.filter((pc.field("status") == "completed") & pc.is_finite(pc.field(metric)))
    for sweep in sweeps:
        if not pc.any(pc.equal(done["sweep"], sweep)).as_py():
            raise QueryError(f"sweep {sweep!r} has no completed trial with a {metric}: nothing to report "
                             f"(orch results {sweep} shows its trials)")
    params = [p for p in varying_params(trials) if p != "seed"]
    params += ["seed"] if "seed" in varying_params(trials) else []
    drawn = space_scales(configs.values())  # a searched param: log if its distribution is
    log_params = {p for p in params if not pa.types.is_list(done[p].type)
                  and drawn.get(p, spans_decades(pc.unique(done[p]).to_pylist()))}
    data = ReportData(
        sweeps=sweeps, metric=metric, goal=goal, trials=trials, completed=done, params=params,
        log_params=log_params, configs=configs, versions=_versions(trials),
        best_configs=best(aggregate(done, metrics=[metric, "test_accuracy", COST], stats=["mean", "std"]),
                          f"mean_{metric}", k=5, descending=goal == "max"),
        pareto=pareto_front(done, [(metric, goal), (COST, "min")]) if metric != COST else done.slice(0, 0),
        curve_metric="", curves=[], curves_note="",
        progress=best_so_far(trials.filter(pc.field("status").isin(["completed", "stopped"])), metric, goal),
        importance={},
    )
    data.importance = {s: param_importance(done.filter(pc.field("sweep") == s), data.axes, metric, goal, log_params)
                       for s in sweeps}
    _add_curves(data, store, base)
    for other in sweeps[1:]:
        differences = sweep_differences(done, sweeps[0], other)
        comparison = compare_sweeps(store, sweeps[0], other, metric, where=Where(conditions=base.conditions))
        data.comparisons.append((sweeps[0], other, differences, comparison))
    return data


def _versions(trials: pa.Table) -> dict[str, list[str]]:
    versions = {}
    for column, name in (("orch_version", "orch"), ("tensorflow_version", "tensorflow"), ("keras_version", "keras")):
        found = sorted(v for v in pc.unique(trials[column]).to_pylist() if v)
        versions[name] = found or ["(not recorded)"]
    versions["python (this report)"] = [platform.python_version()]
    for name in ("pyarrow", "plotly", "optuna"):
        try:
            versions[f"{name} (this report)"] = [importlib.metadata.version(name)]
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def thin(n: int, limit: int) -> list[int]:
    """Indices of at most ``limit`` of ``n`` items, evenly spread, first and last kept."""
    if n <= limit:
        return list(range(n))
    step = (n - 1) / (limit - 1)
    return sorted({round(i * step) for i in range(limit)})


def sample_rows(table: pa.Table, limit: int = MAX_POINTS, keep: Sequence[str] = ()) -> pa.Table:
    """At most ``limit`` rows, a fixed random sample, plus every row whose trial_id is in ``keep``."""
    if table.num_rows <= limit:
        return table
    chosen = set(random.Random(0).sample(range(table.num_rows), limit))
    kept = set(keep)
    ids = table["trial_id"].to_pylist()
    return table.take(pa.array(sorted(i for i in range(table.num_rows) if i in chosen or ids[i] in kept), pa.int64()))


def _add_curves(data: ReportData, store: ResultsStore, where: Where) -> None:
    metric = _curve_metric(data.metric)
    data.curve_metric = metric
    done = Where(sweeps=tuple(data.sweeps), conditions=where.conditions).with_default_status()
    curves = learning_curves(store, where=done, metrics=[metric])
    if curves.num_rows == 0:
        data.curves_note = "no epochs stored for the completed trials"
        return
    keys = ["sweep", *(p for p in data.axes if p in curves.column_names)]
    stats = aggregate(curves, by=[*keys, "epoch"], metrics=[metric], stats=["mean", "std", "count"])
    finals = aggregate(stats.select([*keys, "epoch", f"mean_{metric}"]).rename_columns([*keys, "epoch", "final"])
                       .filter(pc.is_finite(pc.field("final"))), by=keys, metrics=["epoch"], stats=["max"])
    # The configs to draw one by one: best by their value at their last epoch.
    last = {tuple(r[k] for k in keys): r["max_epoch"] for r in finals.to_pylist()}
    rows = stats.to_pylist()
    by_config: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        by_config.setdefault(tuple(row[k] for k in keys), []).append(row)
    maximise = higher_is_better(metric)

    def final_value(config: tuple[Any, ...]) -> float:
        end = [r[f"mean_{metric}"] for r in by_config[config] if r["epoch"] == last.get(config)]
        value = end[0] if end and end[0] is not None else -math.inf if maximise else math.inf
        return -value if maximise else value

    ranked = sorted(by_config, key=final_value)
    top = ranked[:TOP_CURVES]
    from orchestrator.answers._labels import config_labels

    labels = config_labels(keys if len(data.sweeps) > 1 else keys[1:], [c if len(data.sweeps) > 1 else c[1:] for c in top])
    seeds = max(r["count_" + metric] for r in rows)
    for config, label in zip(top, labels):
        points = sorted((r for r in by_config[config] if r[f"mean_{metric}"] is not None), key=lambda r: r["epoch"])
        if not points:  # not logged by these trials (accuracy of a regression)
            continue
        points = [points[i] for i in thin(len(points), MAX_EPOCH_POINTS)]
        mean = [r[f"mean_{metric}"] for r in points]
        std = [r[f"std_{metric}"] or 0.0 for r in points]
        data.curves.append({"label": label, "sweep": config[0], "kind": "config", "epochs": [r["epoch"] for r in points],
                            "mean": mean, "low": [m - s for m, s in zip(mean, std)],
                            "high": [m + s for m, s in zip(mean, std)]})
    if len(ranked) > len(top):
        data.curves.append(_band(curves, metric))
    trials_word = "trial" if seeds == 1 else "trials"
    data.curves_note = (f"the {len(top)} best of {len(ranked):,} configs: mean ± std over up to {seeds} {trials_word} "
                        f"(seeds) each" + ("; grey: median and 10-90 % of every completed trial" if len(ranked) > len(top) else ""))


def _curve_metric(metric: str) -> str:
    """The epochs column that follows ``metric`` over training: itself for one logged per
    epoch, the validation twin of a training.metrics column (test_mae: val_mae), else the
    validation loss or accuracy."""
    from orchestrator.store._schema import extra_columns

    if metric in _EPOCH_METRICS:
        return metric
    split, _, name = metric.partition("_")
    if split in ("train", "val", "test") and extra_columns([metric]):
        return f"val_{name}"
    return "val_loss" if metric.endswith("loss") else "val_accuracy"


def _band(curves: pa.Table, metric: str) -> dict[str, Any]:
    grouped = curves.select(["epoch", metric]).group_by("epoch", use_threads=False).aggregate(
        [(metric, "tdigest", pc.TDigestOptions(q=[0.1, 0.5, 0.9]))]).sort_by("epoch")
    epochs = grouped["epoch"].to_pylist()
    quantiles = grouped[f"{metric}_tdigest"].to_pylist()
    keep = thin(len(epochs), MAX_EPOCH_POINTS)
    epochs, quantiles = [epochs[i] for i in keep], [quantiles[i] for i in keep]
    return {"label": "all trials (median, 10-90 %)", "sweep": None, "kind": "band", "epochs": epochs,
            "mean": [q[1] if q else None for q in quantiles], "low": [q[0] if q else None for q in quantiles],
            "high": [q[2] if q else None for q in quantiles]}
