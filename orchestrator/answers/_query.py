"""Questions over the results store, answered with Arrow compute (no loops over rows).

Every function takes and returns ``pyarrow.Table``; ``orchestrator.answers._render`` renders them.

- :func:`select_trials`: the trials matching a :class:`Where`, latest run per trial;
- :func:`aggregate`: mean, std, sem, min, max and count per group (default: per config,
  i.e. over seeds; or grouped by any params, over every param not grouped);
- :func:`best`, :func:`pivot`, :func:`compare_sweeps`, :func:`learning_curves`,
  :func:`curve_stats`, :func:`timing` (:func:`with_timing_columns`).

Conventions: ``std`` is the sample standard deviation (n - 1), null for a single value;
``sem`` is std / sqrt(count); NaN metrics (a diverged loss) count as missing. Functions
over tables aggregate the rows they are given; to average completed trials only (stopped
and failed runs did not finish), select with ``where.with_default_status()``, as
:func:`compare_sweeps` does.
"""


from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.answers._where import QueryError, Where, all_of, check_column
from orchestrator.store import PARAM_COLUMNS, ResultsStore, latest_per_trial
from orchestrator.store._schema import param_columns

__all__ = ["STATS", "select_trials", "varying_params", "aggregate", "best", "pivot", "higher_is_better"]

STATS = ("mean", "std", "sem", "min", "max", "count")
_PUSHED = {"sweep", "trial_id", *PARAM_COLUMNS}  # the same in every run of a trial


def select_trials(store: ResultsStore, where: Where | None = None, *, latest: bool = True) -> pa.Table:
    """Trials matching ``where``: with ``latest``, only the most recent run of each trial
    counts (conditions on status, metrics and dates apply to that run). Conditions on
    params go down to the store, which then reads less."""
    where = where or Where()
    pushed = [c for c in where.conditions if c.column in _PUSHED]
    after = [c for c in where.conditions if c.column not in _PUSHED]
    table = store.read_trials(where.sweeps, where=all_of(pushed))
    for c in after:
        if c.column not in table.column_names:  # a builder's param no trial here has
            check_column(c.column, param_columns(table.column_names), "params")
    if latest:
        table = latest_per_trial(table)
    condition = all_of(after)
    return table if condition is None else table.filter(condition)


def _key_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A list column as text ("[6, 16]"): Arrow cannot group by lists."""
    joined = pc.binary_join(pc.cast(column, pa.list_(pa.string())), ", ")
    return pc.binary_join_element_wise("[", joined, "]", "")


def groupable(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    for name in keys:
        if pa.types.is_list(table.schema.field(name).type):
            table = table.set_column(table.schema.get_field_index(name), name, _key_text(table[name]))
    return table


def varying_params(table: pa.Table, candidates: Sequence[str] | None = None) -> list[str]:
    """The params (in ``candidates``; default: every params column of ``table``, builders'
    ``model_<key>`` columns included) with more than one value in ``table`` (null is a value)."""
    candidates = param_columns(table.column_names) if candidates is None else candidates
    present = [c for c in candidates if c in table.column_names]
    keys = groupable(table.select(present), present)
    return [c for c in present if pc.count_distinct(keys[c], mode="all").as_py() > 1]


def _nan_to_null(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_floating(column.type):
        return pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
    return column


def aggregate(
    trials: pa.Table,
    by: Sequence[str] | None = None,
    metrics: Sequence[str] = ("test_accuracy",),
    stats: Sequence[str] = STATS,
) -> pa.Table:
    """One row per group with ``trials`` (rows in the group) and ``<stat>_<metric>`` columns.

    ``by=None`` groups per config: by sweep and every param that varies except ``seed``, so
    the statistics are over seeds. Otherwise the groups are ``by``, and the statistics are
    over every param not grouped. Rows come sorted by the group keys."""
    if by is None:
        by = ["sweep", *(p for p in varying_params(trials) if p != "seed")]
    by, metrics = list(by), list(metrics)
    for name in (*by, *metrics):
        check_column(name, trials.column_names, "results")
    for metric in metrics:
        kind = trials.schema.field(metric).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            raise QueryError(f"{metric} holds {kind} values, not numbers: statistics need a numeric column "
                             "such as test_accuracy or total_seconds")
    if unknown := [s for s in stats if s not in STATS]:
        raise QueryError(f"unknown statistic {unknown[0]!r}; choose from {', '.join(STATS)}")
    data = groupable(trials.select(by), by)
    for metric in metrics:
        if metric not in by:
            data = data.append_column(metric, _nan_to_null(trials[metric]))
    spread = pc.VarianceOptions(ddof=1)
    aggregations: list[tuple[Any, ...]] = [([], "count_all")]
    for metric in metrics:
        aggregations += [(metric, "mean"), (metric, "stddev", spread), (metric, "min"), (metric, "max"), (metric, "count")]
    grouped = data.group_by(by, use_threads=False).aggregate(aggregations)
    columns: dict[str, pa.ChunkedArray] = {key: grouped[key] for key in by}
    columns["trials"] = grouped["count_all"]
    for metric in metrics:
        count = grouped[f"{metric}_count"]
        std = grouped[f"{metric}_stddev"]
        computed = {
            "mean": grouped[f"{metric}_mean"], "std": std, "min": grouped[f"{metric}_min"],
            "max": grouped[f"{metric}_max"], "count": count,
            "sem": pc.divide(std, pc.sqrt(pc.cast(count, pa.float64()))),
        }
        for stat in stats:
            columns[f"{stat}_{metric}"] = computed[stat]
    result = pa.table(columns)
    return result.sort_by([(key, "ascending") for key in by]) if by else result


def higher_is_better(column: str) -> bool:
    """Accuracies and throughput are better high; losses and times low; a training.metrics
    column (``val_top2``, ``mean_test_mae``) as its name says (config.metric_goal)."""
    if "accuracy" in column or "images_per_second" in column:
        return True
    from orchestrator.config import metric_goal
    from orchestrator.store._schema import extra_columns

    for candidate in (column, column.partition("_")[2]):  # with a statistic's prefix (mean_) taken off
        if extra_columns([candidate]) and not candidate.startswith("model_"):
            return metric_goal(candidate) == "max"
    return False


def best(table: pa.Table, metric: str = "test_accuracy", k: int | None = 10, descending: bool | None = None) -> pa.Table:
    """The ``k`` best rows of any table (trials, or configs from :func:`aggregate`) by
    ``metric``; rows without a value (null, NaN) come last."""
    check_column(metric, table.column_names, "results")
    if descending is None:
        descending = higher_is_better(metric)
    key = "_sort_key"
    keyed = table.append_column(key, _nan_to_null(table[metric]))
    order = keyed.sort_by([(key, "descending" if descending else "ascending")]).drop_columns([key])
    return order if k is None else order.slice(0, k)


def pivot(
    trials: pa.Table,
    rows: str | Sequence[str],
    columns: str,
    metric: str = "test_accuracy",
    stat: str = "mean",
) -> pa.Table:
    """``stat`` of ``metric`` per value of the ``rows`` param(s) (one row each) and of the
    ``columns`` param (one column each, named ``<param>=<value>``), e.g. mean test accuracy
    with optimizer down and activation across. Empty cells are null."""
    rows = [rows] if isinstance(rows, str) else list(rows)
    grouped = aggregate(trials, by=[*rows, columns], metrics=[metric], stats=[stat])
    # The heavy part (grouping every trial) is done; what is left is one value per cell.
    values = sorted(set(grouped[columns].to_pylist()), key=lambda v: (v is None, v))
    cells: dict[tuple[Any, ...], dict[Any, Any]] = {}
    for record in grouped.select([*rows, columns, f"{stat}_{metric}"]).to_pylist():
        cells.setdefault(tuple(record[r] for r in rows), {})[record[columns]] = record[f"{stat}_{metric}"]
    keys = list(cells)
    data: dict[str, list[Any]] = {r: [key[i] for key in keys] for i, r in enumerate(rows)}
    for value in values:
        data[f"{columns}={value}"] = [cells[key].get(value) for key in keys]
    types = {r: grouped.schema.field(r).type for r in rows}
    cell_type = grouped.schema.field(f"{stat}_{metric}").type
    schema = pa.schema([*(pa.field(r, types[r]) for r in rows), *(pa.field(f"{columns}={v}", cell_type) for v in values)])
    return pa.table(data, schema=schema)
