"""Progress in a Jupyter cell: one display, updated in place (an IPython display handle),
never a line per epoch; it ends as the table of the trials this run finished.

A 100-trial sweep thus leaves one output under the cell instead of hundreds of lines.
Updates are throttled (``every_seconds``): a display update is a message to the browser.
"""

from __future__ import annotations

import html
import time
from typing import Any

from orchestrator.progress._base import SweepProgress
from orchestrator.progress._log import outcome
from orchestrator.trial import EpochRecord, TrialResult, TrialSpec

__all__ = ["NotebookProgress", "in_notebook"]

_RECENT = 5  # finished trials listed while the sweep runs


def in_notebook() -> bool:
    """True inside a Jupyter kernel (ipykernel), where a display can be updated in place."""
    import sys

    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class NotebookProgress(SweepProgress):
    """One display under the cell: the sweep, a bar, trials running (epoch, val accuracy),
    the best so far and the last few finished; at the end, every trial this run finished."""

    def __init__(self, every_seconds: float = 0.5) -> None:
        self._every = every_seconds
        self._handle: Any = None
        self._last = 0.0
        self._note = ""
        self._sweep = ""
        self._total = self._skipped = self._trainers = 0
        self._running: dict[str, tuple[str, int, int, float | None]] = {}
        self._finished: list[tuple[str, str, str]] = []
        self._best = ""
        self._t0 = time.monotonic()

    # --- the hooks ------------------------------------------------------------------------

    def note(self, text: str) -> None:
        self._note = text
        self._show(force=True)

    def start(self, sweep: str, to_run: int, skipped: int, trainers: int) -> None:
        self._sweep, self._total, self._skipped, self._trainers = sweep, to_run, skipped, trainers
        self._note = ""
        self._show(force=True)

    def trial_started(self, spec: TrialSpec, attempt: int) -> None:
        self._running[spec.trial_id] = (spec.label, 0, spec.training.epochs, None)
        self._show()

    def epoch_done(self, spec: TrialSpec, record: EpochRecord) -> None:
        label, _, epochs, _ = self._running.get(spec.trial_id, (spec.label, 0, spec.training.epochs, None))
        self._running[spec.trial_id] = (label, record.epoch, epochs, record.val_accuracy)
        self._show()

    def trial_finished(self, spec: TrialSpec, result: TrialResult, retrying: bool) -> None:
        self._running.pop(spec.trial_id, None)
        if not retrying:
            self._finished.append((spec.trial_id, spec.label, outcome(result)))
        self._show(force=retrying)

    def best_so_far(self, metric: str, value: float, spec: TrialSpec) -> None:
        self._best = f"best {metric} {value:.4f} ({spec.trial_id})"
        self._show()

    def close(self) -> None:
        self._running.clear()
        self._show(force=True, final=True)

    # --- drawing ----------------------------------------------------------------------------

    def _show(self, force: bool = False, final: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self._every:
            return
        self._last = now
        bundle = {"text/plain": self._text(final), "text/html": self._html(final)}
        if self._handle is None:
            from IPython.display import display

            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)

    def _headline(self, final: bool) -> str:
        if not self._sweep:
            return self._note or "starting..."
        done = len(self._finished)
        state = "done" if final else f"{len(self._running)} running"
        best = f"; {self._best}" if self._best else ""
        return (f"sweep {self._sweep}: {done}/{self._total} trials, {state}, {self._skipped} already stored, "
                f"{self._trainers} trainers, {time.monotonic() - self._t0:.0f} s{best}")

    def _text(self, final: bool) -> str:
        lines = [self._headline(final)]
        if not final:
            lines += [f"  {label}: epoch {e}/{n}" + (f" val_acc {v:.3f}" if v is not None else "")
                      for label, e, n, v in self._running.values()]
            lines += [f"  done {i} {label}: {text}" for i, label, text in self._finished[-_RECENT:]]
            if self._note and self._sweep:
                lines.append(f"  {self._note}")
        else:
            lines += [f"  {i} {label}: {text}" for i, label, text in self._finished[:_RECENT]]
            more = len(self._finished) - _RECENT
            lines += [f"  ... and {more} more (the HTML view lists every trial)"] if more > 0 else []
        return "\n".join(lines)

    def _html(self, final: bool) -> str:
        e = html.escape
        fraction = len(self._finished) / self._total if self._total else (1.0 if final else 0.0)
        bar = (f'<div style="width:320px;height:8px;background:#eee;margin:4px 0">'
               f'<div style="width:{fraction * 100:.0f}%;height:8px;background:#1f77b4"></div></div>')
        rows = []
        if not final:
            rows += [(label, f"epoch {ep}/{n}" + (f", val_acc {v:.3f}" if v is not None else ""))
                     for label, ep, n, v in self._running.values()]
            rows += [(f"{i} {label}", text) for i, label, text in self._finished[-_RECENT:]]
        else:
            rows += [(f"{i} {label}", text) for i, label, text in self._finished]
        table = "".join(f"<tr><td>{e(a)}</td><td>{e(b)}</td></tr>" for a, b in rows)
        scroll = "max-height:260px;overflow:auto" if final else ""
        return (f"<div><b>{e(self._headline(final))}</b>{bar}<div style='{scroll}'><table style='font-size:12px'>"
                f"{table}</table></div></div>")
