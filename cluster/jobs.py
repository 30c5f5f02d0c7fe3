"""Sweeps as Ray jobs, through the Jobs API of a cluster's dashboard (``http://HEAD:8265``).

``orch submit`` uploads the experiment file's directory as the job's working directory and
this machine's ``orchestrator``, ``cluster`` and ``trainers`` packages as ``py_modules``, so
the cluster runs exactly the code (models included) and the experiment that run here; the
upload stays small wherever the file lives. The job's entrypoint is ``orch run`` on the head
node, which finds the cluster through ``RAY_ADDRESS`` (set by Ray for every job).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import shlex
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ray.exceptions import AuthenticationError
from ray.job_submission import JobStatus, JobSubmissionClient

from cluster.auth import send_token_if_available, token_fix
from orchestrator.address import parse_address
from orchestrator.config import Experiment
from orchestrator.errors import InputError
from orchestrator.usercode import files_to_ship

__all__ = ["SweepJob", "JobRow", "sweep_job", "submit_sweep", "list_jobs", "job_logs", "follow_job", "stop_job"]

# The packages the job runs from this machine (not from the nodes' installs).
_PACKAGES = ("orchestrator", "cluster", "trainers")
# Never uploaded: version control, caches, results stores and what trials write into them.
_EXCLUDES = [
    ".git", "__pycache__", "*.pyc", "*.egg-info", ".venv", "venv", ".pytest_cache",
    "orch-results", "checkpoints", "tensorboard", "*.parquet", "*.keras",
]
_CHATTY_LOGGERS = ("ray.dashboard.modules.dashboard_sdk", "ray.dashboard.modules.job.sdk", "ray._private.runtime_env.packaging")
_TERMINAL = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}


@dataclass(frozen=True)
class SweepJob:
    """What is sent to the job server: a shell entrypoint, a runtime env, metadata."""

    entrypoint: str
    runtime_env: dict
    metadata: dict[str, str]


@dataclass(frozen=True)
class JobRow:
    job_id: str
    status: str
    sweep: str
    started: str
    seconds: float | None
    message: str


def sweep_job(
    config: str | Path,
    experiment: Experiment,
    *,
    store: str,
    overrides: Sequence[str] = (),
    name: str | None = None,
    rerun: bool = False,
    python: str = "python",
) -> SweepJob:
    """The job that runs ``orch run CONFIG`` on the cluster as it would run here.

    Paths keep their meaning: a relative local store or ``dataset.data_dir`` becomes absolute
    (the job's working directory is a temporary copy, deleted with the job), and the store
    must then be a path every node reaches at the same place (one machine, a shared file
    system) or a URI (``s3://...``)."""
    config = Path(config).resolve()
    store = _absolute(store)
    argv = [python, "-m", "orchestrator.cli", "run", config.name, "--store", store]
    for item in overrides:
        argv += ["--set", item]
    data_dir = experiment.dataset.data_dir
    if data_dir is not None and _absolute(data_dir) != data_dir:
        argv += ["--set", f"dataset.data_dir={_absolute(data_dir)}"]
    if name is not None:
        argv += ["--name", name]
    if rerun:
        argv.append("--rerun")
    for path in files_to_ship(experiment.model.builder):
        if not Path(path).is_relative_to(config.parent):
            raise InputError(
                f"model.builder: {path} is outside {config.parent}, the directory uploaded for the job; "
                "move the builder file beside the experiment file (or below it)"
            )
    excludes = list(_EXCLUDES)
    if Path(store).is_relative_to(config.parent):  # a store inside the uploaded directory
        excludes.append("/" + Path(store).relative_to(config.parent).as_posix())
    runtime_env = {
        "working_dir": str(config.parent),
        "py_modules": [_package_dir(p) for p in _PACKAGES],
        "excludes": excludes,
    }
    metadata = {"orch_sweep": experiment.name, "orch_config": str(config), "orch_store": store}
    return SweepJob(shlex.join(argv), runtime_env, metadata)


def submit_sweep(address: str, job: SweepJob) -> str:
    """Submit ``job`` to the job server at ``address``; returns the job's id."""
    client = _client(address)
    return _call(address, lambda: client.submit_job(
        entrypoint=job.entrypoint, runtime_env=job.runtime_env, metadata=job.metadata
    ))


def list_jobs(address: str) -> list[JobRow]:
    """Every job submitted to the cluster's job server, oldest first (drivers that joined
    with ``ray.init``, e.g. ``orch run --address``, are not jobs one can follow or stop)."""
    client = _client(address)
    jobs = [j for j in _call(address, client.list_jobs) if j.submission_id]
    jobs.sort(key=lambda j: j.start_time or 0)
    return [
        JobRow(
            job_id=j.submission_id,
            status=str(j.status.value if hasattr(j.status, "value") else j.status),
            sweep=(j.metadata or {}).get("orch_sweep", ""),
            started=_local_time(j.start_time),
            seconds=round((j.end_time - j.start_time) / 1000, 1) if j.end_time and j.start_time else None,
            message=(j.message or "").splitlines()[0] if j.message else "",
        )
        for j in jobs
    ]


def job_logs(address: str, job_id: str) -> str:
    client = _client(address)
    _info(client, address, job_id)
    return _call(address, lambda: client.get_job_logs(job_id))


def follow_job(address: str, job_id: str, write: Callable[[str], None]) -> tuple[str, str]:
    """Pass the job's log to ``write`` as it grows, until the job ends; returns its final
    status and message."""
    client = _client(address)
    _info(client, address, job_id)

    async def tail() -> None:
        async for chunk in client.tail_job_logs(job_id):
            write(chunk)

    _call(address, lambda: asyncio.run(tail()))
    info = _info(client, address, job_id)
    while info.status not in _TERMINAL:  # the log can close a moment before the status changes
        time.sleep(0.5)
        info = _info(client, address, job_id)
    return str(info.status.value), info.message or ""


def stop_job(address: str, job_id: str) -> tuple[bool, str]:
    """Ask the job to stop (SIGTERM, then SIGKILL after Ray's grace period); returns whether
    it was running, and its status."""
    client = _client(address)
    status = str(_info(client, address, job_id).status.value)
    return _call(address, lambda: client.stop_job(job_id)), status


def _client(address: str) -> JobSubmissionClient:
    for name in _CHATTY_LOGGERS:  # INFO lines on every upload and on the log's end
        logging.getLogger(name).setLevel(logging.WARNING)
    url = _check_server(address)
    send_token_if_available()
    # JobSubmissionClient lets RAY_API_SERVER_ADDRESS / RAY_ADDRESS override its address
    # argument; --address is what the user typed, so it wins.
    with _env_without("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS"):
        return _call(address, lambda: JobSubmissionClient(url))


def _call(address: str, request: Callable):
    """Run one request, turning the Jobs API's errors into one line naming the fix."""
    try:
        return request()
    except AuthenticationError as e:
        raise InputError(token_fix(address)) from e
    except ConnectionError as e:  # also what the client raises for requests' ConnectionError
        raise InputError(
            f"no Ray job server answers at {address} ({e}); --address takes the head node's "
            "dashboard URL, http://HEAD:8265 (`ray start --head --dashboard-port`)"
        ) from e


def _info(client: JobSubmissionClient, address: str, job_id: str):
    try:
        return _call(address, lambda: client.get_job_info(job_id))
    except RuntimeError as e:
        if "404" in str(e):  # the client's message: "Request failed with status code 404: ..."
            raise InputError(
                f"no job {job_id!r} on the cluster at {address}; `orch jobs list --address {address}` "
                "shows its jobs"
            ) from e
        raise


def _check_server(address: str, timeout: float = 5.0) -> str:
    """Check the address's form (before Ray sees it: Ray answers a malformed one with a
    traceback), then fail in seconds when nothing listens there (requests would wait minutes
    on a host that drops packets). Returns the URL to give the client."""
    target = parse_address(address, "jobs")
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        socket.create_connection((target.host, port), timeout=timeout).close()
    except OSError as e:
        raise InputError(
            f"no Ray job server answers at {address} ({e.strerror or e}); --address takes the head "
            "node's dashboard URL, http://HEAD:8265 (`ray start --head --dashboard-port`); is the "
            "cluster up (`ray status` on the head)?"
        ) from e
    return target.text


@contextlib.contextmanager
def _env_without(*names: str) -> Iterator[None]:
    saved = {n: os.environ.pop(n) for n in names if n in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _absolute(path: str) -> str:
    """A relative local path made absolute here; URIs and ``~`` paths are left as they are."""
    if "://" in path or path.startswith("~") or os.path.isabs(path):
        return path
    return os.path.abspath(path)


def _package_dir(name: str) -> str:
    """Where ``name`` is loaded from, without importing it (``trainers`` imports TensorFlow)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"cannot find the {name!r} package to upload; reinstall orch (pip install -e .)")
    return list(spec.submodule_search_locations)[0]


def _local_time(millis: int | None) -> str:
    return datetime.fromtimestamp(millis / 1000).strftime("%Y-%m-%d %H:%M:%S") if millis else ""
