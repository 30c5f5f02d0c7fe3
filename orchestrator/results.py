"""Result tables for people: one row per trial, or per config (mean over seeds).

Built on :mod:`orchestrator.query` (Arrow compute), so that ``orch results`` stays fast on
stores of many thousands of trials.
"""

from __future__ import annotations

from typing import Any, Literal

import pyarrow.compute as pc

from orchestrator.query import aggregate, best, varying_params
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
    trials = latest_per_trial(store.read_trials(sweep))
    params = list(PARAM_COLUMNS) if all_params else varying_params(trials)
    if per == "config":
        keys = ["sweep", *(p for p in params if p != "seed")]
        completed = trials.filter(pc.field("status") == "completed")
        table = aggregate(completed, by=keys, metrics=_AVERAGED, stats=["mean", "std"]).rename_columns(
            {"trials": "seeds"}
        )
        columns = [*keys, "seeds"]
        for metric in _AVERAGED:
            columns.append(f"mean_{metric}")
            if metric == "test_accuracy":
                columns.append("std_test_accuracy")
    else:
        lead = ["sweep"] if sweep is None and len(trials["sweep"].unique()) > 1 else []
        columns = [*lead, "trial_id", *params, "status", *SHOWN_METRICS]
        table = trials
    sort = sort or ("mean_test_accuracy" if per == "config" else "test_accuracy")
    if sort not in columns:
        raise KeyError(sort)
    if descending is None:
        descending = "accuracy" in sort
    return columns, best(table.select(columns), sort, k=None, descending=descending).to_pylist()
