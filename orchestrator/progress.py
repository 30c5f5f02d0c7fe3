"""Showing a running sweep: a live view on a terminal, plain log lines otherwise.

The executor calls these hooks from the driver; trainers never print progress themselves.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO

from orchestrator.trial import EpochRecord, TrialResult, TrialSpec, TrialStatus

__all__ = ["SweepProgress", "LogProgress", "LiveProgress", "progress_for"]


class SweepProgress:
    """Hooks the executor calls. The base class shows nothing (for tests and library use)."""

    # A step that lasts longer than this is announced; quicker ones pass without a line, so
    # that a bad input refused at once is still the error line alone.
    note_after_seconds: float = 1.0

    def note(self, text: str) -> None:
        """Show one line saying what is happening (see :meth:`step`)."""

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        """Run the body as a step that may take a while (planning, starting Ray, loading
        data): ``text`` is shown once it has lasted ``note_after_seconds`` (at once when that
        is 0), so that the terminal is never left silent."""
        if self.note_after_seconds <= 0:
            self.note(text)
            yield
            return
        timer = threading.Timer(self.note_after_seconds, self.note, args=(text,))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def start(self, sweep: str, to_run: int, skipped: int, trainers: int) -> None: ...

    def trial_started(self, spec: TrialSpec, attempt: int) -> None: ...

    def epoch_done(self, spec: TrialSpec, record: EpochRecord) -> None: ...

    def trial_finished(self, spec: TrialSpec, result: TrialResult, retrying: bool) -> None: ...

    def best_so_far(self, metric: str, value: float, spec: TrialSpec) -> None:
        """A stored trial set a new best of the sweep's metric (sweep.metric, sweep.goal)."""

    def close(self) -> None: ...


def _outcome(result: TrialResult) -> str:
    if result.status is TrialStatus.COMPLETED:
        return f"test_acc={result.test_accuracy:.4f} in {result.total_seconds:.1f}s"
    if result.status is TrialStatus.STOPPED:
        return f"stopped after {len(result.epochs)} epochs ({result.stop_reason}): test_acc={result.test_accuracy:.4f}"
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
            f"val_acc={record.val_accuracy:.4f} ({record.seconds:.1f}s)"
        )

    def trial_finished(self, spec: TrialSpec, result: TrialResult, retrying: bool) -> None:
        if retrying:
            self._line(f"retry  {spec.trial_id} {spec.label}: {result.error}")
            return
        self._done += 1
        self._line(f"done   {spec.trial_id} [{self._done}/{self._total}] {spec.label}: {_outcome(result)}")

    def best_so_far(self, metric: str, value: float, spec: TrialSpec) -> None:
        self._line(f"best   {metric}={value:.4f} so far: {spec.trial_id} {spec.label}")


class LiveProgress(SweepProgress):
    """A live terminal view: overall bar, one bar per running trial with its epoch and last
    validation accuracy; finished trials scroll above as lines."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=16),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=Console(file=stream),
        )
        self._overall = None
        self._info = ""
        self._running: dict[str, int] = {}

    def note(self, text: str) -> None:
        self._progress.console.print(text, style="dim")

    def start(self, sweep: str, to_run: int, skipped: int, trainers: int) -> None:
        self._progress.start()
        self._info = info = f"{skipped} already stored, {trainers} trainers"
        self._overall = self._progress.add_task(f"[bold]{sweep}", total=to_run, info=info)

    def trial_started(self, spec: TrialSpec, attempt: int) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self._running[spec.trial_id] = self._progress.add_task(
            f"  {_short_label(spec)}{again}", total=spec.training.epochs, info=""
        )

    def epoch_done(self, spec: TrialSpec, record: EpochRecord) -> None:
        task = self._running.get(spec.trial_id)
        if task is not None:
            self._progress.update(task, completed=record.epoch, info=f"val_acc {record.val_accuracy:.3f}")

    def trial_finished(self, spec: TrialSpec, result: TrialResult, retrying: bool) -> None:
        task = self._running.pop(spec.trial_id, None)
        if task is not None:
            self._progress.remove_task(task)
        if retrying:
            self._progress.console.print(f"retry {spec.label}: {result.error}")
            return
        self._progress.advance(self._overall)
        self._progress.console.print(f"{spec.trial_id} {spec.label}: {_outcome(result)}")

    def best_so_far(self, metric: str, value: float, spec: TrialSpec) -> None:
        if self._overall is not None:
            self._progress.update(self._overall, info=f"{self._info}, best {metric} {value:.4f}")

    def close(self) -> None:
        self._progress.stop()


def _short_label(spec: TrialSpec, width: int = 34) -> str:
    """Values only ("adam 0.001 relu s0"): the live view must fit an 80-column terminal."""
    text = " ".join([*(str(v) for v in spec.point.values()), f"s{spec.training.seed}"])
    return text if len(text) <= width else text[: width - 1] + "…"


def progress_for(stream: TextIO = sys.stderr) -> SweepProgress:
    return LiveProgress(stream) if stream.isatty() else LogProgress(stream)
