"""Result tables for people: one row per trial, or per config (mean over seeds)."""

from __future__ import annotations

import math
import statistics
from typing import Any, Literal

from orchestrator.store import PARAM_COLUMNS, ResultsStore, latest_per_trial

__all__ = ["result_rows", "SHOWN_METRICS"]

SHOWN_METRICS = ("test_accuracy", "val_accuracy", "epochs_run", "train_seconds", "total_seconds")
_AVERAGED = ("test_accuracy", "val_accuracy", "train_seconds", "total_seconds")


def result_rows(
    store: ResultsStore,
    sweep: str | None = None,
    per: Literal["trial", "config"] = "trial",
    sort: str | None = None,
    descending: bool | None = None,
    all_params: bool = False,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Rows and the columns to show. Params that are the same in every row are left out
    unless ``all_params``, so a grid shows exactly its axes."""
    trials = latest_per_trial(store.read_trials(sweep)).to_pylist()
    params = [p for p in PARAM_COLUMNS if all_params or len({repr(t[p]) for t in trials}) > 1]
    if per == "config":
        columns, rows = _per_config(trials, params)
    else:
        lead = ["sweep"] if sweep is None and len({t["sweep"] for t in trials}) > 1 else []
        columns = [*lead, "trial_id", *params, "status", *SHOWN_METRICS]
        rows = [{c: t[c] for c in columns} for t in trials]
    sort = sort or ("mean_test_accuracy" if per == "config" else "test_accuracy")
    if sort not in columns:
        raise KeyError(sort)
    if descending is None:
        descending = "accuracy" in sort
    present = [r for r in rows if _sortable(r[sort])]
    missing = [r for r in rows if not _sortable(r[sort])]
    present.sort(key=lambda r: r[sort], reverse=descending)
    return columns, present + missing


def _sortable(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _per_config(trials: list[dict[str, Any]], params: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    keys = [p for p in params if p != "seed"]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for t in trials:
        if t["status"] == "completed":
            groups.setdefault((t["sweep"], *(t[k] for k in keys)), []).append(t)
    columns = ["sweep", *keys, "seeds"]
    for metric in _AVERAGED:
        columns.append(f"mean_{metric}")
        if metric == "test_accuracy":
            columns.append("std_test_accuracy")
    rows = []
    for (sweep, *values), members in groups.items():
        row: dict[str, Any] = {"sweep": sweep, **dict(zip(keys, values)), "seeds": len(members)}
        for metric in _AVERAGED:
            xs = [m[metric] for m in members if m[metric] is not None]
            row[f"mean_{metric}"] = statistics.fmean(xs) if xs else None
            if metric == "test_accuracy":
                row["std_test_accuracy"] = statistics.stdev(xs) if len(xs) > 1 else None
        rows.append(row)
    return columns, rows
