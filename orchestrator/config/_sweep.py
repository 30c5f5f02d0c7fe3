"""The ``sweep:`` section: grid axes and seeds, their expansion into points, and the size
limit that keeps a mistyped axis from planning a million trials."""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Iterator
from typing import Any

from orchestrator.config._fields import Range, coerce_field
from orchestrator.config._lookup import all_fields, field_spec
from orchestrator.config._sections import DEFAULT_MAX_TRIALS, MAX_SEED, SweepConfig
from orchestrator.errors import ConfigError

__all__ = ["parse_sweep", "grid_points", "iter_grid_points", "sweep_size", "check_sweep_size", "SWEEP_KEYS"]

SWEEP_KEYS = ("grid", "seeds", "max_trials")
# Sections that say where or what a trial keeps, not what it computes: never swept.
_NOT_SWEPT = ("resources.", "outputs.", "stopping.")
_SEED_RANGE = Range(0, MAX_SEED, meaning="each seed")
_MAX_TRIALS_RANGE = Range(1, meaning="the most trials a sweep may plan")


def parse_sweep(raw: Any, origin: str) -> SweepConfig:
    if raw is None:
        return SweepConfig()
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: sweep: expected a mapping with grid: and seeds:, got {type(raw).__name__}")
    from orchestrator.config._loader import reject_unknown  # the loader imports this module

    reject_unknown(raw, SWEEP_KEYS, "sweep", origin)
    grid = _parse_grid(raw.get("grid"), origin)
    seeds_raw = raw.get("seeds")
    if seeds_raw is None:
        seeds: list[int] = []
    elif seeds_raw == []:
        raise ConfigError(
            f"{origin}: sweep.seeds: the list is empty, so no trial would run; give at least one seed "
            "(seeds: [0]) or leave seeds out to use training.seed"
        )
    else:
        seeds = coerce_field(list[int], seeds_raw, "sweep.seeds", origin, _SEED_RANGE)
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{origin}: sweep.seeds: seeds repeat in {seeds!r}; list each once")
    max_trials = raw.get("max_trials", DEFAULT_MAX_TRIALS)
    max_trials = coerce_field(int, max_trials, "sweep.max_trials", origin, _MAX_TRIALS_RANGE)
    return SweepConfig(grid=grid, seeds=seeds, max_trials=max_trials)


def _parse_grid(raw: Any, origin: str) -> dict[str, list[Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: sweep.grid: expected a mapping of dotted field -> list of values, got {type(raw).__name__}")
    grid: dict[str, list[Any]] = {}
    for path, values in raw.items():
        path = str(path)
        try:
            hint, rng = field_spec(path)
        except KeyError:
            close = difflib.get_close_matches(path, all_fields(), n=1)
            hint_text = f"did you mean {close[0]!r}?" if close else "axes are dotted fields such as training.learning_rate"
            raise ConfigError(f"{origin}: sweep.grid: unknown field {path!r}; {hint_text}") from None
        if path.startswith(_NOT_SWEPT):
            section = path.split(".")[0]
            raise ConfigError(
                f"{origin}: sweep.grid: {path!r} says where or what a trial keeps, not what it "
                f"computes; set it once under {section}:"
            )
        if path in ("model.builder", "model.params"):
            what = "run one sweep per builder" if path == "model.builder" else "sweep each key as model.params.<key>"
            raise ConfigError(f"{origin}: sweep.grid: {path!r} is not a sweep axis; {what}")
        if path == "training.seed":
            raise ConfigError(f"{origin}: sweep.grid: sweep seeds with sweep.seeds: [0, 1, ...], not the grid")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{origin}: sweep.grid.{path}: expected a non-empty list of values, got {values!r}"[:300])
        coerced = [coerce_field(hint, v, f"sweep.grid.{path}", origin, rng) for v in values]
        if len(set(map(repr, coerced))) != len(coerced):
            raise ConfigError(f"{origin}: sweep.grid.{path}: values repeat in {values!r}; list each once"[:300])
        grid[path] = coerced
    return grid


def sweep_size(sweep: SweepConfig) -> int:
    """Trials the sweep plans: the product of the axis lengths, times the seeds. Computed
    without expanding anything."""
    return math.prod(len(v) for v in sweep.grid.values()) * max(len(sweep.seeds), 1)


def check_sweep_size(sweep: SweepConfig, origin: str) -> None:
    size = sweep_size(sweep)
    if size > sweep.max_trials:
        axes = " x ".join(f"{len(v)} {path}" for path, v in sweep.grid.items())
        seeds = f" x {len(sweep.seeds)} seeds" if len(sweep.seeds) > 1 else ""
        raise ConfigError(
            f"{origin}: sweep: {size:,} trials ({axes}{seeds}) is more than sweep.max_trials={sweep.max_trials:,}; "
            f"shorten an axis, or raise the limit (sweep: max_trials: {size}, or --set sweep.max_trials={size})"
        )


def iter_grid_points(sweep: SweepConfig) -> Iterator[dict[str, Any]]:
    """Cartesian product of the grid axes, in file order, last axis fastest.
    An empty grid is one point with no overrides."""
    paths = list(sweep.grid)
    for combo in itertools.product(*sweep.grid.values()):
        yield dict(zip(paths, combo))


def grid_points(sweep: SweepConfig) -> list[dict[str, Any]]:
    return list(iter_grid_points(sweep))
