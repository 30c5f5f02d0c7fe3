"""Two sweeps side by side, config by config (``orch results --compare A B``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.answers._query import groupable, aggregate, best, higher_is_better, select_trials, varying_params
from orchestrator.answers._where import QueryError, Where, check_column
from orchestrator.store import ResultsStore
from orchestrator.store._schema import param_columns

__all__ = ["sweep_differences", "compare_sweeps"]


def sweep_differences(trials: pa.Table, a: str, b: str) -> dict[str, tuple[Any, Any]]:
    """Params with one value throughout sweep ``a`` and another throughout ``b``: what the
    second sweep changed (e.g. ``epochs``: (10, 15))."""
    differences = {}
    sides = [trials.filter(pc.field("sweep") == s) for s in (a, b)]
    for param in param_columns(trials.column_names):
        if param == "seed" or param not in trials.column_names:
            continue
        values = [groupable(side.select([param]), [param])[param].unique().to_pylist() for side in sides]
        if all(len(v) == 1 for v in values) and values[0] != values[1]:
            differences[param] = (values[0][0], values[1][0])
    return differences


def compare_sweeps(
    store: ResultsStore,
    a: str,
    b: str,
    metric: str = "test_accuracy",
    where: Where | None = None,
    ignore: Sequence[str] | None = None,
) -> pa.Table:
    """Sweep ``b`` against sweep ``a``, config by config: configs match on every param
    except ``seed`` and the ``ignore`` ones (default: the params that differ between the
    sweeps as a whole, see :func:`sweep_differences`). Columns: the matching params, then
    ``trials``/``mean``/``std`` of ``metric`` in each sweep (suffixes ``_a``, ``_b``) and
    ``delta`` = mean in b - mean in a; best improvement first, configs found in only one
    sweep last."""
    where = replace(where or Where(), sweeps=(a, b)).with_default_status()
    trials = select_trials(store, where)
    found = set(trials["sweep"].to_pylist())
    if missing := [s for s in (a, b) if s not in found]:
        raise QueryError(f"sweep {missing[0]!r} has no trials matching the query; check the name (orch results lists sweeps)")
    for param in ignore or ():
        check_column(param, param_columns(trials.column_names), "params")
    ignored = set(sweep_differences(trials, a, b) if ignore is None else ignore) | {"seed"}
    keys = [p for p in varying_params(trials) if p not in ignored]
    sides = {}
    for suffix, sweep in (("a", a), ("b", b)):
        grouped = aggregate(trials.filter(pc.field("sweep") == sweep), by=keys, metrics=[metric],
                            stats=["mean", "std"])
        sides[suffix] = {tuple(r[k] for k in keys): r for r in grouped.to_pylist()}
    configs = list(sides["a"]) + [key for key in sides["b"] if key not in sides["a"]]
    rows = []
    for key in configs:
        row: dict[str, Any] = dict(zip(keys, key))
        for suffix in ("a", "b"):
            side = sides[suffix].get(key, {})
            row[f"trials_{suffix}"] = side.get("trials", 0)
            row[f"mean_{metric}_{suffix}"] = side.get(f"mean_{metric}")
            row[f"std_{metric}_{suffix}"] = side.get(f"std_{metric}")
        mean_a, mean_b = row[f"mean_{metric}_a"], row[f"mean_{metric}_b"]
        row["delta"] = None if mean_a is None or mean_b is None else mean_b - mean_a
        rows.append(row)
    key_types = [pa.field(k, pa.string() if pa.types.is_list(t) else t) for k in keys
                 for t in [trials.schema.field(k).type]]
    value_fields = [
        pa.field(f"{name}_{s}", kind) for s in ("a", "b")
        for name, kind in (("trials", pa.int64()), (f"mean_{metric}", pa.float64()), (f"std_{metric}", pa.float64()))
    ]
    table = pa.Table.from_pylist(rows, schema=pa.schema([*key_types, *value_fields, pa.field("delta", pa.float64())]))
    return best(table, "delta", k=None, descending=higher_is_better(metric))
