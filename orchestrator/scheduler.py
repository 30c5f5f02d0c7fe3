"""Scheduling decisions as plain functions over plain data; the executor carries them out.

No Ray, no TensorFlow, no I/O: everything here is testable with lists and sets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from orchestrator.trial import TrialSpec, TrialStatus

__all__ = ["SweepPlan", "plan_sweep", "FailureAction", "decide_after_crash", "FailureStreak", "trainer_count"]


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
