"""The recipe the executor follows, end to end on a real (in-memory) results store: points
become trials, outcomes are stored, a killed search is rebuilt from the store and ends with
exactly ``samples`` distinct trials, none twice."""

from __future__ import annotations

import dataclasses
import math
import statistics

import pytest

from orchestrator.config import parse_experiment, resolve_model, with_overrides
from orchestrator.answers import Where, select_trials
from orchestrator.search import (
    Choice,
    LogUniform,
    SearchState,
    combine_seeds,
    history_from_rows,
    make_sampler,
    search_points,
)
from orchestrator.store import InMemoryResultsStore
from orchestrator.trial import TrialSpec, TrialStatus, param_column, trial_id_for
from tests.conftest import finished

pytestmark = pytest.mark.unit

EXPERIMENT = parse_experiment({"name": "search", "training": {"epochs": 2}})
SPACE = {"training.learning_rate": LogUniform(1e-5, 1e-1), "model.activation": Choice(("relu", "tanh"))}
SEEDS = [0, 1]


def column_of(path: str) -> str:
    return param_column(*path.split(".", 1))


def spec_for(point: dict, seed: int) -> TrialSpec:
    """What the sweep expansion does with a grid point, for a searched point."""
    e = with_overrides(EXPERIMENT, {**point, "training.seed": seed})
    e = dataclasses.replace(e, model=resolve_model(e.model))
    return TrialSpec(sweep=EXPERIMENT.name, trial_id=trial_id_for(e.dataset, e.model, e.training), dataset=e.dataset,
                     model=e.model, training=e.training, resources=e.resources, point=point)


def accuracy(point: dict, seed: int) -> float:
    return 0.99 - abs(math.log10(point["training.learning_rate"]) + 3) / 10 - seed / 1000


def run(store, sampler, trainers: int, stop_after: int | None = None) -> int:
    """Ask while a trainer is free; a point's trials run (one per seed), are stored, and the
    point is told once all its seeds ended. Stops (as if killed) after ``stop_after``
    stored points, with the points then running lost. Returns the points stored."""
    stored = 0
    running = []
    while True:
        while len(running) < trainers and (suggestion := sampler.ask()) is not None:
            running.append(suggestion)
        if not running:
            return stored
        suggestion = running.pop(0)
        runs = []
        for seed in SEEDS:
            spec = spec_for(suggestion.point, seed)
            acc = accuracy(suggestion.point, seed)
            stopped = suggestion.point["model.activation"] == "tanh" and seed == 1  # halving, say
            result = finished(spec, acc, status=TrialStatus.STOPPED if stopped else TrialStatus.COMPLETED)
            result.epochs[-1].val_accuracy = acc
            store.append(spec, result)
            runs.append((SearchState.of_status(result.status.value), acc, len(result.epochs)))
        sampler.tell(suggestion, *combine_seeds(runs, seeds=len(SEEDS)))
        stored += 1
        if stop_after is not None and stored == stop_after:
            return stored


def history(store):
    rows = select_trials(store, Where.of(sweep=EXPERIMENT.name)).to_pylist()
    return history_from_rows(rows, list(SPACE), "val_accuracy", column_of, seeds=len(SEEDS))


@pytest.mark.parametrize("method", ["tpe", "random", "sobol"])
def test_a_search_cut_off_after_five_points_resumes_to_exactly_samples_distinct_points(method):
    store = InMemoryResultsStore()
    assert run(store, make_sampler(method, SPACE, 12, seed=7), trainers=2, stop_after=5) == 5
    assert len(select_trials(store)) == 5 * len(SEEDS)

    resumed = make_sampler(method, SPACE, 12, seed=7)
    assert resumed.rebuild(history(store)) == 5 == resumed.told  # every stored point told again
    run(store, resumed, trainers=2)
    trials = select_trials(store, Where.of(sweep=EXPERIMENT.name), latest=False)
    ids = trials["trial_id"].to_pylist()
    assert len(ids) == len(set(ids)) == 12 * len(SEEDS)  # no trial ran twice
    assert resumed.told == 12 and resumed.ask() is None
    # The best: among points whose seeds all completed (relu; tanh's seed 1 was stopped), the
    # highest mean of the script's accuracy over the seeds, from the stored learning rates.
    relu = {r["learning_rate"] for r in trials.to_pylist() if r["activation"] == "relu"}
    assert relu
    expected = max(statistics.fmean(accuracy({"training.learning_rate": lr, "model.activation": "relu"}, s)
                                    for s in SEEDS) for lr in relu)
    assert resumed.best.value == pytest.approx(expected, rel=1e-12)
    if method != "tpe":  # deterministic: the very trials an uninterrupted sweep plans
        planned = {spec_for(p, s).trial_id for p in search_points([{}], SPACE, method, 12, seed=7) for s in SEEDS}
        assert set(ids) == planned


def test_random_plans_the_same_trial_ids_into_two_stores():
    def plan():
        return [spec_for(p, s).trial_id for p in search_points([{}], SPACE, "random", 10, seed=3) for s in SEEDS]

    assert plan() == plan() and len(set(plan())) == 20


def test_a_point_missing_a_seed_is_asked_again_and_runs_only_that_seed():
    store = InMemoryResultsStore()
    point = make_sampler("tpe", SPACE, 4, seed=1).ask().point
    spec = spec_for(point, 0)
    store.append(spec, finished(spec, 0.9))  # killed after seed 0 of the first point
    resumed = make_sampler("tpe", SPACE, 4, seed=1)
    assert resumed.rebuild(history(store)) == 1
    assert resumed.ask().point == point  # again, so that seed 1 runs; seed 0's trial id is stored already
