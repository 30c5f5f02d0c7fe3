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
