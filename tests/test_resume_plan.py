"""A sweep run again after a kill: what the driver plans against the store (pure, on the
in-memory store). Every expected value is written down here, not derived from the code under
test: which trials run again, what ``--rerun`` hands the trainers, what a rebuilt tpe sampler
was told, which stored rung values count."""

from __future__ import annotations

import math

import pytest

from orchestrator.config import parse_experiment
from orchestrator.driver import plan_run
from orchestrator.plan import SuccessiveHalving, expand_sweep, specs_for_point
from orchestrator.search import Observation, SearchState
from orchestrator.store import InMemoryResultsStore
from orchestrator.trial import EpochRecord, TrialStatus
from tests.conftest import finished

pytestmark = pytest.mark.unit


def test_completed_and_stopped_are_final_and_failed_is_not():
    assert {s: s.is_final() for s in TrialStatus} == {
        TrialStatus.COMPLETED: True, TrialStatus.STOPPED: True, TrialStatus.FAILED: False,
    }


def test_a_resumed_grid_runs_the_failed_and_the_missing_trials_only():
    experiment = parse_experiment({"name": "g", "sweep": {"seeds": [0, 1, 2, 3]}})
    s0, s1, s2, s3 = expand_sweep(experiment)
    store = InMemoryResultsStore()
    store.append(s0, finished(s0))
    store.append(s1, finished(s1, epochs=1, status=TrialStatus.STOPPED))  # halving stopped it
    store.append(s2, finished(s2, status=TrialStatus.FAILED))

    plan = plan_run(experiment, store)
    assert [s.trial_id for s in plan.check] == [s2.trial_id, s3.trial_id]
    assert (plan.trials, plan.skipped, plan.to_run) == (4, 2, 2)
    assert not any(s.fresh_start for s in plan.check)  # resume from checkpoints


def test_rerun_runs_every_trial_from_scratch():
    experiment = parse_experiment({"name": "g", "sweep": {"seeds": [0, 1]}})
    s0, s1 = expand_sweep(experiment)
    store = InMemoryResultsStore()
    store.append(s0, finished(s0))
    plan = plan_run(experiment, store, rerun=True)
    assert [s.trial_id for s in plan.check] == [s0.trial_id, s1.trial_id]
    assert (plan.skipped, plan.to_run) == (0, 2)
    assert [s.fresh_start for s in plan.check] == [True, True]  # checkpoints deleted, not resumed from
    taken = [plan.source.take(), plan.source.take(), plan.source.take()]
    assert [s.fresh_start for s in taken[:2]] == [True, True] and taken[2] is None


TPE = {
    "name": "tpe-resume",
    "training": {"epochs": 2},
    "sweep": {"method": "tpe", "samples": 6, "search_seed": 3,
              "space": {"training.learning_rate": {"loguniform": [1e-4, 1e-1]},
                        "model.activation": {"choice": ["relu", "tanh"]}}},
}


def _store(experiment, point, status, val_accuracy, epochs):
    (spec,) = specs_for_point(experiment, point)
    result = finished(spec, epochs=epochs, status=status)
    result.epochs[-1].val_accuracy = val_accuracy
    return spec, result


def test_a_resumed_tpe_search_is_told_every_stored_point_with_its_value_and_state():
    experiment = parse_experiment(TPE)
    store = InMemoryResultsStore()
    stored = [
        ({"training.learning_rate": 0.001, "model.activation": "relu"}, TrialStatus.COMPLETED, 0.91, 2),
        ({"training.learning_rate": 0.01, "model.activation": "tanh"}, TrialStatus.COMPLETED, 0.85, 2),
        ({"training.learning_rate": 0.05, "model.activation": "relu"}, TrialStatus.STOPPED, 0.30, 1),
        ({"training.learning_rate": 0.0002, "model.activation": "tanh"}, TrialStatus.FAILED, 0.5, 2),
    ]
    for point, status, value, epochs in stored:
        store.append(*_store(experiment, point, status, value, epochs))

    plan = plan_run(experiment, store)
    assert (plan.trials, plan.skipped, plan.to_run, plan.told) == (6, 3, 3, 4)
    told = sorted(plan.source.sampler.observations(), key=lambda o: o.point["training.learning_rate"])
    assert told == [
        Observation({"training.learning_rate": 0.0002, "model.activation": "tanh"}, None, SearchState.FAILED, None),
        Observation({"training.learning_rate": 0.001, "model.activation": "relu"}, 0.91, SearchState.COMPLETED, None),
        Observation({"training.learning_rate": 0.01, "model.activation": "tanh"}, 0.85, SearchState.COMPLETED, None),
        Observation({"training.learning_rate": 0.05, "model.activation": "relu"}, 0.30, SearchState.PRUNED, 1),
    ]
    assert plan.source.sampler.best.value == 0.91
    # The failed point is run again first; then new points, none of those stored.
    first = plan.source.take()
    assert first.point == {"training.learning_rate": 0.0002, "model.activation": "tanh"}
    assert not first.fresh_start


def test_a_rerun_tpe_search_forgets_the_store():
    experiment = parse_experiment(TPE)
    store = InMemoryResultsStore()
    store.append(*_store(experiment, {"training.learning_rate": 0.001, "model.activation": "relu"},
                         TrialStatus.COMPLETED, 0.91, 2))
    plan = plan_run(experiment, store, rerun=True)
    assert (plan.skipped, plan.to_run, plan.told) == (0, 6, 0)
    assert plan.source.sampler.observations() == []


def _epoch_rows(trial_id, values):
    return [{"trial_id": trial_id, "epoch": e, "val_accuracy": v} for e, v in enumerate(values, start=1)]


def test_resumed_rungs_count_the_stored_values():
    halving = SuccessiveHalving(rungs=[2], keep=0.5, metric="val_accuracy")
    rows = (_epoch_rows("a", [0.5, 0.90, 0.95]) + _epoch_rows("b", [0.4, 0.80]) + _epoch_rows("c", [0.3, None])
            + _epoch_rows("d", [0.2, math.nan]))
    assert halving.record_stored(rows) == 2  # a and b at epoch 2; no value, NaN and epochs 1, 3 do not count
    record = EpochRecord(2, 1.0, 0.5, 1.0, 0.85, 1.0)
    # Seen at rung 2: 0.90, 0.80, 0.85 -> best ceil(0.5 * 3) = 2 go on: cutoff 0.85.
    assert halving.report("x", record).go_on
    # 0.90, 0.80, 0.85, 0.82 -> best 2 of 4: cutoff 0.85; 0.82 stops.
    verdict = halving.report("y", EpochRecord(2, 1.0, 0.5, 1.0, 0.82, 1.0))
    assert not verdict.go_on and "best 0.5 of 4 trials (cutoff 0.8500)" in verdict.reason
    # Alone (nothing stored), the same 0.82 would be the best at the rung.
    assert SuccessiveHalving(rungs=[2], keep=0.5, metric="val_accuracy").report("y", EpochRecord(
        2, 1.0, 0.5, 1.0, 0.82, 1.0)).go_on


def test_stored_rung_values_of_the_stores_epochs_table_count():
    experiment = parse_experiment({"name": "h", "training": {"epochs": 2}, "sweep": {"seeds": [0, 1]}})
    s0, s1 = expand_sweep(experiment)
    store = InMemoryResultsStore()
    for spec, acc in ((s0, 0.70), (s1, 0.60)):
        result = finished(spec, epochs=2)
        result.epochs[0].val_accuracy = acc
        store.append(spec, result)
    halving = SuccessiveHalving(rungs=[1], keep=0.25, metric="val_accuracy")
    assert halving.record_stored(store.read_epochs("h").to_pylist()) == 2
    # 0.70, 0.65, 0.60: the best ceil(0.25 * 3) = 1 goes on, cutoff 0.70.
    assert not halving.report("new", EpochRecord(1, 1.0, 0.5, 1.0, 0.65, 1.0)).go_on


def test_a_saved_model_on_a_store_with_nowhere_to_keep_it_is_refused_before_anything_runs(tmp_path):
    from orchestrator.errors import ConfigError
    from orchestrator.store import ParquetResultsStore

    asks = parse_experiment({"name": "m", "outputs": {"save_model": True}})
    memory = InMemoryResultsStore()
    with pytest.raises(ConfigError, match="outputs.save_model: .*nowhere to keep models.*s3://"):
        plan_run(asks, memory)
    assert memory.sweeps() == []  # nothing written
    plan = plan_run(asks, ParquetResultsStore(str(tmp_path)))  # a directory has a place for them
    assert plan.to_run == 1 and plan.check[0].artifacts_root == str(tmp_path)
    assert plan_run(parse_experiment({"name": "m"}), memory).to_run == 1  # not asked: runs


def test_a_tpe_search_rerun_with_other_fixed_settings_is_refused_not_answered_with_the_old_trials():
    from orchestrator.errors import ConfigError

    before = parse_experiment(TPE)  # 2 epochs
    store = InMemoryResultsStore()
    store.save_config(before)
    for lr in (0.001, 0.01):
        store.append(*_store(before, {"training.learning_rate": lr, "model.activation": "relu"},
                             TrialStatus.COMPLETED, 0.9, 2))
    changed = parse_experiment({**TPE, "training": {"epochs": 3}})
    with pytest.raises(ConfigError, match=r"2 stored trial\(s\) .*training\.epochs changed.*--name.*--rerun"):
        plan_run(changed, store)
    assert plan_run(changed, store, rerun=True).to_run == 6  # from scratch, as the message says
    # The same settings go on from the store: its 2 trials count.
    plan = plan_run(before, store)
    assert (plan.skipped, plan.to_run, plan.told) == (2, 4, 2)
    # Under a new name the changed search starts its own history.
    assert plan_run(parse_experiment({**TPE, "name": "tpe-3", "training": {"epochs": 3}}), store).to_run == 6


@pytest.mark.unit
def test_halving_counts_only_stored_trials_of_this_experiment():
    """A grid with halving run again under its name with other fixed settings (epochs 4 -> 6):
    the trials stored at 4 epochs are not its own, so their rung values must not judge it."""
    rungs = {"stopping": {"rungs": [1, 2], "keep": 0.5}, "sweep": {"grid": {"training.learning_rate": [0.1, 0.01]}}}
    before = parse_experiment({"name": "h", "training": {"epochs": 4}, **rungs})
    after = parse_experiment({"name": "h", "training": {"epochs": 6}, **rungs})
    store = InMemoryResultsStore()
    old = expand_sweep(before)
    for spec in old:
        store.append(spec, finished(spec, epochs=4))
    plan = plan_run(after, store)
    new_ids = {s.trial_id for s in expand_sweep(after)}
    assert plan.own_ids == new_ids and len(new_ids) == 2
    assert not plan.own_ids & {s.trial_id for s in old}  # the executor reads rung values of these ids only
    resumed = plan_run(before, store)
    assert {s.trial_id for s in old} <= resumed.own_ids  # a plain resume still counts its own
