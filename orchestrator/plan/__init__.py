"""Planning: from an experiment to the trials that run, and every decision about them.

Pure code over plain data (no Ray, no TensorFlow, no store: the driver reads the store and
passes what it holds in); the executor in ``cluster/`` carries out what is decided here.
Trainers import it too (fusion keys, stopping rules), so it stays light to import. In the order a sweep goes through it:

- ``_expand``: sweep expansion, an experiment's points -> ``TrialSpec`` with content-hash ids
- ``_scheduler``: what to run, given the ids the store holds; retry and start-up verdicts;
  how many trainers; when a trainer is replaced by a fresh one (memory)
- ``_source``: where the executor's next trial comes from (a plan, or a sampler asked live)
- ``_fusion``: which trials train together as one fused group, and how many
- ``_stopping``: stopping rules applied at the end of an epoch (early stopping, halving)
- ``_checkpoints``: when a trial saves a resume point
"""

from orchestrator.plan._checkpoints import AUTO_CHECKPOINT_SECONDS, checkpoint_due
from orchestrator.plan._expand import builder_code_of, expand_sweep, planned_points, specs_for_point
from orchestrator.plan._fusion import GroupTaker, auto_sizes, choose_group_size, fusion_key, steps_per_trial, trace_key
from orchestrator.plan._scheduler import (
    FailureAction,
    FailureStreak,
    StartupAction,
    StartupFailures,
    SweepPlan,
    TrainerLimits,
    TrainerUsage,
    decide_after_crash,
    decide_trainer_renewal,
    default_trainer_memory_mb,
    decide_after_startup_failure,
    plan_sweep,
    trainer_count,
)
from orchestrator.plan._source import PlannedTrials, SearchTrials, TrialSource, result_metric
from orchestrator.plan._stopping import RungVerdict, SuccessiveHalving, epoch_stop_reason

__all__ = [
    "AUTO_CHECKPOINT_SECONDS",
    "checkpoint_due",
    "expand_sweep",
    "planned_points",
    "specs_for_point",
    "builder_code_of",
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
    "TrialSource",
    "PlannedTrials",
    "SearchTrials",
    "result_metric",
    "fusion_key",
    "trace_key",
    "auto_sizes",
    "steps_per_trial",
    "choose_group_size",
    "GroupTaker",
    "epoch_stop_reason",
    "SuccessiveHalving",
    "RungVerdict",
]
