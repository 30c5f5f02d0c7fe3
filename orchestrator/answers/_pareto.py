"""Trade-offs between metrics: the trials no other trial beats on every objective.

``orch results SWEEP --pareto test_accuracy:max,total_seconds:min`` asks for them: the
most accurate trial, the fastest, and every trial in between that buys its extra accuracy
with extra time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import pyarrow as pa

from orchestrator.answers._where import QueryError, check_column
from orchestrator.answers._query import higher_is_better

__all__ = ["Objective", "parse_objectives", "pareto_front"]

Objective = tuple[str, Literal["max", "min"]]
_EXAMPLE = "e.g. test_accuracy:max,total_seconds:min"


def parse_objectives(text: str) -> list[Objective]:
    """``"test_accuracy:max,total_seconds:min"`` -> ``[("test_accuracy", "max"),
    ("total_seconds", "min")]``. A column without ``:max``/``:min`` takes the direction its
    name says (accuracies and throughput max, losses and times min). Two or more, each
    once; columns are checked against the table later, by :func:`pareto_front`."""
    objectives: list[Objective] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        column, sep, goal = (s.strip() for s in item.partition(":"))
        if not sep:
            goal = "max" if higher_is_better(column) else "min"
        if not column or goal not in ("max", "min"):
            raise QueryError(f"--pareto {text!r}: {item!r} is not COLUMN:max or COLUMN:min; {_EXAMPLE}")
        if any(column == c for c, _ in objectives):
            raise QueryError(f"--pareto {text!r}: {column} is listed twice; give each objective once")
        objectives.append((column, goal))  # type: ignore[arg-type]
    if len(objectives) < 2:
        raise QueryError(f"--pareto {text!r}: a trade-off needs two or more objectives, {_EXAMPLE}; "
                         "for the best by one metric use --best K")
    return objectives


def pareto_front(table: pa.Table, objectives: Sequence[Objective]) -> pa.Table:
    """The rows of ``table`` that no other row dominates (at least as good on every
    objective and better on one), best first by the first objective, then the next. Rows
    missing a value (null, NaN) are left out: they cannot be compared. Rows with equal
    objective values are all kept."""
    for column, goal in objectives:
        check_column(column, table.column_names, "results")
        if not (pa.types.is_integer(table[column].type) or pa.types.is_floating(table[column].type)):
            raise QueryError(f"--pareto: {column} holds {table[column].type} values, not numbers; "
                             "objectives are metrics or times")
        if goal not in ("max", "min"):
            raise ValueError(f"goal of {column} must be 'max' or 'min', got {goal!r}")
    signs = [-1.0 if goal == "max" else 1.0 for _, goal in objectives]  # minimise every one
    columns = [table[column].to_pylist() for column, _ in objectives]
    rows = []
    for index, values in enumerate(zip(*columns)):
        if all(v is not None and math.isfinite(v) for v in values):
            rows.append((tuple(s * v for s, v in zip(signs, values)), index))
    # In lexicographic order a dominating row always comes before the rows it dominates,
    # so one pass against the front found so far decides each row.
    rows.sort()
    front: list[tuple[float, ...]] = []
    keep: list[int] = []
    for vector, index in rows:
        if any(f != vector and all(a <= b for a, b in zip(f, vector)) for f in front):
            continue
        front.append(vector)
        keep.append(index)
    return table.take(pa.array(keep, pa.int64()))
