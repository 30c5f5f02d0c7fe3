"""Stopping hopeless trials early: the rules, as plain functions and one plain class.

Two kinds of rule, both applied at the end of an epoch:

- Per trial, needing nothing but the trial's own record (:func:`epoch_stop_reason`): a loss
  that became NaN or infinite never recovers; a validation accuracy still at chance level
  after a grace period means the trial is stuck (sigmoid + SGD on LeNet-5 sits at 11.35%
  for 100 epochs, DESIGN.md).
- Across the sweep (:class:`SuccessiveHalving`): at each rung epoch a trial goes on only if
  its metric is among the best ``keep`` fraction of every value recorded at that rung so
  far, itself included. This is the asynchronous rule of ASHA (Li et al., 2020): no trial
  waits for others, and the first trials to reach a rung are judged against fewer values,
  so they are more likely to go on, never less.

Pure Python: no Ray, no TensorFlow. The trainer applies the first kind itself; the second
needs shared state, which the cluster layer keeps in one actor per sweep.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config import StoppingConfig, metric_goal
from orchestrator.trial import EpochRecord

__all__ = ["epoch_stop_reason", "SuccessiveHalving", "RungVerdict"]


def epoch_stop_reason(record: EpochRecord, config: StoppingConfig, num_classes: int) -> str | None:
    """Why the trial should stop after ``record``'s epoch, or None to go on."""
    if config.diverged and not (math.isfinite(record.loss) and math.isfinite(record.val_loss)):
        return f"diverged: loss {record.loss} at epoch {record.epoch}"
    # A regression (no accuracy, no classes) has no chance level.
    if config.chance_after is not None and record.epoch >= config.chance_after and record.val_accuracy is not None and num_classes:
        chance = 1.0 / num_classes
        ceiling = chance * (1.0 + config.chance_margin)
        if not record.val_accuracy > ceiling:  # NaN accuracy counts as stuck
            return (
                f"stuck at chance: val_accuracy {record.val_accuracy:.4f} <= {ceiling:.4f} "
                f"(chance {chance:.4f}) after {record.epoch} epochs"
            )
    return None


@dataclass(frozen=True)
class RungVerdict:
    go_on: bool
    reason: str | None = None  # why it stops


@dataclass
class SuccessiveHalving:
    """Rung bookkeeping for one sweep. ``report`` is idempotent per (trial, rung): a trial
    retried after a crash gets the verdict it got the first time."""

    rungs: list[int]
    keep: float
    metric: str  # "val_accuracy", "val_loss", "val_<metric>": smaller is better for losses and errors (metric_goal)
    _values: dict[int, dict[str, float]] = field(default_factory=dict)  # rung -> trial -> value
    _verdicts: dict[tuple[str, int], RungVerdict] = field(default_factory=dict)

    def is_rung(self, epoch: int) -> bool:
        return epoch in self.rungs

    def record(self, trial_id: str, epoch: int, value: float) -> None:
        """Remember a value without judging it (e.g. from a stored trial when resuming)."""
        if self.is_rung(epoch) and math.isfinite(value):
            self._values.setdefault(epoch, {})[trial_id] = value

    def record_stored(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Count a sweep's stored epoch rows (``trial_id``, ``epoch`` and the metric's column,
        as ``ResultsStore.read_epochs`` gives them) as values seen at their rungs, so that a
        resumed sweep judges its new trials against them too. Returns how many counted."""
        before = sum(len(v) for v in self._values.values())
        for row in rows:
            value = row.get(self.metric)
            if value is not None:
                self.record(row["trial_id"], row["epoch"], value)
        return sum(len(v) for v in self._values.values()) - before

    def report(self, trial_id: str, record: EpochRecord) -> RungVerdict:
        epoch = record.epoch
        if not self.is_rung(epoch):
            return RungVerdict(True)
        known = self._verdicts.get((trial_id, epoch))
        if known is not None:
            return known
        value = record.value(self.metric)
        if value is None or not math.isfinite(value):
            verdict = RungVerdict(False, f"halving: {self.metric} is {value} at rung {epoch}")
        else:
            self.record(trial_id, epoch, value)
            verdict = self._judge(epoch, value)
        self._verdicts[(trial_id, epoch)] = verdict
        return verdict

    def _judge(self, epoch: int, value: float) -> RungVerdict:
        higher_is_better = metric_goal(self.metric) == "max"
        ranked = sorted(self._values[epoch].values(), reverse=higher_is_better)
        place = max(1, math.ceil(self.keep * len(ranked)))
        cutoff = ranked[place - 1]
        if (value >= cutoff) if higher_is_better else (value <= cutoff):
            return RungVerdict(True)
        return RungVerdict(
            False,
            f"halving: {self.metric} {value:.4f} at epoch {epoch} is outside the best "
            f"{self.keep:g} of {len(ranked)} trials (cutoff {cutoff:.4f})",
        )
