"""Connecting to Ray: an embedded local instance by default, or an existing cluster."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any

import ray

from cluster.auth import check_cluster, send_token_if_available
from orchestrator.address import Address, parse_address
from orchestrator.errors import InputError

__all__ = ["ray_session"]


@contextlib.contextmanager
def ray_session(address: str | None = None, ship: list[str] | tuple[str, ...] = (), verbose: bool = False) -> Iterator[None]:
    """Run the body connected to Ray.

    ``address=None`` joins the cluster named by ``RAY_ADDRESS`` when that is set (Ray sets it
    for the driver of a Ray job, so the ``orch run`` that ``orch submit`` starts runs on the
    job's cluster); otherwise it starts a quiet embedded Ray on this machine (no dashboard, no
    usage reporting, worker logs kept out of the terminal) and stops it afterwards. An address
    (``auto``, ``HOST:6379``) joins an existing cluster and leaves it running. If Ray is
    already initialised in this process (a test, a notebook), it is used as it is.

    ``ship``: user files (model builders) every node needs. Joining a cluster by ``address``
    sends them in the job's runtime environment (``py_modules``: each lands in a directory on
    every worker's ``sys.path``, where trainers/builders.py looks for it). A submitted job has
    them in its uploaded working directory already, and an embedded Ray shares this disk.
    """
    # Checked before Ray sees it: Ray answers a malformed address with a traceback.
    target = parse_address(address, "cluster") if address is not None else None
    if ray.is_initialized():
        yield
        return
    # Usage stats would try to reach the internet at start-up.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # verbose (orch.run(..., verbose=True)): Ray's own log lines and the workers' output
    # (TensorFlow's start-up chatter included) reach this process; by default they do not.
    quiet = dict(logging_level=logging.INFO if verbose else logging.ERROR, log_to_driver=verbose, configure_logging=True)
    joined_by_address = target is not None  # not a job's driver: that has its runtime env
    if target is None:
        target = _address_from_environment()
    if target is not None:
        _check_reachable(target)
        if target.scheme != "auto":  # with "auto" Ray does this itself
            send_token_if_available()
        if target.scheme == "gcs":
            check_cluster(target.text)
    try:
        if target is None:
            # "local": a new Ray even when `ray start` runs on this machine; a plain ray.init()
            # would join the cluster started last (Ray's /tmp/ray/ray_current_cluster).
            ray.init(address="local", include_dashboard=False, **quiet)
        else:
            explicit = {"runtime_env": {"py_modules": list(ship)}} if ship and joined_by_address else {}
            ray.init(address=target.text, **quiet, **explicit)
    except (ConnectionError, ValueError) as e:  # ValueError: an address Ray still cannot use
        raise InputError(
            f"cannot connect to the Ray cluster at {target.text if target else 'local'!r} ({e}); on a node "
            "of the cluster use --address auto, from elsewhere HOST:PORT of the head node's GCS with the "
            "cluster's token (see README: Running on a Ray cluster), or leave out --address to run on "
            "this machine"
        ) from e
    previous = _sigterm_interrupts()
    try:
        yield
    finally:
        ray.shutdown()
        signal.signal(signal.SIGTERM, previous)


def _sigterm_interrupts() -> Any:
    """SIGTERM (``orch jobs stop``, a scheduler ending the job) takes the same path as Ctrl-C:
    finished trials stay stored, the message says how to go on. Ray's own handler, installed
    by ray.init, exits on the spot and its C++ core dumps a stack trace. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return signal.getsignal(signal.SIGTERM)

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def _address_from_environment() -> Address | None:
    """``RAY_ADDRESS``, Ray's own way to name a cluster (the Jobs API sets it for a job's driver)."""
    text = os.environ.get("RAY_ADDRESS") or None
    if text is None:
        return None
    if text.strip().lower().startswith(("http://", "https://")):
        raise InputError(
            f"RAY_ADDRESS={text} is a dashboard (Jobs API) address, which `orch run` cannot join: "
            f"use `orch submit CONFIG --address {text}`, or unset RAY_ADDRESS (and pass "
            "--address HOST:PORT of the head node's GCS to run on that cluster)"
        )
    return parse_address(text, "cluster", flag="RAY_ADDRESS")


def _check_reachable(address: Address, timeout: float = 5.0) -> None:
    """Fail in seconds on a mistyped HOST:PORT; Ray itself retries for a minute or more."""
    if address.scheme != "gcs" or address.host is None or address.port is None:
        return
    try:
        socket.create_connection((address.host, address.port), timeout=timeout).close()
    except OSError as e:
        raise InputError(
            f"no Ray cluster answers at {address.text} ({e.strerror or e}); check --address "
            "(HOST:PORT of the head node, default port 6379) or start one with `ray start --head`"
        ) from e
