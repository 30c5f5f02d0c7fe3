"""Scrambled Sobol points: even coverage of the space for small budgets."""

from __future__ import annotations

import inspect
import math
import warnings
from typing import Any

from orchestrator.search._base import DeterministicSampler

__all__ = ["SobolSampler"]


class SobolSampler(DeterministicSampler):
    """Draw ``k`` is the ``k``-th point of scipy's scrambled Sobol sequence
    (``scipy.stats.qmc.Sobol(d, scramble=True, seed=seed)``), one dimension per field in
    sorted field order, mapped by each distribution's ``from_unit``. Scrambling (seeded)
    keeps the low-discrepancy coverage while making each seed a different, unbiased design;
    unscrambled Sobol starts at the corner point 0. A budget that is a power of two keeps
    the sequence's balance best. The points are those of scipy's and NumPy's algorithms:
    machines that must plan the same trial ids need the same scipy (``random`` has no such
    dependence)."""

    method = "sobol"

    def _units(self, n: int) -> list[list[float]]:
        cached: list[list[float]] = getattr(self, "_cache", [])
        if len(cached) < n:
            import numpy as np
            from scipy.stats import qmc  # lazily: scipy.stats takes ~0.5 s to import

            # A Generator, not the int: scipy reads `seed=int` (legacy) and `rng=int` (new)
            # differently, and a Generator gives the same points under either name.
            generator = np.random.default_rng(self.seed)
            name = "rng" if "rng" in inspect.signature(qmc.Sobol).parameters else "seed"
            engine = qmc.Sobol(d=len(self.space), scramble=True, **{name: generator})
            with warnings.catch_warnings():  # "balance properties ... power of 2": said in the docstring
                warnings.simplefilter("ignore", UserWarning)
                cached = engine.random_base2(max(1, math.ceil(math.log2(n)))).tolist()
            self._cache = cached
        return cached

    def draw(self, k: int) -> dict[str, Any]:
        if not self.space:
            return {}
        units = self._units(k + 1)[k]
        paths = sorted(self.space)
        return {path: self.space[path].from_unit(units[paths.index(path)]) for path in self.space}
