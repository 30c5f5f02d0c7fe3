from __future__ import annotations

import pytest

from orchestrator.scheduler import FailureAction, decide_after_crash, plan_sweep, trainer_count
from tests.conftest import grid_specs

pytestmark = pytest.mark.unit


def test_plan_skips_finished_trials_unless_rerun():
    specs = grid_specs(seeds=[0, 1, 2])
    plan = plan_sweep(specs, {specs[1].trial_id})
    assert plan.to_run == [specs[0], specs[2]]
    assert plan.skipped == [specs[1]]
    assert plan_sweep(specs, {specs[1].trial_id}, rerun=True).to_run == specs


def test_crashes_retry_up_to_the_limit():
    assert decide_after_crash(attempts=1, max_retries=2) is FailureAction.RETRY
    assert decide_after_crash(attempts=2, max_retries=2) is FailureAction.RETRY
    assert decide_after_crash(attempts=3, max_retries=2) is FailureAction.FAIL
    assert decide_after_crash(attempts=1, max_retries=0) is FailureAction.FAIL


@pytest.mark.parametrize(
    "cpus, gpus, replicas, per, requested, trials, expected",
    [
        (2, 0, 1, 1, None, 16, 2),  # one single-threaded trainer per core
        (8, 0, 1, 2, None, 16, 4),
        (2, 0, 1, 1, None, 1, 1),  # never more trainers than trials
        (16, 4, 1, 1, None, 16, 4),  # one per GPU
        (16, 4, 2, 1, None, 16, 2),  # two GPUs per trial
        (2, 0, 1, 1, 5, 16, 5),  # explicit count wins
        (1, 0, 1, 2, None, 4, 1),  # at least one
    ],
)
def test_trainer_count(cpus, gpus, replicas, per, requested, trials, expected):
    assert trainer_count(cpus, gpus, replicas, per, requested, trials) == expected


@pytest.mark.parametrize(
    "cpus, gpus, per_gpu, expected",
    [
        (8, 2, 2, 4),  # two trainers packed on each GPU
        (8, 2, 4, 8),
        (2, 2, 4, 2),  # but never more than the CPUs hold
        (16, 4, 1, 4),
    ],
)
def test_trainer_count_with_gpu_packing(cpus, gpus, per_gpu, expected):
    assert trainer_count(cpus, gpus, 1, 1, None, 16, trainers_per_gpu=per_gpu) == expected
