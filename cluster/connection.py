"""Connecting to Ray: an embedded local instance by default, or an existing cluster."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import ray

from orchestrator.errors import InputError

__all__ = ["ray_session"]


@contextlib.contextmanager
def ray_session(address: str | None = None) -> Iterator[None]:
    """Run the body connected to Ray.

    ``address=None`` starts a quiet embedded Ray on this machine (no dashboard, no usage
    reporting, worker logs kept out of the terminal) and stops it afterwards. An address
    (``auto``, ``HOST:6379``) joins an existing cluster and leaves it running. If Ray is
    already initialised in this process (a test, a notebook), it is used as it is.
    """
    if ray.is_initialized():
        yield
        return
    # Usage stats would try to reach the internet at start-up.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    quiet = dict(logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
    try:
        if address is None:
            ray.init(include_dashboard=False, **quiet)
        else:
            ray.init(address=address, **quiet)
    except ConnectionError as e:
        raise InputError(
            f"cannot reach a Ray cluster at {address!r} ({e}); start one with `ray start --head` "
            "or leave out --address to run on this machine"
        ) from e
    try:
        yield
    finally:
        ray.shutdown()
