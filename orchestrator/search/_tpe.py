"""Optuna's TPE behind the sampler interface: adaptive, parallel through the constant liar.

Optuna is the sampler only: its study lives in memory and is rebuilt from the results
store on every run, which stays the one record of what was tried.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from orchestrator.search._base import Goal, Observation, SearchState, SpaceSampler, point_key
from orchestrator.search._space import Space

__all__ = ["TPESampler"]

_DUPLICATES = 50  # suggestions of an already-tried point skipped before the space counts as exhausted


class TPESampler(SpaceSampler):
    """``optuna.samplers.TPESampler(seed=seed, constant_liar=True)`` on an in-memory study
    (direction from ``goal``), through ``study.ask`` / ``study.tell``.

    Pending points take part as trials of state RUNNING, which the constant liar scores as
    the worst so far, so N trainers asking in turn are steered apart instead of all getting
    the current optimum. Pruned points carry their last value as an intermediate value at
    ``step`` (the epoch stopped at), which TPE uses to rank them. A stored point comes in as
    a finished trial (``optuna.trial.create_trial`` + ``study.add_trial``): it shapes the
    model but consumes none of the sampler's random state, so the asks that follow a rebuild
    are a function of (seed, history).

    ``startup``: how many points are drawn at random before TPE models the rest (Optuna's
    ``n_startup_trials``, default 10). ``constant_liar=False`` only to measure what the liar
    buys (tests, benchmarks): pending points are then ignored.
    """

    method = "tpe"

    def __init__(
        self,
        space: Space,
        samples: int,
        seed: int = 0,
        goal: Goal = "max",
        fixed: Mapping[str, Any] | None = None,
        startup: int = 10,
        constant_liar: bool = True,
    ) -> None:
        super().__init__(space, samples, seed, goal, fixed)
        import optuna  # lazily: ~0.5 s, and only TPE needs it

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per trial on stderr
        optuna.logging.disable_propagation()
        with warnings.catch_warnings():  # multivariate / constant liar are marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=constant_liar, n_startup_trials=startup)
        self._optuna = optuna
        self._study = optuna.create_study(sampler=sampler, direction="maximize" if goal == "max" else "minimize")
        self._distributions = {path: d.optuna_distribution() for path, d in self.space.items()}
        self._trials: dict[str, Any] = {}  # point key -> the pending optuna Trial
        self._values: dict[str, float | None] = {}  # point key -> value told (completed points)

    def _ask(self) -> tuple[Any, dict[str, Any]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self._optuna.exceptions.ExperimentalWarning)
            trial = self._study.ask(self._distributions)
        values = {path: self.space[path].from_optuna(trial.params[path]) for path in self.space}
        return trial, self._merged(values)

    def _propose(self) -> dict[str, Any] | None:
        if len(self._done) + len(self._pending) >= self.size:
            return None
        for _ in range(_DUPLICATES):
            trial, point = self._ask()
            key = point_key(point)
            if not self.taken(key):
                self._trials[key] = trial
                return point
            # Tried already (small discrete spaces): answer TPE from what is known, so that
            # the next ask moves on, without running the point twice.
            known = self._values.get(key)
            if known is None:
                self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
            else:
                self._study.tell(trial, known)
        return None

    def _adopt(self, point: dict[str, Any]) -> None:
        # A point stored as failed is run again: enqueued, so that the ask returns exactly it.
        self._study.enqueue_trial({p: d.to_optuna(point[p]) for p, d in self.space.items()})
        trial, _ = self._ask()
        self._trials[point_key(point)] = trial

    def _record(self, point: dict[str, Any], value: float | None, state: SearchState, step: int | None,
                asked: bool) -> None:
        optuna = self._optuna
        key = point_key(point)
        states = {SearchState.COMPLETED: optuna.trial.TrialState.COMPLETE,
                  SearchState.PRUNED: optuna.trial.TrialState.PRUNED, SearchState.FAILED: optuna.trial.TrialState.FAIL}
        if state is SearchState.COMPLETED:
            self._values[key] = value
        if asked:
            trial = self._trials.pop(key)
            if state is SearchState.PRUNED and value is not None:
                trial.report(value, step or 0)
            self._study.tell(trial, value if state is SearchState.COMPLETED else None, state=states[state])
            return
        frozen = optuna.trial.create_trial(
            params={p: d.to_optuna(point[p]) for p, d in self.space.items()},
            distributions=self._distributions,
            value=value if state is SearchState.COMPLETED else None,
            state=states[state],
            intermediate_values={step or 0: value} if state is SearchState.PRUNED and value is not None else None,
        )
        self._study.add_trial(frozen)

    def observations(self) -> list[Observation]:
        """What the Optuna study holds as finished (told, from the store or live), read back
        from the study itself, in the order told: each trial's point, its value (a pruned
        one: its last intermediate value, at that step) and state. Duplicates answered from
        the known value count too. For tests and reports: it shows what TPE models on."""
        optuna = self._optuna
        states = {optuna.trial.TrialState.COMPLETE: SearchState.COMPLETED,
                  optuna.trial.TrialState.PRUNED: SearchState.PRUNED, optuna.trial.TrialState.FAIL: SearchState.FAILED}
        out = []
        for trial in self._study.get_trials(deepcopy=False):
            state = states.get(trial.state)
            if state is None:  # still running (pending)
                continue
            point = self._merged({p: self.space[p].from_optuna(trial.params[p]) for p in self.space})
            step = max(trial.intermediate_values) if trial.intermediate_values else None
            value = trial.value if state is SearchState.COMPLETED else (
                trial.intermediate_values[step] if step is not None else None)
            out.append(Observation(point, value, state, step))
        return out

    @property
    def study_size(self) -> int:
        """Trials in the Optuna study (told, pending and duplicates answered): for tests."""
        return len(self._study.trials)
