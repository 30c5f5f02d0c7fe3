"""Every combination of finitely many values, in order: the grid as a sampler."""

from __future__ import annotations

from typing import Any

from orchestrator.search._base import DeterministicSampler

__all__ = ["GridSampler"]


class GridSampler(DeterministicSampler):
    """The Cartesian product of the space's values (each a :class:`Choice` or
    :class:`IntRange`), fields in space order, last field fastest: the order of
    ``orchestrator.config.grid_points``. ``samples`` caps how many are tried; the seed plays
    no part. The planner expands ``sweep.grid`` itself; this sampler lets an executor that
    only asks and tells drive a grid too."""

    method = "grid"

    def draw(self, k: int) -> dict[str, Any]:
        if k >= self.size:
            raise IndexError(f"grid point {k} of a grid of {self.size:g}")
        values: dict[str, Any] = {}
        for path, distribution in reversed(list(self.space.items())):
            options = distribution.values()
            k, index = divmod(k, len(options))
            values[path] = options[index]
        return {path: values[path] for path in self.space}

    def points(self, n: int | None = None) -> list[dict[str, Any]]:
        n = min(self.samples if n is None else n, int(self.size))
        return [self._merged(self.draw(k)) for k in range(n)]
