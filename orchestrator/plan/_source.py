"""Where the executor's next trial comes from: a plan made up front (grid, random, sobol) or
a search that asks its sampler as trainers free up (tpe). Pure: no Ray, no TensorFlow.

The executor only asks and tells: :meth:`TrialSource.take` when a trainer is free,
:meth:`TrialSource.finished` when a trial's result is stored. Retries of crashed trials are
the executor's own business and never reach the source twice: a trial is finished once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from orchestrator.config import Experiment
from orchestrator.config._rules import check_point
from orchestrator.errors import ConfigError
from orchestrator.search import Observation, SearchState, Suggestion, combine_seeds, point_key
from orchestrator.search._base import Sampler
from orchestrator.plan._expand import specs_for_point
from orchestrator.trial import TrialResult, TrialSpec

__all__ = ["TrialSource", "PlannedTrials", "SearchTrials", "result_metric"]

# A sampler may suggest points the cross-field rules refuse (momentum with adam, say). They
# are told as failed and another is asked, this many times at most in a row.
_MAX_REFUSED_IN_A_ROW = 100


class TrialSource(ABC):
    # What "best so far" means in the progress view: sweep.metric and sweep.goal.
    metric: str = "val_accuracy"
    goal: str = "max"

    @abstractmethod
    def take(self) -> TrialSpec | None:
        """The next trial to start, or None when no more will come."""

    def finished(self, spec: TrialSpec, result: TrialResult) -> None:
        """``spec``'s final result is stored (completed, stopped or failed for good)."""

    def finished_elsewhere(self, spec: TrialSpec) -> None:
        """``spec`` was taken and will not run here: another driver sharing the sweep ran it."""

    @property
    @abstractmethod
    def total(self) -> int:
        """How many trials this run starts (for progress)."""

    @property
    def waiting(self) -> bool:
        """``take`` returned None for now, but trials may still come (another driver holds
        them): the executor asks again later instead of ending the sweep."""
        return False

    @property
    def lost(self) -> set[str]:
        """Trials handed out that this driver may no longer store (another driver took them
        over): the executor stops them and stores nothing of them."""
        return set()

    def close(self) -> None:
        """The run is over (or interrupted): release whatever the source holds."""


class PlannedTrials(TrialSource):
    """A list planned up front, taken in order."""

    def __init__(self, specs: list[TrialSpec], metric: str = "val_accuracy", goal: str = "max") -> None:
        self._specs = list(specs)
        self.metric, self.goal = metric, goal
        self._next = 0

    def take(self) -> TrialSpec | None:
        if self._next >= len(self._specs):
            return None
        self._next += 1
        return self._specs[self._next - 1]

    @property
    def total(self) -> int:
        return len(self._specs)


@dataclass
class _AskedPoint:
    suggestion: Suggestion
    # trial id -> (state, value, epochs run), one entry per seed once it has ended
    outcomes: dict[str, tuple[SearchState, float | None, int | None]] = field(default_factory=dict)
    seeds: int = 1


class SearchTrials(TrialSource):
    """Asks ``sampler`` for a point whenever a trainer is free; each point becomes one trial
    per seed (:func:`orchestrator.plan.specs_for_point`), and once all of a point's trials
    have ended the point is told, the seeds combined (:func:`combine_seeds`). ``sampler``
    must already be rebuilt from the store; ``finished_ids`` are trials stored with a final
    result (a point whose trials are all stored is told without running anything)."""

    def __init__(
        self,
        experiment: Experiment,
        sampler: Sampler,
        finished_ids: set[str],
        total: int,
        adjust: Callable[[TrialSpec], TrialSpec] | None = None,
        told: set[str] | None = None,
    ) -> None:
        self.experiment = experiment
        self.metric, self.goal = experiment.sweep.metric, experiment.sweep.goal
        self._adjust = adjust or (lambda spec: spec)  # e.g. where the trial's artifacts go
        self.sampler = sampler
        self._finished_ids = set(finished_ids)
        self._queue: list[TrialSpec] = []
        self._asked: dict[str, _AskedPoint] = {}
        self._total = total
        self.refused: list[str] = []  # the one-line reason of each point the rules refused
        # Other drivers on the same sweep (None: this driver alone): before each ask, what they
        # stored (outcomes per point) and what they run now (points), so that the sampler
        # learns from them and the budget counts their points too (see orchestrator.driver).
        self.peers: Callable[[], tuple[list[Observation], list[dict[str, Any]]]] | None = None
        # Points told to the sampler (``told``: by its rebuild from the store) or asked by it.
        self._known: set[str] = set(told or ())

    def take(self) -> TrialSpec | None:
        refused_in_a_row = 0
        while not self._queue:
            self._sync_with_peers()
            suggestion = self.sampler.ask()
            if suggestion is None:
                return None
            try:
                check_point(self.experiment, suggestion.point, origin=self.experiment.name)
            except ConfigError as e:
                self.refused.append(str(e))
                self.sampler.tell(suggestion, None, SearchState.FAILED)
                refused_in_a_row += 1
                if refused_in_a_row >= _MAX_REFUSED_IN_A_ROW:
                    raise ConfigError(
                        f"{self.experiment.name}: sweep.space: the last {refused_in_a_row} points drawn all break a "
                        f"rule, e.g. {self.refused[-1]}; narrow the space"
                    ) from e
                continue
            specs = [s for s in specs_for_point(self.experiment, suggestion.point) if s.trial_id not in self._finished_ids]
            if not specs:  # stored already under another search: nothing new to learn by running it
                self.sampler.tell(suggestion, None, SearchState.PRUNED)
                continue
            self._asked[point_key(suggestion.point)] = _AskedPoint(suggestion, seeds=len(specs))
            self._known.add(point_key(suggestion.point))
            self._queue.extend(self._adjust(s) for s in specs)
        return self._queue.pop(0)

    def _sync_with_peers(self) -> None:
        if self.peers is None:
            return
        outcomes, running = self.peers()
        for outcome in outcomes:
            key = point_key(outcome.point)
            if key in self._known:
                continue
            self._known.add(key)
            try:
                self.sampler.tell(outcome.point, outcome.value, outcome.state, outcome.step)
            except ValueError:
                continue  # not a point of this search's space (stored under another config)
        for point in running:
            if point_key(point) not in self._known:
                self.sampler.hold(point)

    def finished(self, spec: TrialSpec, result: TrialResult) -> None:
        state = SearchState.of_status(result.status.value)
        self._outcome(spec, (state, result_metric(result, self.experiment.sweep.metric), len(result.epochs)))

    def finished_elsewhere(self, spec: TrialSpec) -> None:
        # Another driver ran this trial of the point; its value reaches this sampler when
        # the point is read back from the store (a later run), not now: pruned, no value.
        self._outcome(spec, (SearchState.PRUNED, None, None))

    def _outcome(self, spec: TrialSpec, outcome: tuple[SearchState, float | None, int | None]) -> None:
        asked = self._asked.get(point_key(spec.point))
        if asked is None:
            return
        asked.outcomes[spec.trial_id] = outcome
        if len(asked.outcomes) == asked.seeds:
            del self._asked[point_key(spec.point)]
            value, state, step = combine_seeds(list(asked.outcomes.values()), seeds=asked.seeds)
            self.sampler.tell(asked.suggestion, value, state, step)

    @property
    def total(self) -> int:
        return self._total


def result_metric(result: TrialResult, metric: str) -> float | None:
    """A trial's value of ``metric``: the last epoch's for per-epoch metrics (``train_*`` are
    the epoch's ``loss``/``accuracy``), else the trial's own field (``test_accuracy``, timings)."""
    last = result.final_epoch
    per_epoch = {"val_accuracy": "val_accuracy", "val_loss": "val_loss", "train_accuracy": "accuracy", "train_loss": "loss"}
    if metric in per_epoch:
        value = getattr(last, per_epoch[metric]) if last is not None else None
    elif metric.startswith("test_") and metric[5:] in result.test_metrics:  # training.metrics on test data
        value = result.test_metrics[metric[5:]]
    elif metric.startswith(("val_", "train_")) and not hasattr(result, metric):  # training.metrics per epoch
        value = last.metrics.get(metric.removeprefix("train_")) if last is not None else None
    else:
        value = getattr(result, metric, None)
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)
