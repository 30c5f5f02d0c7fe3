"""Showing a running sweep: the hooks the executor calls (``_base``), plain log lines
(``_log``), and a live view on a terminal (``_live``); :func:`progress_for` picks one."""

from __future__ import annotations

import sys
from typing import TextIO

from orchestrator.progress._base import SweepProgress
from orchestrator.progress._live import LiveProgress
from orchestrator.progress._log import LogProgress

__all__ = ["SweepProgress", "LogProgress", "LiveProgress", "progress_for"]


def progress_for(stream: TextIO = sys.stderr) -> SweepProgress:
    return LiveProgress(stream) if stream.isatty() else LogProgress(stream)
