"""The hooks a running sweep calls to show itself: the contract every progress view keeps.

The executor calls them from the driver; trainers never print progress themselves.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from orchestrator.trial import EpochRecord, TrialResult, TrialSpec

__all__ = ["SweepProgress"]


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
