"""Scheduling decisions as plain functions over plain data; the executor carries them out.

No Ray, no TensorFlow, no I/O: everything here is testable with lists and sets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from orchestrator.trial import TrialSpec, TrialStatus

__all__ = [
    "SweepPlan",
    "plan_sweep",
    "FailureAction",
    "decide_after_crash",
    "FailureStreak",
    "StartupAction",
    "StartupFailures",
    "decide_after_startup_failure",
    "trainer_count",
    "TrainerUsage",
    "TrainerLimits",
    "default_trainer_memory_mb",
    "decide_trainer_renewal",
]


@dataclass(frozen=True)
class SweepPlan:
    to_run: list[TrialSpec]
    # Already in the store with a final result: not run again unless asked.
    skipped: list[TrialSpec]


def plan_sweep(specs: list[TrialSpec], finished_ids: set[str], rerun: bool = False) -> SweepPlan:
    if rerun:
        return SweepPlan(to_run=list(specs), skipped=[])
    to_run = [s for s in specs if s.trial_id not in finished_ids]
    skipped = [s for s in specs if s.trial_id in finished_ids]
    return SweepPlan(to_run=to_run, skipped=skipped)


class FailureAction(enum.Enum):
    RETRY = "retry"
    FAIL = "fail"  # store the trial as failed with its message; the sweep goes on


def decide_after_crash(attempts: int, max_retries: int) -> FailureAction:
    """The trainer process died under a trial (killed, out of memory, node lost): the trial
    may well succeed elsewhere, so it runs again, up to ``max_retries`` times.
    ``attempts`` counts runs so far, the failed one included.

    An error raised *inside* a healthy trainer (bad shape, invalid argument) is never
    retried: running it again gives the same error, so the trainer returns it as a FAILED
    result directly.
    """
    return FailureAction.RETRY if attempts <= max_retries else FailureAction.FAIL


@dataclass
class FailureStreak:
    """Counts trials that end failed in a row. Many in a row mean a cause common to them
    all (a broken install, a config every trial trips over, a sick node), and running the
    rest of the sweep would only fail them the same way."""

    limit: int | None
    count: int = 0

    def record(self, status: TrialStatus) -> bool:
        """Count one stored result; True when the streak has reached the limit."""
        self.count = self.count + 1 if status is TrialStatus.FAILED else 0
        return self.limit is not None and self.count >= self.limit


class StartupAction(enum.Enum):
    REPLACE = "replace"  # start another trainer in its place; the sweep goes on
    ABORT = "abort"  # every trainer would fail to start alike: stop the sweep with the error


# The same exception from this many trainer start-ups means it is deterministic (an import
# error, a bad setting): more trainers would only raise it again.
SAME_STARTUP_ERROR_LIMIT = 3


@dataclass(frozen=True)
class StartupFailures:
    """The trainer start-ups that failed so far in a sweep, as plain data. ``errors``: each
    failure's exception line, or None where the process died without one (killed)."""

    errors: tuple[str | None, ...] = ()

    def plus(self, error: str | None) -> StartupFailures:
        return StartupFailures((*self.errors, error))


def decide_after_startup_failure(failures: StartupFailures, trainers: int,
                                 same_error_limit: int = SAME_STARTUP_ERROR_LIMIT) -> StartupAction:
    """A trainer failed before it was ready; ``failures`` includes this one (the last).

    A process that died starting (an OOM kill while TensorFlow loads, a preempted node) says
    nothing about the next one: replace it, as a trainer that dies mid-trial is. An exception
    raised by start-up itself is replaced too until the same one has come
    ``same_error_limit`` times: then it is deterministic and the sweep stops with it. Bounded
    either way: after ``max(3, 3 * trainers)`` failed start-ups in all, the nodes cannot keep
    a trainer alive and the sweep stops.
    """
    last = failures.errors[-1]
    if last is not None and failures.errors.count(last) >= same_error_limit:
        return StartupAction.ABORT
    if len(failures.errors) >= max(3, 3 * trainers):
        return StartupAction.ABORT
    return StartupAction.REPLACE


def trainer_count(
    cluster_cpus: float,
    cluster_gpus: float,
    replicas: int,
    cpus_per_trainer: int,
    requested: int | None,
    trials: int,
    trainers_per_gpu: int = 1,
) -> int:
    """How many trainer actors to start.

    GPU clusters: one trainer per ``replicas`` GPUs, or ``trainers_per_gpu`` trainers per
    GPU when small trials are packed. CPU-only clusters: one single-threaded trainer per
    core, because two one-thread trainers side by side give 1.5-1.8x the throughput of one
    two-thread trainer (DESIGN.md). Never more trainers than trials.
    """
    if requested is not None:
        fit = requested
    elif cluster_gpus >= 1:
        # Each trainer also holds cpus_per_trainer CPUs: never start more than both allow.
        fit = min(int(cluster_gpus * trainers_per_gpu // replicas), int(cluster_cpus // cpus_per_trainer))
    else:
        fit = int(cluster_cpus // cpus_per_trainer)
    return max(1, min(fit, trials))


@dataclass(frozen=True)
class TrainerUsage:
    """What a trainer reports after each group of trials, its trial state released: resident
    memory (MiB), trials run since it started, and on a GPU the device memory its TensorFlow
    has held at most (MiB; TensorFlow keeps what it once reserved), else None."""

    rss_mb: float
    trials_run: int
    gpu_peak_mb: float | None = None


@dataclass(frozen=True)
class TrainerLimits:
    """When a trainer is replaced by a fresh actor: resident memory budget (MiB), trials per
    trainer, its share of a GPU (MiB); None: no limit of that kind."""

    memory_mb: float | None = None
    trials: int | None = None
    gpu_share_mb: float | None = None


# Of a node's memory, the share its trainers may hold together before they are replaced: the
# rest is for the driver, Ray's own processes and the object store's pages they touch.
TRAINER_MEMORY_FRACTION = 0.8


def default_trainer_memory_mb(node_memory_mb: float, trainers_on_node: int,
                              fraction: float = TRAINER_MEMORY_FRACTION) -> float:
    """A trainer's resident-memory budget when ``resources.trainer_memory_mb`` is null:
    ``fraction`` of its node's memory, shared evenly by the sweep's trainers on that node."""
    return fraction * node_memory_mb / max(trainers_on_node, 1)


def decide_trainer_renewal(usage: TrainerUsage, limits: TrainerLimits) -> str | None:
    """Between trials: the reason to replace this trainer by a fresh actor, or None to keep
    it (and its warm state). A fresh process starts from what TensorFlow holds after start-up;
    memory a long-lived one gathered (resident, or reserved on its GPU) comes back only that
    way. The first limit reached is named; the trainer has finished its trials, so replacing
    it loses and repeats nothing."""
    if limits.trials is not None and usage.trials_run >= limits.trials:
        return f"it ran {usage.trials_run} trials (resources.trials_per_trainer: {limits.trials})"
    if limits.memory_mb is not None and usage.rss_mb > limits.memory_mb:
        return (f"its resident memory {usage.rss_mb:,.0f} MiB is over its budget of {limits.memory_mb:,.0f} MiB "
                "(resources.trainer_memory_mb)")
    if limits.gpu_share_mb is not None and usage.gpu_peak_mb is not None and usage.gpu_peak_mb > limits.gpu_share_mb:
        return (f"it holds {usage.gpu_peak_mb:,.0f} MiB of its GPU, over its share of {limits.gpu_share_mb:,.0f} MiB "
                "(the GPU's memory / resources.trainers_per_gpu)")
    return None
