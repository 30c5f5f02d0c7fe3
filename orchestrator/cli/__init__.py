"""``orch``, the command line: a thin shell over the Python API (see ``_main``)."""

from orchestrator.cli._main import crash_log_dir, main

__all__ = ["main", "crash_log_dir"]
