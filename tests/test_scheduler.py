from __future__ import annotations

import pytest

from orchestrator.plan import (
    FailureAction,
    StartupAction,
    StartupFailures,
    decide_after_crash,
    decide_after_startup_failure,
    plan_sweep,
    trainer_count,
)
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


# --- trainers that fail before they are ready ---------------------------------------------

def _after(*errors):
    return decide_after_startup_failure(StartupFailures(tuple(errors)), trainers=2)


def test_a_start_up_that_died_without_an_exception_is_replaced():
    assert _after(None) is StartupAction.REPLACE
    assert _after(None, None, None, None, None) is StartupAction.REPLACE  # 5 < 3 * 2 trainers


def test_start_ups_that_died_without_an_exception_are_bounded():
    assert _after(*[None] * 6) is StartupAction.ABORT
    assert decide_after_startup_failure(StartupFailures((None, None)), trainers=1) is StartupAction.REPLACE
    assert decide_after_startup_failure(StartupFailures((None,) * 3), trainers=1) is StartupAction.ABORT


def test_the_same_start_up_error_repeated_aborts():
    error = "ImportError: No module named 'tensorflow'"
    assert _after(error) is StartupAction.REPLACE
    assert _after(error, error) is StartupAction.REPLACE
    assert _after(error, None, error) is StartupAction.REPLACE
    assert _after(error, None, error, error) is StartupAction.ABORT


def test_different_start_up_errors_are_not_deterministic():
    assert _after("RuntimeError: CUDA busy", "ValueError: x", "RuntimeError: CUDA busy") is StartupAction.REPLACE
    assert decide_after_startup_failure(StartupFailures(("E",)), trainers=4, same_error_limit=1) is StartupAction.ABORT


def test_startup_failures_are_plain_values():
    history = StartupFailures().plus(None).plus("E")
    assert history == StartupFailures((None, "E")) and StartupFailures().errors == ()
