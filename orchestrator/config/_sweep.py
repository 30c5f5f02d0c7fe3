"""The ``sweep:`` section: grid axes and seeds, their expansion into points, and the size
limit that keeps a mistyped axis from planning a million trials."""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Iterator
from typing import Any, Literal

from orchestrator.config._fields import Range, coerce_field, reject_unknown
from orchestrator.config._lookup import all_fields, field_spec
from orchestrator.config._sections import DEFAULT_MAX_TRIALS, MAX_SEED, SweepConfig
from orchestrator.errors import ConfigError

__all__ = ["parse_sweep", "grid_points", "iter_grid_points", "sweep_points", "sweep_size", "check_sweep_size",
           "SWEEP_KEYS"]

SWEEP_KEYS = ("grid", "seeds", "max_trials", "method", "samples", "space", "metric", "goal", "search_seed")
# Sections that say where or what a trial keeps, not what it computes: never swept.
_NOT_SWEPT = ("resources.", "outputs.", "stopping.")
_SEED_RANGE = Range(0, MAX_SEED, meaning="each seed")
_MAX_TRIALS_RANGE = Range(1, meaning="the most trials a sweep may plan")
_SAMPLES_RANGE = Range(1, 10**6, meaning="points drawn per grid point")


def parse_sweep(raw: Any, origin: str) -> SweepConfig:
    if raw is None:
        return SweepConfig()
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: sweep: expected a mapping with grid: and seeds:, got {type(raw).__name__}")
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
    search = _parse_search(raw, grid, origin)
    return SweepConfig(grid=grid, seeds=seeds, max_trials=max_trials, **search)


def _parse_search(raw: dict[str, Any], grid: dict[str, list[Any]], origin: str) -> dict[str, Any]:
    """method, samples, space, metric, goal, search_seed: checked here against the schema,
    the distributions themselves by orchestrator.search."""
    from orchestrator.search import check_search, kind_of_hint, parse_space

    method = coerce_field(Literal["grid", "random", "sobol", "tpe"], raw.get("method", "grid"), "sweep.method", origin)
    samples = raw.get("samples")
    if samples is not None:
        samples = coerce_field(int, samples, "sweep.samples", origin, _SAMPLES_RANGE)
    goal = coerce_field(Literal["max", "min"], raw.get("goal", "max"), "sweep.goal", origin)
    # A name; which names a trial logs depends on training.metrics (checked in _rules).
    metric = coerce_field(str, raw.get("metric", "val_accuracy"), "sweep.metric", origin).strip()
    search_seed = coerce_field(int, raw.get("search_seed", 0), "sweep.search_seed", origin, _SEED_RANGE)

    def field_kind(path: str, key: str) -> Any:
        return kind_of_hint(_swept_field(path, key, origin)[0])

    def check_value(path: str, value: Any, key: str) -> Any:
        hint, rng = _swept_field(path, key, origin)
        return coerce_field(hint, value, key, origin, rng)

    space = parse_space(raw.get("space"), field_kind, check_value, origin)
    check_search(method, samples, space, grid_paths=grid, goal=goal, origin=origin)
    return {"method": method, "samples": samples, "space": space, "metric": metric, "goal": goal,
            "search_seed": search_seed}


def _parse_grid(raw: Any, origin: str) -> dict[str, list[Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: sweep.grid: expected a mapping of dotted field -> list of values, got {type(raw).__name__}")
    grid: dict[str, list[Any]] = {}
    for path, values in raw.items():
        path = str(path)
        hint, rng = _swept_field(path, "sweep.grid", origin)
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{origin}: sweep.grid.{path}: expected a non-empty list of values, got {values!r}"[:300])
        coerced = [coerce_field(hint, v, f"sweep.grid.{path}", origin, rng) for v in values]
        if len(set(map(repr, coerced))) != len(coerced):
            raise ConfigError(f"{origin}: sweep.grid.{path}: values repeat in {values!r}; list each once"[:300])
        grid[path] = coerced
    return grid


def _swept_field(path: str, where: str, origin: str) -> tuple[Any, Range | None]:
    """Type and range of a field a sweep may vary (a grid axis or a searched field)."""
    try:
        hint, rng = field_spec(path)
    except KeyError:
        close = difflib.get_close_matches(path, all_fields(), n=1)
        hint_text = f"did you mean {close[0]!r}?" if close else "fields are dotted paths such as training.learning_rate"
        raise ConfigError(f"{origin}: {where}: unknown field {path!r}; {hint_text}") from None
    if path.startswith(_NOT_SWEPT):
        section = path.split(".")[0]
        raise ConfigError(
            f"{origin}: {where}: {path!r} says where or what a trial keeps, not what it "
            f"computes; set it once under {section}:"
        )
    if path in ("model.builder", "model.params", "dataset.params"):
        what = "run one sweep per builder" if path == "model.builder" else f"sweep each key as {path}.<key>"
        raise ConfigError(f"{origin}: {where}: {path!r} is not a sweep axis; {what}")
    if path == "training.seed":
        raise ConfigError(f"{origin}: {where}: sweep seeds with sweep.seeds: [0, 1, ...], not the grid or space")
    return hint, rng


def sweep_size(sweep: SweepConfig) -> int:
    """Trials the sweep plans: the product of the axis lengths, times the points drawn per
    grid point (searches), times the seeds. Computed without expanding anything."""
    per_point = sweep.samples if sweep.method != "grid" and sweep.samples else 1
    return math.prod(len(v) for v in sweep.grid.values()) * per_point * max(len(sweep.seeds), 1)


def check_sweep_size(sweep: SweepConfig, origin: str) -> None:
    size = sweep_size(sweep)
    if size > sweep.max_trials:
        axes = " x ".join(f"{len(v)} {path}" for path, v in sweep.grid.items())
        seeds = f" x {len(sweep.seeds)} seeds" if len(sweep.seeds) > 1 else ""
        raise ConfigError(
            f"{origin}: sweep: {size:,} trials ({axes}{seeds}) is more than sweep.max_trials={sweep.max_trials:,}; "
            f"shorten an axis, or raise the limit (sweep: max_trials: {size}, or --set sweep.max_trials={size})"
        )


def sweep_points(sweep: SweepConfig) -> list[dict[str, Any]]:
    """Every point a sweep plans up front: the grid points, or for random and sobol each grid
    point's draws (a pure function of space, search_seed and k, so a re-run anywhere plans
    the same trials). tpe plans nothing up front: its points are asked as trainers free up,
    so this gives its grid points (each then searched)."""
    if sweep.method in ("grid", "tpe"):
        return grid_points(sweep)
    from orchestrator.search import search_points

    return search_points(grid_points(sweep), sweep.space, sweep.method, sweep.samples or 1, sweep.search_seed)


def iter_grid_points(sweep: SweepConfig) -> Iterator[dict[str, Any]]:
    """Cartesian product of the grid axes, in file order, last axis fastest.
    An empty grid is one point with no overrides."""
    paths = list(sweep.grid)
    for combo in itertools.product(*sweep.grid.values()):
        yield dict(zip(paths, combo))


def grid_points(sweep: SweepConfig) -> list[dict[str, Any]]:
    return list(iter_grid_points(sweep))
