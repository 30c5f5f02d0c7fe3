"""A sweep's search: one sampler per grid point, and the points known up front.

``sweep.grid`` and ``sweep.space`` combine as nested loops: every grid point gets its own
``samples`` draws from the space, from its own seed (derived from the search seed and the
grid point's values, not its position, so adding a value to an axis leaves the draws of the
other grid points as they were).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from orchestrator.search._base import (
    DeterministicSampler,
    Goal,
    Observation,
    Sampler,
    SearchState,
    SpaceSampler,
    Suggestion,
)
from orchestrator.search._grid import GridSampler
from orchestrator.search._random import RandomSampler
from orchestrator.search._sobol import SobolSampler
from orchestrator.search._space import Space
from orchestrator.search._tpe import TPESampler

__all__ = ["SAMPLERS", "PerGridPoint", "make_sampler", "search_points", "seed_for"]

SAMPLERS: dict[str, type[SpaceSampler]] = {
    "grid": GridSampler, "random": RandomSampler, "sobol": SobolSampler, "tpe": TPESampler,
}


def seed_for(seed: int, fixed: Mapping[str, Any]) -> int:
    """The seed of the grid point ``fixed``: ``seed`` itself without a grid, else a hash of
    (seed, the point's values), below 2**32 (what NumPy and Optuna accept)."""
    if not fixed:
        return seed
    text = json.dumps({"seed": seed, "point": dict(fixed)}, sort_keys=True, default=repr)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


class PerGridPoint(Sampler):
    """One sampler per grid point behind one interface. Asks go round the grid points in
    turn (so a few trainers spread over all of them, and an adaptive search at each grid
    point learns at the same pace), skipping those whose budget is spent; a tell goes to
    the sampler whose grid point the point has."""

    def __init__(self, samplers: Sequence[SpaceSampler]) -> None:
        if not samplers:
            raise ValueError("PerGridPoint needs at least one sampler")
        self.samplers = list(samplers)
        self._turn = 0
        self._asked = 0

    def ask(self) -> Suggestion | None:
        for offset in range(len(self.samplers)):
            index = (self._turn + offset) % len(self.samplers)
            suggestion = self.samplers[index].ask()
            if suggestion is not None:
                self._turn = index + 1
                self._asked += 1
                return Suggestion(self._asked - 1, suggestion.point)
        return None

    def tell(self, point: Suggestion | Mapping[str, Any], value: float | None,
             state: SearchState = SearchState.COMPLETED, step: int | None = None) -> None:
        values = point.point if isinstance(point, Suggestion) else point
        for sampler in self.samplers:
            if sampler.matches(values):
                sampler.tell(values, value, state, step)
                return
        raise ValueError(f"{dict(values)} is the point of no grid point of this search")

    def hold(self, point: Mapping[str, Any]) -> bool:
        return any(sampler.hold(point) for sampler in self.samplers if sampler.matches(point))

    def rebuild(self, history: Iterable[Observation]) -> int:
        history = list(history)
        return sum(sampler.rebuild(history) for sampler in self.samplers)

    @property
    def told(self) -> int:
        return sum(s.told for s in self.samplers)

    @property
    def pending(self) -> list[dict[str, Any]]:
        return [p for s in self.samplers for p in s.pending]

    @property
    def best(self) -> Observation | None:
        found = [s.best for s in self.samplers if s.best is not None]
        if not found:
            return None
        pick = max if self.samplers[0].goal == "max" else min
        return pick(found, key=lambda o: o.value)  # type: ignore[arg-type,return-value]

    def points(self) -> list[dict[str, Any]]:
        """Every grid point's points, grid point by grid point (deterministic methods only)."""
        out: list[dict[str, Any]] = []
        for sampler in self.samplers:
            if not isinstance(sampler, DeterministicSampler):
                raise TypeError(f"{sampler.method} points are not known up front; ask for them")
            out.extend(sampler.points())
        return out


def make_sampler(
    method: str,
    space: Space,
    samples: int,
    seed: int = 0,
    goal: Goal = "max",
    grid_points: Sequence[Mapping[str, Any]] = ({},),
    **options: Any,
) -> Sampler:
    """The sampler of a sweep: ``method`` over ``space`` at each of ``grid_points`` (the
    output of ``orchestrator.config.grid_points``; default: no grid), ``samples`` points
    each (for ``grid``: the grid points themselves, ``space`` empty). One grid point: that
    point's sampler itself; several: a :class:`PerGridPoint`. ``options`` go to the
    sampler class (``startup=`` for tpe)."""
    cls = SAMPLERS[method]
    if method == "grid":
        samples = 1 if not space else samples
    samplers = [cls(space, samples, seed_for(seed, fixed), goal, fixed, **options) for fixed in grid_points]
    return samplers[0] if len(samplers) == 1 else PerGridPoint(samplers)


def search_points(
    grid_points: Sequence[Mapping[str, Any]], space: Space, method: str, samples: int, seed: int = 0
) -> list[dict[str, Any]]:
    """Every point a deterministic sweep tries, grid point by grid point, each grid point's
    ``samples`` draws in draw order: a pure function of its arguments, so the planner can
    turn it into trial ids up front and a re-run, anywhere, plans the same ids. ``grid``
    (``space`` empty) gives ``grid_points`` back. Raises TypeError for ``tpe``."""
    if method == "grid" and not space:
        return [dict(p) for p in grid_points]
    if not SAMPLERS[method].deterministic:
        raise TypeError(f"{method} points are not known up front; the executor asks for them")
    out: list[dict[str, Any]] = []
    for fixed in grid_points:
        sampler = SAMPLERS[method](space, samples, seed_for(seed, fixed), "max", fixed)
        out.extend(sampler.points())  # type: ignore[attr-defined]
    return out
