"""What a searched field's values may be: four frozen distributions.

Each maps a unit number ``u`` in [0, 1) to a value (``from_unit``: how random and Sobol
draws become values) and gives the equivalent Optuna distribution for TPE. Values are plain
Python (``float``, ``int``, or whatever a choice lists), so they go into configs, trial ids
and Parquet unchanged. Optuna is imported only by :meth:`optuna_distribution`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

__all__ = ["Distribution", "Uniform", "LogUniform", "IntRange", "Choice"]


class Distribution(ABC):
    """A field's search range. ``size`` is the number of distinct values (``math.inf`` for
    a float range); ``values()`` lists them when finite."""

    @abstractmethod
    def from_unit(self, u: float) -> Any:
        """The value at ``u``, 0 <= u < 1; uniform ``u`` gives values distributed as this."""

    @abstractmethod
    def contains(self, value: Any) -> bool:
        """Whether ``value`` (e.g. read back from the store) is one this distribution gives."""

    @abstractmethod
    def as_config(self) -> dict[str, Any]:
        """The distribution as the experiment file writes it (``{loguniform: [lo, hi]}``),
        so that a saved experiment reads back the same."""

    @abstractmethod
    def optuna_distribution(self) -> Any:
        """The ``optuna.distributions`` equivalent."""

    def to_optuna(self, value: Any) -> Any:
        """``value`` as Optuna's param (the same, except for :class:`Choice`)."""
        return value

    def from_optuna(self, param: Any) -> Any:
        """An Optuna param back as a value (inverse of :meth:`to_optuna`)."""
        return param

    @property
    def size(self) -> float:
        return math.inf

    def values(self) -> list[Any]:
        raise TypeError(f"{self} has infinitely many values; a grid needs choice or int")


def _below(value: float, high: float, low: float) -> float:
    """``value`` kept inside [low, high): float rounding can land exactly on ``high``."""
    return min(max(value, low), math.nextafter(high, low))


@dataclass(frozen=True)
class Uniform(Distribution):
    """Floats evenly spread over [low, high)."""

    low: float
    high: float

    def as_config(self) -> dict[str, Any]:
        return {"uniform": [self.low, self.high]}

    def from_unit(self, u: float) -> float:
        return _below(self.low + u * (self.high - self.low), self.high, self.low)

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high

    def optuna_distribution(self) -> Any:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high)


@dataclass(frozen=True)
class LogUniform(Distribution):
    """Floats in [low, high) whose logarithm is uniform: as many draws in 1e-5..1e-4 as in
    1e-2..1e-1. ``0 < low < high``."""

    low: float
    high: float

    def as_config(self) -> dict[str, Any]:
        return {"loguniform": [self.low, self.high]}

    def from_unit(self, u: float) -> float:
        log_low, log_high = math.log(self.low), math.log(self.high)
        return _below(math.exp(log_low + u * (log_high - log_low)), self.high, self.low)

    def contains(self, value: Any) -> bool:
        return Uniform(self.low, self.high).contains(value)

    def optuna_distribution(self) -> Any:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high, log=True)


@dataclass(frozen=True)
class IntRange(Distribution):
    """Integers ``low..high``, both ends included, each equally likely; with ``log`` (needs
    ``low >= 1``) the logarithm is uniform instead, as Optuna's ``IntDistribution(log=True)``:
    the continuous draw spans [low - 0.5, high + 0.5) so that the ends get their share."""

    low: int
    high: int
    log: bool = False

    def as_config(self) -> dict[str, Any]:
        return {"int": [self.low, self.high], **({"log": True} if self.log else {})}

    def from_unit(self, u: float) -> int:
        if self.log:
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            value = round(math.exp(lo + u * (hi - lo)))
        else:
            value = self.low + math.floor(u * (self.high - self.low + 1))
        return int(min(max(value, self.low), self.high))

    def contains(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high

    def optuna_distribution(self) -> Any:
        from optuna.distributions import IntDistribution

        return IntDistribution(self.low, self.high, log=self.log)

    @property
    def size(self) -> float:
        return self.high - self.low + 1

    def values(self) -> list[Any]:
        return list(range(self.low, self.high + 1))


@dataclass(frozen=True)
class Choice(Distribution):
    """One of ``choices``, each equally likely. Choices may be any config value (names,
    numbers, booleans, lists such as ``filters``); Optuna sees their indices, since its
    categorical distribution takes only scalars."""

    choices: tuple[Any, ...]

    def as_config(self) -> dict[str, Any]:
        return {"choice": list(self.choices)}

    def from_unit(self, u: float) -> Any:
        return self.choices[min(math.floor(u * len(self.choices)), len(self.choices) - 1)]

    def contains(self, value: Any) -> bool:
        return any(_same(value, c) for c in self.choices)

    def optuna_distribution(self) -> Any:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(tuple(range(len(self.choices))))

    def to_optuna(self, value: Any) -> int:
        for index, choice in enumerate(self.choices):
            if _same(value, choice):
                return index
        raise ValueError(f"{value!r} is not one of the choices {list(self.choices)}")

    def from_optuna(self, param: Any) -> Any:
        return self.choices[int(param)]

    @property
    def size(self) -> float:
        return len(self.choices)

    def values(self) -> list[Any]:
        return list(self.choices)


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same kind: ``True`` is not the choice ``1``, ``1`` is the choice ``1.0``."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)
