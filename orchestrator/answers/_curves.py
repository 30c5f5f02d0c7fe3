"""Learning curves: the epoch rows of chosen trials, labelled by what tells them apart, and
their mean and spread over seeds."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from orchestrator.answers._query import (
    aggregate,
    groupable,
    select_trials,
    varying_params,
)
from orchestrator.answers._where import QueryError, Where, all_of, check_column
from orchestrator.store import (
    EPOCHS_SCHEMA,
    TRIALS_SCHEMA,
    ResultsStore,
    latest_per_trial,
)
from orchestrator.store._schema import param_columns

__all__ = ["curve_stats", "learning_curves"]


def _resolve_ids(store: ResultsStore, trial_ids: Sequence[str], sweep: str | Sequence[str] | None) -> list[str]:
    """Full trial ids for ids or unique prefixes of them (as the tables show them)."""
    known: list[str] | None = None
    resolved = []
    for given in trial_ids:
        if len(given) >= 16:
            resolved.append(given)
            continue
        if known is None:
            known = sorted(set(store.read_trials(sweep, columns=["trial_id"])["trial_id"].to_pylist()))
        matches = [t for t in known if t.startswith(given)]
        if len(matches) != 1:
            problem = "no trial" if not matches else f"{len(matches)} trials ({', '.join(matches[:3])}, ...)"
            raise QueryError(f"trial id {given!r} matches {problem}; give more of the id")
        resolved.append(matches[0])
    return resolved


def learning_curves(
    store: ResultsStore,
    trial_ids: Sequence[str] | None = None,
    where: Where | None = None,
    metrics: Sequence[str] | None = None,
) -> pa.Table:
    """Epoch rows of the latest run of each chosen trial (by id, id prefix, or ``where``),
    labelled with the params that differ between them; sorted by trial and epoch."""
    where = where or Where()
    if trial_ids is not None:
        trial_ids = _resolve_ids(store, trial_ids, where.sweeps)
        # Only the columns needed: one trial's curve is then a small read.
        wanted = {"sweep", "trial_id", "run_id", "status", "started_at", "ended_at", "metrics", *(c.column for c in where.conditions)}
        several = len(set(trial_ids)) > 1
        # With several trials, every params column (builders' ones too): the labels that tell the curves apart.
        columns = None if several else [c for c in TRIALS_SCHEMA.names if c in wanted]
        trials = latest_per_trial(store.read_trials(where.sweeps, trial_ids=trial_ids, columns=columns))
        condition = all_of(where.conditions)
        trials = trials if condition is None else trials.filter(condition)
    else:
        trials = select_trials(store, where)
    logged = _logged_metrics(trials)
    metrics = list(metrics) if metrics is not None else [c for c in (*EPOCHS_SCHEMA.names, *logged) if c not in ("sweep", "trial_id", "run_id", "epoch")]
    for metric in metrics:
        check_column(metric, [*EPOCHS_SCHEMA.names, *logged], "epochs")
    ids = trials["trial_id"].unique().to_pylist()
    runs = trials["run_id"].combine_chunks()
    sweeps = sorted(set(trials["sweep"].to_pylist()))  # read only their directories
    epochs = store.read_epochs(
        sweeps, trial_ids=ids, run_ids=runs, columns=["sweep", "trial_id", "run_id", "epoch", *metrics]
    )
    labels = [p for p in varying_params(trials) if p in trials.column_names]
    # List params (filters: [6, 16]) as their text: Arrow joins cannot carry list columns.
    curves = epochs.join(groupable(trials.select(["run_id", *labels]), labels), keys="run_id", join_type="left outer")
    ordered = curves.sort_by([("sweep", "ascending"), ("trial_id", "ascending"), ("epoch", "ascending")])
    return ordered.select(["sweep", "trial_id", "run_id", *labels, "epoch", *metrics])


def _logged_metrics(trials: pa.Table) -> list[str]:
    """The epochs columns of these trials' training.metrics: <name> and val_<name>."""
    from orchestrator.config import metric_name

    if "metrics" not in trials.column_names:
        return []
    names = dict.fromkeys(metric_name(label) for row in trials["metrics"].to_pylist() if row for label in row)
    return [c for n in names for c in (n, f"val_{n}")]


def curve_stats(curves: pa.Table, metric: str = "val_accuracy", by: Sequence[str] | None = None) -> pa.Table:
    """Per config (``by``; default: the labels of :func:`learning_curves` except seed) and
    epoch: mean, std and count of ``metric`` over the trials (seeds) of that config."""
    if by is None:
        by = [c for c in curves.column_names if c in param_columns(curves.column_names) and c != "seed"]
    return aggregate(curves, by=[*by, "epoch"], metrics=[metric], stats=["mean", "std", "count"])
