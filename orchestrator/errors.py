"""Error types the CLI maps to exit codes."""

from __future__ import annotations

__all__ = ["InputError", "ConfigError", "SweepAborted"]


class InputError(Exception):
    """Bad input from the user (config, data files, store location, cluster address).

    The message is one line naming the problem and the fix; the CLI prints it and exits 2
    before any trial launches.
    """


class ConfigError(InputError, ValueError):
    """Bad experiment input. The message names the key, what was expected and how to fix it."""


class SweepAborted(Exception):
    """The sweep cannot go on (e.g. trainers cannot start). Finished trials stay stored;
    the message is one line saying why and what to do. The CLI exits 1."""
