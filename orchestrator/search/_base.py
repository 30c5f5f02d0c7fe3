"""The sampler interface every search method implements: ask for a point, tell its outcome.

A *point* is a plain ``dict`` of dotted field -> value (``{"training.learning_rate": 3e-4,
"model.activation": "relu"}``): the searched fields plus the grid point's fixed fields.
The executor turns a point into trials (one per training seed), runs them, and tells the
sampler once per point. Samplers are pure bookkeeping over points; they never run anything,
and the results store, not the sampler, is the record: on resume a sampler is rebuilt by
telling it every stored point again (:meth:`Sampler.rebuild`).

Contract (tests/test_samplers.py checks it for every method):

- ``ask()`` returns a new :class:`Suggestion`, or ``None`` once ``samples`` points are
  pending or told (or the space has no untried point left). A point is never suggested
  twice, except that a point whose stored trial *failed* is suggested again after a
  rebuild, as a re-run of a grid retries failed trials.
- ``tell(point, value, state)`` records an outcome. A point that is pending (asked, not
  told) completes its ask. Any other point is taken as one from the store: it fills one of
  the ``samples`` slots (unless it failed: then it is queued to be asked again) and is never
  suggested. ``told`` counts every tell.
- Not thread-safe: one driver thread asks and tells.
"""

from __future__ import annotations

import enum
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from orchestrator.search._space import Space, space_size

__all__ = [
    "Goal", "SearchState", "Suggestion", "Observation", "Sampler", "SpaceSampler", "DeterministicSampler", "point_key",
]

Goal = Literal["max", "min"]


class SearchState(enum.Enum):
    """How a trial ended, as a sampler needs to know it."""

    COMPLETED = "completed"  # ran to its end; its value is the metric
    PRUNED = "pruned"  # stopped early by a rule (halving, chance, diverged); value: the metric when stopped
    FAILED = "failed"  # raised or crashed: no result; a re-run of the sweep tries it again

    @classmethod
    def of_status(cls, status: str) -> SearchState:
        """The state for a stored trial's ``status`` (``completed``, ``stopped``, ``failed``)."""
        return {"completed": cls.COMPLETED, "stopped": cls.PRUNED, "failed": cls.FAILED}[str(status)]


@dataclass(frozen=True)
class Suggestion:
    """The ``number``-th point a sampler suggested (0-based, in ask order)."""

    number: int
    point: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class Observation:
    """A point's outcome as stored: what :meth:`Sampler.rebuild` tells again. ``step``: for
    a pruned point, the epoch it was stopped at (TPE ranks later stops higher)."""

    point: dict[str, Any] = field(hash=False)
    value: float | None
    state: SearchState
    step: int | None = None


def point_key(point: Mapping[str, Any]) -> str:
    """A canonical text for a point (equal points, equal keys; ``1`` and ``1.0`` differ, so
    values must already be coerced to their field's type, as the config loader does)."""
    return json.dumps(dict(point), sort_keys=True, default=repr)


def _usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


class Sampler(ABC):
    """What the executor sees of a search: ask for points, tell their outcomes (the module
    docstring states the contract). Implemented by every method's :class:`SpaceSampler`,
    by :class:`~orchestrator.search.PerGridPoint` (one sampler per grid point) and by the
    scripted fake that executor tests drive."""

    @abstractmethod
    def ask(self) -> Suggestion | None:
        """A point to run next, or None when the budget is spent (or no point is left)."""

    @abstractmethod
    def tell(
        self,
        point: Suggestion | Mapping[str, Any],
        value: float | None,
        state: SearchState = SearchState.COMPLETED,
        step: int | None = None,
    ) -> None:
        """Record a point's outcome (pending, or else taken as one from the store)."""

    @abstractmethod
    def rebuild(self, history: Iterable[Observation]) -> int:
        """Tell every stored outcome that belongs to this sampler; how many were told."""

    def hold(self, point: Mapping[str, Any]) -> bool:
        """``point`` runs elsewhere (another driver sharing the sweep asked it): it takes a
        slot of the budget and is not suggested here; its outcome comes later, told like a
        stored one. False (and nothing changes) for a point already pending, told or held,
        or not this sampler's."""
        return False

    @property
    @abstractmethod
    def told(self) -> int:
        """How many outcomes were told, history included."""

    @property
    @abstractmethod
    def pending(self) -> list[dict[str, Any]]:
        """Points asked and not yet told, in ask order."""

    @property
    @abstractmethod
    def best(self) -> Observation | None:
        """The best completed point so far, or None."""


class SpaceSampler(Sampler):
    """Suggests points of ``space`` (merged with the grid point ``fixed``), ``samples`` in
    all, and learns from what it is told. ``seed`` makes it reproducible; ``goal`` says
    whether larger values are better. Subclasses implement :meth:`_propose` and may hook
    :meth:`_adopt` and :meth:`_record`."""

    method: ClassVar[str]
    deterministic: ClassVar[bool] = False

    def __init__(
        self, space: Space, samples: int, seed: int = 0, goal: Goal = "max", fixed: Mapping[str, Any] | None = None
    ) -> None:
        if samples < 0:
            raise ValueError(f"samples must be >= 0, got {samples}")
        if goal not in ("max", "min"):
            raise ValueError(f"goal must be 'max' or 'min', got {goal!r}")
        self.space: Space = dict(space)
        self.samples = samples
        self.seed = seed
        self.goal: Goal = goal
        self.fixed: dict[str, Any] = dict(fixed or {})
        both = set(self.space) & set(self.fixed)
        if both:
            raise ValueError(f"fields both fixed and searched: {sorted(both)}")
        self._pending: dict[str, dict[str, Any]] = {}
        self._done: set[str] = set()  # told, or failed during this run: never suggested again
        self._retry: list[dict[str, Any]] = []  # stored as failed: suggested again first
        self._used = 0  # slots of `samples` taken: pending, told, held, or failed here
        self._elsewhere: dict[str, dict[str, Any]] = {}  # held: running under another driver
        self._asked = 0
        self._told = 0
        self._best: Observation | None = None

    @property
    def told(self) -> int:
        """How many outcomes were told, history included."""
        return self._told

    @property
    def pending(self) -> list[dict[str, Any]]:
        """Points asked and not yet told, in ask order."""
        return list(self._pending.values())

    @property
    def best(self) -> Observation | None:
        """The best completed point so far (by ``goal``), or None."""
        return self._best

    @property
    def size(self) -> float:
        """How many distinct points the space has (``math.inf`` with a float range)."""
        return space_size(self.space)

    def ask(self) -> Suggestion | None:
        if self._used >= self.samples:
            return None
        if self._retry:
            point = self._retry.pop(0)
            self._adopt(point)
        else:
            point = self._propose()
            if point is None:
                return None
        self._pending[point_key(point)] = point
        self._used += 1
        self._asked += 1
        return Suggestion(self._asked - 1, dict(point))

    def tell(
        self,
        point: Suggestion | Mapping[str, Any],
        value: float | None,
        state: SearchState = SearchState.COMPLETED,
        step: int | None = None,
    ) -> None:
        """Record ``point``'s outcome. A completed point without a finite value (metric
        missing, NaN) is recorded as pruned: it ran, but there is nothing to rank it by."""
        point = dict(point.point if isinstance(point, Suggestion) else point)
        self._check(point)
        if state is SearchState.COMPLETED and not _usable(value):
            state = SearchState.PRUNED
        value = value if _usable(value) else None
        key = point_key(point)
        asked = self._pending.pop(key, None) is not None
        held = self._elsewhere.pop(key, None) is not None  # its slot is taken already
        self._record(point, value, state, step, asked)
        self._told += 1
        if state is SearchState.FAILED and not asked:
            if key not in self._done and all(point_key(p) != key for p in self._retry):
                self._retry.append(point)
        else:
            self._retry = [p for p in self._retry if point_key(p) != key]
            if not asked and not held and key not in self._done:
                self._used += 1
            self._done.add(key)
        if state is SearchState.COMPLETED and value is not None and self._better(value, self._best):
            self._best = Observation(point, value, state, step)

    def hold(self, point: Mapping[str, Any]) -> bool:
        point = dict(point)
        key = point_key(point)
        if not self.matches(point) or key in self._pending or key in self._done or key in self._elsewhere:
            return False
        self._elsewhere[key] = point
        self._used += 1
        return True

    def taken(self, key: str) -> bool:
        """Whether the point with this key was suggested, told or held: never proposed again."""
        return key in self._done or key in self._pending or key in self._elsewhere

    def rebuild(self, history: Iterable[Observation]) -> int:
        """Tell every stored outcome of this sampler's points (those that match its fixed
        fields and lie in its space; others are skipped); returns how many were told."""
        count = 0
        for observation in history:
            if self.matches(observation.point):
                self.tell(observation.point, observation.value, observation.state, observation.step)
                count += 1
        return count

    def matches(self, point: Mapping[str, Any]) -> bool:
        """Whether ``point`` is one this sampler could suggest."""
        return (set(point) == set(self.space) | set(self.fixed)
                and all(point[k] == v for k, v in self.fixed.items())
                and all(d.contains(point[p]) for p, d in self.space.items()))

    def _check(self, point: dict[str, Any]) -> None:
        if not self.matches(point):
            raise ValueError(f"{point} is not a point of this sampler "
                             f"(fields {sorted(self.space)}, fixed {self.fixed})")

    def _better(self, value: float, than: Observation | None) -> bool:
        if than is None or than.value is None:
            return True
        return value > than.value if self.goal == "max" else value < than.value

    def _merged(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.fixed, **values}

    @abstractmethod
    def _propose(self) -> dict[str, Any] | None:
        """A new point (fixed fields included) never suggested nor told, or None if none is left."""

    def _adopt(self, point: dict[str, Any]) -> None:
        """``point`` (stored as failed) is about to be suggested again."""

    def _record(
        self, point: dict[str, Any], value: float | None, state: SearchState, step: int | None, asked: bool
    ) -> None:
        """An outcome arrived (``asked``: for a pending point; else from the store)."""


class DeterministicSampler(SpaceSampler):
    """A sampler whose points are a pure function of (space, seed, fixed): :meth:`points`
    lists them up front, so a planner can turn them into trial ids without asking, and a
    re-run, anywhere, plans the very same ones. ``ask`` suggests them in that order."""

    deterministic = True
    _MAX_DRAWS_PER_POINT = 100  # duplicate draws (small discrete spaces) skipped before giving up

    @abstractmethod
    def draw(self, k: int) -> dict[str, Any]:
        """Draw ``k`` (0-based): searched field -> value, a pure function of (space, seed, k)."""

    def points(self, n: int | None = None) -> list[dict[str, Any]]:
        """The first ``n`` (default ``samples``) distinct draws, fixed fields merged in; fewer
        if the space has fewer points."""
        return [dict(p) for p in self._planned(self.samples if n is None else n)]

    def _planned(self, n: int) -> list[dict[str, Any]]:
        cached: list[dict[str, Any]] = getattr(self, "_plan_cache", [])
        if len(cached) >= n or getattr(self, "_plan_complete", False):
            return cached[:n]
        found: dict[str, dict[str, Any]] = {}
        limit = min(self.size, n)
        for k in range(max(1000, n * self._MAX_DRAWS_PER_POINT)):
            if len(found) >= limit:
                break
            point = self._merged(self.draw(k))
            found.setdefault(point_key(point), point)
        self._plan_cache = list(found.values())
        self._plan_complete = len(found) < n  # the space ran out: asking for more finds no more
        return self._plan_cache[:n]

    def _propose(self) -> dict[str, Any] | None:
        # Planned points before the cursor are all pending or told; failed ones come back
        # through the retry queue, not through here.
        planned = self._planned(self.samples)
        cursor = getattr(self, "_cursor", 0)
        while cursor < len(planned):
            point = planned[cursor]
            cursor += 1
            key = point_key(point)
            if key not in self._done and key not in self._pending:
                self._cursor = cursor
                return dict(point)  # a copy: the caller may change it, the plan must not change
        self._cursor = cursor
        return None
