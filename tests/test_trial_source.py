"""The executor's view of a sweep: take a trial when a trainer is free, tell when it is
stored. Driven here by a scripted sampler and by real TPE on an in-memory store."""

from __future__ import annotations

import pytest

from orchestrator.config import parse_experiment
from orchestrator.answers import Where, select_trials
from orchestrator.search import Choice, LogUniform, ScriptedSampler, SearchState, history_from_rows, make_sampler
from orchestrator.store import InMemoryResultsStore
from orchestrator.trial import TrialStatus, param_column
from orchestrator.plan import PlannedTrials, SearchTrials
from tests.conftest import finished, grid_specs

pytestmark = pytest.mark.unit

SPACE = {"training.learning_rate": LogUniform(1e-5, 1e-1), "model.activation": Choice(("relu", "tanh"))}


def experiment(seeds=(0,), **training):
    return parse_experiment({"name": "s", "training": {"epochs": 2, **training}, "sweep": {
        "method": "tpe", "samples": 6, "seeds": list(seeds),
        "space": {"training.learning_rate": {"loguniform": [1e-5, 1e-1]}, "model.activation": {"choice": ["relu", "tanh"]}},
    }})


def test_planned_trials_come_in_order_then_stop():
    specs = grid_specs(grid={"training.learning_rate": [0.1, 0.01]})
    source = PlannedTrials(specs)
    assert [source.take(), source.take(), source.take()] == [specs[0], specs[1], None]
    assert source.total == 2


def test_a_point_is_told_once_all_its_seeds_have_ended():
    points = [{"training.learning_rate": 0.01, "model.activation": "relu"},
              {"training.learning_rate": 0.001, "model.activation": "tanh"}]
    sampler = ScriptedSampler(points)
    source = SearchTrials(experiment(seeds=(0, 1)), sampler, set(), total=4)
    first, second = source.take(), source.take()
    assert first.point == second.point == points[0]
    assert {first.training.seed, second.training.seed} == {0, 1}
    source.finished(first, finished(first, 0.9))
    assert sampler.tells == []  # the other seed is still running
    result = finished(second, 0.7, status=TrialStatus.STOPPED)
    result.epochs[-1].val_accuracy = 0.55
    source.finished(second, result)
    (tell,) = sampler.tells
    assert tell.point == points[0] and tell.state is SearchState.PRUNED  # one seed stopped early
    # The mean of the seeds' last val_accuracy: finished() gives 0.45 + 2 / 10 = 0.65 at epoch 2.
    assert tell.value == pytest.approx((0.65 + 0.55) / 2) and tell.step == 2
    assert source.take().point == points[1]


def test_points_the_rules_refuse_are_told_failed_and_another_is_asked():
    bad = {"training.learning_rate": 0.01, "training.momentum": 0.9}  # adam has no momentum
    good = {"training.learning_rate": 0.01, "training.momentum": 0.0}
    sampler = ScriptedSampler([bad, good])
    source = SearchTrials(parse_experiment({"name": "s"}), sampler, set(), total=1)
    spec = source.take()
    assert spec.point == good
    assert [t.state for t in sampler.tells] == [SearchState.FAILED]
    assert "adam has no momentum" in source.refused[0]


def test_a_point_already_stored_runs_nothing():
    e = experiment()
    point = {"training.learning_rate": 0.01, "model.activation": "relu"}
    from orchestrator.plan import specs_for_point

    stored_id = specs_for_point(e, point)[0].trial_id
    sampler = ScriptedSampler([point])
    source = SearchTrials(e, sampler, {stored_id}, total=0)
    assert source.take() is None
    assert sampler.tells[0].state is SearchState.PRUNED


def test_tpe_cut_off_after_three_trials_is_rebuilt_from_every_stored_point_and_ends_at_the_budget():
    """The loop stops after 3 stored trials (as a killed driver would; the Ray tier kills a real
    one); the next run rebuilds TPE from the store and runs exactly the missing trials."""
    e = experiment()
    store = InMemoryResultsStore()

    def run(stop_after=None):
        sampler = make_sampler("tpe", e.sweep.space, e.sweep.samples, seed=0, goal="max")
        rows = select_trials(store, Where.of(sweep="s")).to_pylist()
        told = sampler.rebuild(history_from_rows(rows, list(e.sweep.space), "val_accuracy",
                                                 lambda p: param_column(*p.split(".", 1))))
        # What the study learned: exactly the stored points, each completed with its value
        # (finished() records val_accuracy 0.65 at epoch 2).
        learned = sorted((o.point["training.learning_rate"], o.point["model.activation"], o.state, o.value)
                         for o in sampler.observations())
        assert learned == sorted((r["learning_rate"], r["activation"], SearchState.COMPLETED, pytest.approx(0.65))
                                 for r in rows)
        source = SearchTrials(e, sampler, {r["trial_id"] for r in rows}, total=e.sweep.samples - len(rows))
        ran = 0
        running = []
        while True:
            while len(running) < 2 and (spec := source.take()) is not None:  # two trainers
                running.append(spec)
            if not running:
                return told, ran
            spec = running.pop(0)
            accuracy = 0.9 - abs(spec.training.learning_rate - 1e-3)
            result = finished(spec, accuracy)
            store.append(spec, result)
            source.finished(spec, result)
            ran += 1
            if stop_after is not None and ran == stop_after:
                return told, ran

    assert run(stop_after=3) == (0, 3)
    told, ran = run()
    assert told == 3 and ran == 3
    ids = select_trials(store, Where.of(sweep="s")).column("trial_id").to_pylist()
    assert len(ids) == len(set(ids)) == 6
    assert run() == (6, 0)
