"""A warm session: one Ray, and the trainers, datasets and model checks of its sweeps, kept
between ``run_experiment`` calls (``orch.session``), so that the second sweep in a notebook
does not pay Ray's start, TensorFlow's import in every trainer and the data's load again.

The driver's side of it; what is kept lives in the cluster (cluster/warm.py), imported only
when the first sweep runs, as every other use of Ray is."""

from __future__ import annotations

import contextlib
from typing import Any

from orchestrator.errors import InputError

__all__ = ["WarmSession"]


class WarmSession:
    """Ray joined (or started) at the first sweep and kept until :meth:`close`."""

    def __init__(self, address: str | None = None, verbose: bool = False) -> None:
        self.address = address
        self.verbose = verbose
        self._stack: contextlib.ExitStack | None = None
        self.pool: Any = None  # cluster.WarmPool, once a sweep ran
        self.closed = False

    def enter(self, ship: list[str]) -> Any:
        """The warm pool, Ray started on first use. ``ship``: the first sweep's user files
        for a cluster joined by address (later sweeps' files must be on the nodes already)."""
        if self.closed:
            raise InputError("this orch.session is closed; start another: with orch.session() as s: s.run(...)")
        if self._stack is None:
            from cluster import WarmPool, ray_session

            stack = contextlib.ExitStack()
            stack.enter_context(ray_session(self.address, ship=ship, verbose=self.verbose))
            self._stack, self.pool = stack, WarmPool()
        return self.pool

    @property
    def trainers_reused(self) -> int:
        """Trainer actors a sweep took over from an earlier one of this session."""
        return self.pool.served if self.pool is not None else 0

    def close(self) -> None:
        """Stop the kept trainers, then Ray (one this session started); idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            if self.pool is not None:
                self.pool.close()
        finally:
            if self._stack is not None:
                self._stack.close()
