"""The start-up phases of a sweep, timed: from ``orch``'s start (the process's, for the CLI)
to its first trial launch. ``orch run --verbose`` (and ``orch.run(..., verbose=True)``) shows
one line per phase as it ends, so that a slow start says where its seconds went (issue 19:
the first trial within 5 s of ``orch run``).

Some phases run alongside others (the data loads and the user models are checked while the
trainers import TensorFlow): each line says so, and their seconds are not to be added up.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["StartupPhases", "Phase", "process_age_seconds"]


def process_age_seconds() -> float | None:
    """Seconds since this process started (its interpreter, before any import), from /proc on
    Linux; None where that cannot be read. Coarse: the kernel counts in clock ticks (10 ms)."""
    try:
        with open("/proc/self/stat") as f:
            stat = f.read()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        # Fields after the command name (which may hold spaces, hence the last ')'): the 22nd
        # field of the line, starttime, is the 20th after it.
        start_ticks = int(stat[stat.rindex(")") + 2 :].split()[19])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    alongside: str | None = None  # what else ran at the same time, when it overlapped another phase

    def line(self) -> str:
        during = f" (alongside {self.alongside})" if self.alongside else ""
        return f"start-up: {self.name} {self.seconds:.2f}s{during}"


class StartupPhases:
    """Seconds of each start-up phase, in the order they ended. ``show`` gets each phase's line
    as it ends (``progress.note`` with ``--verbose``; nothing otherwise). ``origin``: the
    :func:`time.monotonic` instant the start-up counts from (default: now)."""

    def __init__(self, show: Callable[[str], None] | None = None, origin: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._show = show
        self._clock = clock
        self.origin = clock() if origin is None else origin
        self.phases: list[Phase] = []
        self._done = False

    @classmethod
    def from_process_start(cls, show: Callable[[str], None] | None = None) -> StartupPhases:
        """Counting from this process's start, with the time until now as the first phase
        (the interpreter and orch's imports): what a user of ``orch run`` waits for."""
        age = process_age_seconds()
        now = time.monotonic()
        phases = cls(show, origin=now - (age or 0.0))
        if age is not None:
            phases.record("python and orch imports", age)
        return phases

    def record(self, name: str, seconds: float, alongside: str | None = None) -> None:
        phase = Phase(name, seconds, alongside)
        self.phases.append(phase)
        if self._show is not None:
            self._show(phase.line())

    @contextlib.contextmanager
    def phase(self, name: str, alongside: str | None = None) -> Iterator[None]:
        """Time the body as phase ``name`` (recorded even when the body raises: a start-up
        that fails in a check still says how long the phases before it took)."""
        t = self._clock()
        try:
            yield
        finally:
            self.record(name, self._clock() - t, alongside)

    def elapsed(self) -> float:
        return self._clock() - self.origin

    def finish(self) -> None:
        """Show the total: from the origin to now, the first trial's launch. Once."""
        if self._done:
            return
        self._done = True
        if self._show is not None:
            self._show(f"start-up: {self.elapsed():.2f}s in all, to the first trial launch")
