from __future__ import annotations

import pytest

from orchestrator.plan import (
    FailureAction,
    StartupAction,
    StartupFailures,
    TrainerLimits,
    TrainerUsage,
    decide_after_crash,
    decide_trainer_renewal,
    default_trainer_memory_mb,
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


# --- replacing a trainer by a fresh actor between trials (issue 23) ---------------------------


def test_a_trainer_within_every_limit_is_kept():
    usage = TrainerUsage(rss_mb=900.0, trials_run=40, gpu_peak_mb=2000.0)
    assert decide_trainer_renewal(usage, TrainerLimits()) is None  # no limits at all
    assert decide_trainer_renewal(usage, TrainerLimits(memory_mb=900.0, trials=41, gpu_share_mb=2000.0)) is None


def test_a_trainer_is_replaced_once_it_has_run_its_trials():
    limits = TrainerLimits(trials=3)
    assert decide_trainer_renewal(TrainerUsage(rss_mb=800.0, trials_run=2), limits) is None
    assert decide_trainer_renewal(TrainerUsage(rss_mb=800.0, trials_run=3), limits) == (
        "it ran 3 trials (resources.trials_per_trainer: 3)")
    # A fused group may carry it past the limit: replaced all the same, after the group.
    assert decide_trainer_renewal(TrainerUsage(rss_mb=800.0, trials_run=5), limits) == (
        "it ran 5 trials (resources.trials_per_trainer: 3)")


def test_a_trainer_over_its_memory_budget_is_replaced():
    limits = TrainerLimits(memory_mb=1200.0)
    assert decide_trainer_renewal(TrainerUsage(rss_mb=1200.0, trials_run=7), limits) is None
    assert decide_trainer_renewal(TrainerUsage(rss_mb=1290.4, trials_run=7), limits) == (
        "its resident memory 1,290 MiB is over its budget of 1,200 MiB (resources.trainer_memory_mb)")


def test_a_trainer_holding_more_than_its_gpu_share_is_replaced_and_cpu_trainers_never_are():
    limits = TrainerLimits(gpu_share_mb=35_000.0)
    assert decide_trainer_renewal(TrainerUsage(rss_mb=900.0, trials_run=2, gpu_peak_mb=36_100.0), limits) == (
        "it holds 36,100 MiB of its GPU, over its share of 35,000 MiB (the GPU's memory / resources.trainers_per_gpu)")
    assert decide_trainer_renewal(TrainerUsage(rss_mb=900.0, trials_run=2, gpu_peak_mb=None), limits) is None


def test_the_trial_limit_is_named_first_when_several_are_reached():
    usage = TrainerUsage(rss_mb=5000.0, trials_run=10, gpu_peak_mb=9000.0)
    limits = TrainerLimits(memory_mb=1000.0, trials=10, gpu_share_mb=1000.0)
    assert decide_trainer_renewal(usage, limits) == "it ran 10 trials (resources.trials_per_trainer: 10)"
    assert decide_trainer_renewal(usage, TrainerLimits(memory_mb=1000.0, gpu_share_mb=1000.0)).startswith(
        "its resident memory 5,000 MiB")


@pytest.mark.parametrize("node_mb, trainers, expected", [
    (24_000, 2, 9_600.0),  # the 2-core, 24 GB machine: 80% shared by its two trainers
    (24_000, 1, 19_200.0),
    (512_000, 8, 51_200.0),  # an 8-GPU node, one trainer per GPU
    (16_000, 0, 12_800.0),  # no trainer counted yet: as if one
])
def test_default_memory_budget_is_80_percent_of_the_node_over_its_trainers(node_mb, trainers, expected):
    assert default_trainer_memory_mb(node_mb, trainers) == expected
