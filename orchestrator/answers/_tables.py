"""Result tables for people: one row per trial, or per config (statistics over seeds).

Built on :mod:`orchestrator.answers._query` (Arrow compute), so that ``orch results`` stays fast on
stores of many thousands of trials.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.answers._query import (
    STATS,
    aggregate,
    best,
    higher_is_better,
    select_trials,
    varying_params,
)
from orchestrator.answers._where import Where, check_column
from orchestrator.store import ResultsStore
from orchestrator.store._schema import param_columns

__all__ = ["SHOWN_METRICS", "result_rows", "results_table", "shown_metrics"]

SHOWN_METRICS = ("test_accuracy", "val_accuracy", "epochs_run", "train_seconds", "total_seconds")
_AVERAGED = ("test_accuracy", "val_accuracy", "train_seconds", "total_seconds")


def results_table(
    store: ResultsStore,
    where: Where | None = None,
    *,
    per: Literal["trial", "config"] = "trial",
    latest: bool = True,
    metrics: Sequence[str] | None = None,
    stats: Sequence[str] | None = None,
    sort: str | None = None,
    descending: bool | None = None,
    all_params: bool = False,
) -> pa.Table:
    """The trials matching ``where`` (the latest run of each, or every run), ranked best
    first by ``sort`` (default: the first metric; raises ``KeyError`` for a column not shown).

    ``per="trial"``: one row per trial with the params that vary (every param with
    ``all_params``), status, ``metrics`` (default: test accuracy) and the usual metrics
    and times. ``per="config"``: completed trials only (unless ``where`` names a status),
    one row per sweep and config, ``seeds`` and ``<stat>_<metric>`` for each of ``metrics``
    and ``stats`` (default: test accuracy, all of ``STATS``); with neither given, the mean
    of accuracies and times and the std of test accuracy."""
    where = where or Where()
    trials = select_trials(store, where, latest=latest)
    params = param_columns(trials.column_names) if all_params else varying_params(trials)
    if per == "config":
        completed = trials if where.names("status") else trials.filter(pc.field("status") == "completed")
        table, columns, rank = _per_config(completed, params, metrics, stats)
    else:
        for metric in metrics or ():
            check_column(metric, trials.column_names, "trials")
        lead = ["sweep"] if len(trials["sweep"].unique()) > 1 else []
        shown = list(dict.fromkeys([*(metrics or ()), *shown_metrics(trials)]))
        columns = [*lead, "trial_id", *([] if latest else ["run_id"]), *params, "status", *shown]
        table, rank = trials, shown[0]
    sort = sort or rank
    if sort not in columns:
        raise KeyError(sort)
    if descending is None:
        descending = higher_is_better(sort)
    return best(table.select(columns), sort, k=None, descending=descending)


def shown_metrics(trials: pa.Table) -> list[str]:
    """The metrics a table of these trials shows: accuracies (unless no trial has one: a
    regression), each training.metrics entry on test and validation data, the usual times."""
    from orchestrator.store._schema import extra_columns

    names = [c.removeprefix("test_") for c in extra_columns(trials.column_names) if c.startswith("test_")]
    accuracies = [c for c in ("test_accuracy", "val_accuracy")
                  if not names or trials.num_rows == 0 or trials[c].null_count < trials.num_rows]
    return [*accuracies, *(f"{split}_{n}" for n in names for split in ("test", "val")),
            *(c for c in SHOWN_METRICS if "accuracy" not in c)]


def _per_config(
    trials: pa.Table, params: list[str], metrics: Sequence[str] | None, stats: Sequence[str] | None
) -> tuple[pa.Table, list[str], str]:
    """Statistics over seeds per sweep and config; the columns to show and the one to rank by."""
    keys = ["sweep", *(p for p in params if p != "seed")]
    if metrics is None and stats is None:  # the classic layout: means, and the spread of test accuracy
        table = aggregate(trials, by=keys, metrics=_AVERAGED, stats=["mean", "std"])
        values = [f"mean_{m}" for m in _AVERAGED]
        values.insert(1, "std_test_accuracy")
    else:
        metrics, stats = list(metrics or ["test_accuracy"]), list(stats or STATS)
        table = aggregate(trials, by=keys, metrics=metrics, stats=stats)
        values = [f"{s}_{m}" for m in metrics for s in stats]
    rank = f"mean_{metrics[0] if metrics else 'test_accuracy'}"
    return table.rename_columns({"trials": "seeds"}), [*keys, "seeds", *values], rank if rank in values else values[0]


def result_rows(
    store: ResultsStore,
    sweep: str | None = None,
    per: Literal["trial", "config"] = "trial",
    sort: str | None = None,
    descending: bool | None = None,
    all_params: bool = False,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Rows and the columns to show (:func:`results_table` of one sweep or all). Params
    that are the same in every row are left out unless ``all_params``, so a grid shows
    exactly its axes."""
    table = results_table(store, Where.of(sweep=sweep), per=per, sort=sort, descending=descending, all_params=all_params)
    return table.column_names, table.to_pylist()
