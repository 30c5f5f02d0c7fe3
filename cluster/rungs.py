"""One small actor per sweep that keeps the successive-halving rungs (orchestrator/plan/_stopping.py)
for every trainer of the sweep: trainers report at rung epochs and get a verdict back."""

from __future__ import annotations

import ray

from orchestrator.plan import RungVerdict, SuccessiveHalving
from orchestrator.trial import EpochRecord

__all__ = ["RungKeeper"]


# num_cpus=0: the trainers hold every CPU; a few calls per trial must not wait for one.
@ray.remote(num_cpus=0)
class RungKeeper:
    def __init__(self, rungs: list[int], keep: float, metric: str) -> None:
        self._halving = SuccessiveHalving(rungs=list(rungs), keep=keep, metric=metric)

    def record_stored(self, rows: list[dict]) -> int:
        return self._halving.record_stored(rows)

    def report(self, trial_id: str, record: EpochRecord) -> RungVerdict:
        return self._halving.report(trial_id, record)
