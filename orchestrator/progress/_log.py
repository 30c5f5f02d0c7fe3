"""Progress as plain log lines: one per event worth keeping in a log file."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from orchestrator.progress._base import SweepProgress
from orchestrator.trial import EpochRecord, TrialResult, TrialSpec, TrialStatus

__all__ = ["LogProgress", "outcome", "epoch_headline", "test_headline"]


def test_headline(result: TrialResult) -> str:
    """The test figure a line shows: accuracy (classifiers), else the first metric, else the loss."""
    if result.test_accuracy is not None:
        return f"test_acc={result.test_accuracy:.4f}"
    for name, value in result.test_metrics.items():
        return f"test_{name}={value:.4g}"
    return f"test_loss={result.test_loss:.4g}" if result.test_loss is not None else "no test figures"


def epoch_headline(record: EpochRecord) -> str:
    """The epoch figure a line shows: validation accuracy, else the first metric's, else the loss."""
    if record.val_accuracy is not None:
        return f"val_acc={record.val_accuracy:.4f}"
    for name, value in record.metrics.items():
        if name.startswith("val_"):
            return f"{name}={value:.4g}"
    return f"val_loss={record.val_loss:.4g}"


def outcome(result: TrialResult) -> str:
    if result.status is TrialStatus.COMPLETED:
        return f"{test_headline(result)} in {result.total_seconds:.1f}s"
    if result.status is TrialStatus.STOPPED:
        return f"stopped after {len(result.epochs)} epochs ({result.stop_reason}): {test_headline(result)}"
    return f"{result.status.value}: {result.error}"


class LogProgress(SweepProgress):
    """One line per event worth keeping in a log file (no per-epoch lines for short trials)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self._out = stream
        self._done = 0
        self._total = 0
        self._t0 = time.monotonic()

    def _line(self, text: str) -> None:
        print(f"[orch {time.monotonic() - self._t0:7.1f}s] {text}", file=self._out, flush=True)

    def note(self, text: str) -> None:
        self._line(text)

    def start(self, sweep: str, to_run: int, skipped: int, trainers: int) -> None:
        self._total = to_run
        self._line(f"sweep {sweep}: {to_run} trials to run, {skipped} already in the store, {trainers} trainers")

    def trial_started(self, spec: TrialSpec, attempt: int) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self._line(f"start  {spec.trial_id} {spec.label}{again}")

    def epoch_done(self, spec: TrialSpec, record: EpochRecord) -> None:
        self._line(
            f"epoch  {spec.trial_id} {record.epoch}/{spec.training.epochs} "
            f"{epoch_headline(record)} ({record.seconds:.1f}s)"
        )

    def trial_finished(self, spec: TrialSpec, result: TrialResult, retrying: bool) -> None:
        if retrying:
            self._line(f"retry  {spec.trial_id} {spec.label}: {result.error}")
            return
        self._done += 1
        self._line(f"done   {spec.trial_id} [{self._done}/{self._total}] {spec.label}: {outcome(result)}")

    def best_so_far(self, metric: str, value: float, spec: TrialSpec) -> None:
        self._line(f"best   {metric}={value:.4f} so far: {spec.trial_id} {spec.label}")
