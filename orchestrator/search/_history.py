"""From stored trials to what a sampler is told: one outcome per point, over its seeds."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from orchestrator.search._base import Observation, SearchState, point_key

__all__ = ["combine_seeds", "history_from_rows"]


def combine_seeds(
    runs: Sequence[tuple[SearchState, float | None, int | None]], seeds: int = 1
) -> tuple[float | None, SearchState, int | None]:
    """One point's outcome from its trials' ``(state, value, epochs run)``, one per training
    seed: value the mean of the finite values; state FAILED if a seed failed or is missing
    (fewer than ``seeds`` runs: the point is asked again and the missing seeds run), else
    PRUNED if a seed was stopped, else COMPLETED; step the most epochs a seed ran. The
    executor tells this once every seed of a point has ended; a rebuild tells it again."""
    values = [v for _, v, _ in runs if v is not None and math.isfinite(v)]
    states = {state for state, _, _ in runs}
    if SearchState.FAILED in states or len(runs) < seeds:
        state = SearchState.FAILED
    elif SearchState.PRUNED in states:
        state = SearchState.PRUNED
    else:
        state = SearchState.COMPLETED
    steps = [s for _, _, s in runs if s is not None]
    return (sum(values) / len(values) if values else None), state, (max(steps) if steps else None)


def history_from_rows(
    rows: Iterable[Mapping[str, Any]],
    paths: Sequence[str],
    metric: str,
    column_of: Callable[[str], str],
    seeds: int = 1,
    step_column: str = "epochs_run",
) -> list[Observation]:
    """The outcomes of a sweep's stored trials, one per point, in the order of each point's
    first row: ``rows`` are trials-table rows (the latest run of each trial, e.g.
    ``select_trials(store, Where.of(sweep=name)).to_pylist()``) with ``status``, the
    ``metric`` column and a column per searched or grid field (``column_of(path)``: the
    config loader's ``param_column`` rule). ``paths``: the fields that make a point (grid
    axes and space)."""
    grouped: dict[str, tuple[dict[str, Any], list[tuple[SearchState, float | None, int | None]]]] = {}
    for row in rows:
        point = {path: row[column_of(path)] for path in paths}
        run = (SearchState.of_status(row["status"]), row.get(metric), row.get(step_column))
        grouped.setdefault(point_key(point), (point, []))[1].append(run)
    out = []
    for point, runs in grouped.values():
        value, state, step = combine_seeds(runs, seeds)
        out.append(Observation(point, value, state, step))
    return out
