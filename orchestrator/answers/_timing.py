"""Where the time went: per-trial timings and the columns derived from them."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.answers._query import aggregate, varying_params

__all__ = ["TIMING_TABLE_COLUMNS", "timing", "with_timing_columns"]

# What the timing table shows per trial (derived ones computed by :func:`timing`).
TIMING_TABLE_COLUMNS = (
    "device_kind", "replicas", "global_batch_size", "epochs_run", "epoch_seconds", "first_epoch_seconds",
    "images_per_second", "train_seconds", "eval_seconds", "overhead_seconds", "total_seconds",
)


def with_timing_columns(trials: pa.Table) -> pa.Table:
    """``trials`` plus the derived columns of :func:`timing`: ``epoch_seconds`` (steady
    state; the mean when there was one epoch), ``overhead_seconds`` = total - train - eval
    (dataset fetch, model build, start-up) and ``replicas`` (devices in the strategy)."""
    per_epoch = pc.divide(trials["train_seconds"], pc.cast(trials["epochs_run"], pa.float64()))
    derived = {
        "epoch_seconds": pc.coalesce(trials["steady_epoch_seconds"], per_epoch),
        "overhead_seconds": pc.subtract(
            pc.subtract(trials["total_seconds"], trials["train_seconds"]), pc.fill_null(trials["eval_seconds"], 0.0)
        ),
        "replicas": trials["device_count"],
    }
    for name, column in derived.items():
        trials = trials.append_column(name, column)
    return trials


def timing(trials: pa.Table, by: Sequence[str] | None = None) -> pa.Table:
    """Where the time went, per trial (or, with ``by``, the mean per group): seconds per
    epoch (steady state; the mean when there was one epoch), first epoch (with tracing),
    images per second, train/eval/total seconds, setup overhead = total - train - eval
    (dataset fetch, model build, start-up), replicas (devices in the strategy), device kind."""
    table = with_timing_columns(trials)
    if by is not None:
        numeric = [c for c in TIMING_TABLE_COLUMNS if pa.types.is_floating(table.schema.field(c).type)]
        return aggregate(table, by=by, metrics=numeric, stats=["mean"])
    lead = ["sweep"] if len(set(table["sweep"].to_pylist())) > 1 else []
    return table.select([*lead, "trial_id", *varying_params(table), *TIMING_TABLE_COLUMNS])
