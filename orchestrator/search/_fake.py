"""A scripted sampler for executor tests: suggests given points, records every tell."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from orchestrator.search._base import Observation, Sampler, SearchState, Suggestion, point_key

__all__ = ["ScriptedSampler"]


class ScriptedSampler(Sampler):
    """Suggests ``points`` in order (pending or told ones skipped), then None; keeps every
    tell in ``tells`` as an :class:`Observation`. Like KerasTuner's mock model it replays a
    script, so executor tests check when the executor asks and what it tells without any
    real search. Follows the :class:`Sampler` contract (tests/test_samplers.py)."""

    def __init__(self, points: Sequence[Mapping[str, Any]], goal: str = "max") -> None:
        self.script = [dict(p) for p in points]
        self.goal = goal
        self.tells: list[Observation] = []
        self.asks = 0
        self._pending: dict[str, dict[str, Any]] = {}
        self._done: set[str] = set()

    def ask(self) -> Suggestion | None:
        for point in self.script:
            key = point_key(point)
            if key not in self._done and key not in self._pending:
                self._pending[key] = point
                self.asks += 1
                return Suggestion(self.asks - 1, dict(point))
        return None

    def tell(self, point: Suggestion | Mapping[str, Any], value: float | None,
             state: SearchState = SearchState.COMPLETED, step: int | None = None) -> None:
        values = dict(point.point if isinstance(point, Suggestion) else point)
        key = point_key(values)
        asked = self._pending.pop(key, None) is not None
        if asked or state is not SearchState.FAILED:
            self._done.add(key)
        self.tells.append(Observation(values, value, state, step))

    def rebuild(self, history: Iterable[Observation]) -> int:
        count = 0
        for observation in history:
            self.tell(observation.point, observation.value, observation.state, observation.step)
            count += 1
        return count

    @property
    def told(self) -> int:
        return len(self.tells)

    @property
    def pending(self) -> list[dict[str, Any]]:
        return list(self._pending.values())

    @property
    def best(self) -> Observation | None:
        done = [o for o in self.tells if o.state is SearchState.COMPLETED and o.value is not None]
        if not done:
            return None
        return (max if self.goal == "max" else min)(done, key=lambda o: o.value)  # type: ignore[arg-type,return-value]
