"""Progress as a live terminal view (rich): bars that update in place."""

from __future__ import annotations

import sys
from typing import TextIO

from orchestrator.progress._base import SweepProgress
from orchestrator.progress._log import epoch_headline, outcome
from orchestrator.trial import EpochRecord, TrialResult, TrialSpec

__all__ = ["LiveProgress"]


class LiveProgress(SweepProgress):
    """A live terminal view: overall bar, one bar per running trial with its epoch and last
    validation accuracy (for the first ``max_bars`` running at once; the overall bar counts
    the others); finished trials scroll above as lines.

    Why a limit: rich redraws every bar on each change, so with 64 trainers each trial's
    start cost the driver ~5 ms (benchmarks/driver_throughput.py), and 64 bars do not fit
    a terminal anyway."""

    max_bars = 8

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
        self._running: dict[str, int] = {}  # trial id -> its bar
        self._unbarred = 0  # running trials beyond max_bars, shown as a count
        self._best = ""

    def note(self, text: str) -> None:
        self._progress.console.print(text, style="dim")

    def start(self, sweep: str, to_run: int, skipped: int, trainers: int) -> None:
        self._progress.start()
        self._info = info = f"{skipped} already stored, {trainers} trainers"
        self._overall = self._progress.add_task(f"[bold]{sweep}", total=to_run, info=info)

    def trial_started(self, spec: TrialSpec, attempt: int) -> None:
        if len(self._running) >= self.max_bars:
            self._unbarred += 1
            self._show_info()
            return
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self._running[spec.trial_id] = self._progress.add_task(
            f"  {_short_label(spec)}{again}", total=spec.training.epochs, info=""
        )

    def epoch_done(self, spec: TrialSpec, record: EpochRecord) -> None:
        task = self._running.get(spec.trial_id)
        if task is not None:
            self._progress.update(task, completed=record.epoch, info=epoch_headline(record))

    def trial_finished(self, spec: TrialSpec, result: TrialResult, retrying: bool) -> None:
        task = self._running.pop(spec.trial_id, None)
        if task is not None:
            self._progress.remove_task(task)
        elif self._unbarred:
            self._unbarred -= 1
            self._show_info()
        if retrying:
            self._progress.console.print(f"retry {spec.label}: {result.error}")
            return
        self._progress.advance(self._overall)
        self._progress.console.print(f"{spec.trial_id} {spec.label}: {outcome(result)}")

    def best_so_far(self, metric: str, value: float, spec: TrialSpec) -> None:
        self._best = f", best {metric} {value:.4f}"
        self._show_info()

    def _show_info(self) -> None:
        if self._overall is not None:
            more = f", {self._unbarred} more running" if self._unbarred else ""
            self._progress.update(self._overall, info=f"{self._info}{self._best}{more}")

    def close(self) -> None:
        self._progress.stop()


def _short_label(spec: TrialSpec, width: int = 34) -> str:
    """Values only ("adam 0.001 relu s0"): the live view must fit an 80-column terminal."""
    text = " ".join([*(str(v) for v in spec.point.values()), f"s{spec.training.seed}"])
    return text if len(text) <= width else text[: width - 1] + "…"
