"""Showing a running sweep: the hooks the executor calls (``_base``), plain log lines
(``_log``), a live view on a terminal (``_live``), and one display updated in place in a
Jupyter cell (``_notebook``); :func:`progress_for` picks one. ``_startup`` times the start-up
phases (shown with ``--verbose``)."""

from __future__ import annotations

import sys
from typing import TextIO

from orchestrator.progress._base import SweepProgress
from orchestrator.progress._live import LiveProgress
from orchestrator.progress._log import LogProgress
from orchestrator.progress._notebook import NotebookProgress, in_notebook
from orchestrator.progress._startup import StartupPhases

__all__ = ["SweepProgress", "LogProgress", "LiveProgress", "NotebookProgress", "StartupPhases", "progress_for",
           "in_notebook"]


def progress_for(stream: TextIO = sys.stderr, notebook: bool = True) -> SweepProgress:
    """A display updated in place in a Jupyter kernel (unless ``notebook`` is False), a live
    view on a terminal, else log lines (a file, a pipe, CI)."""
    if notebook and in_notebook():
        return NotebookProgress()
    return LiveProgress(stream) if stream.isatty() else LogProgress(stream)
