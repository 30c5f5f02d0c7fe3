"""Shared test helpers. Data fixtures skip with a reason when the files are absent."""

from __future__ import annotations

import contextlib
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from orchestrator.config import parse_experiment
from orchestrator.plan import expand_sweep
from orchestrator.trial import EpochRecord, TrialResult, TrialSpec, TrialStatus

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cpu_device():
    """One thread, one replica, set before the module's first TensorFlow op. If another
    module already started TensorFlow in this pytest process, the thread count can no longer
    change; one CPU device needs no setup, so the tests go on with it."""
    from trainers import DeviceInfo, configure_process

    try:
        return configure_process(replicas=1, threads=1)
    except RuntimeError:
        return DeviceInfo("CPU", 1)


@contextlib.contextmanager
def private_ray(num_cpus: int):
    """A Ray of its own for the body (none left from another test), shut down after."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture
def fresh_ray():
    """No Ray left running from another test: each test picks its own cluster shape."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    yield
    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def mnist_dir() -> Path:
    path = Path(os.environ.get("ORCH_TEST_MNIST_DIR", REPO.parent / "shared" / "data" / "mnist"))
    if not (path / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"full MNIST not found at {path} (set ORCH_TEST_MNIST_DIR)")
    return path


def sample_arrays(train: int, val: int, test: int):
    """A slice of the offline sample as DatasetArrays: small enough for TF-tier tests."""
    from orchestrator.config import DatasetConfig
    from trainers.datasets import DatasetArrays, load_dataset

    d = load_dataset(DatasetConfig(name="mnist_sample", validation=val))
    return DatasetArrays(d.name, d.x_train[:train], d.y_train[:train], d.x_val, d.y_val, d.x_test[:test],
                         d.y_test[:test], 10)


def grid_specs(**sweep) -> list[TrialSpec]:
    """Specs of a small experiment; keyword args become the sweep section."""
    return expand_sweep(parse_experiment({"name": "t", "sweep": sweep}))


def finished(spec: TrialSpec, test_accuracy: float = 0.9, epochs: int = 2, status=TrialStatus.COMPLETED,
             ended_offset: float = 0.0) -> TrialResult:
    """A hand-written result for store/query tests (no training involved)."""
    start = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=ended_offset)
    records = [EpochRecord(e, 1.0 / e, 0.5 + e / 10, 1.1 / e, 0.45 + e / 10, 2.0) for e in range(1, epochs + 1)]
    return TrialResult(
        trial_id=spec.trial_id, status=status, started_at=start, ended_at=start + timedelta(seconds=10),
        epochs=records, test_loss=0.1, test_accuracy=test_accuracy, param_count=61706, global_batch_size=128,
        train_seconds=4.0, total_seconds=5.0, host="h", device_kind="CPU", device_count=1,
        error=None if status is TrialStatus.COMPLETED else "boom",
    )


_SUMMARY = re.compile(r"^sweep \S+: (\d+) completed, (\d+) stopped early, (\d+) failed, (\d+) already stored, "
                      r"(\d+) retries;", re.MULTILINE)


def run_summary(err: str) -> dict[str, int]:
    """The counts of ``orch run``'s summary line, read whole: "0 completed" cannot match inside
    "10 completed" as a substring check would. Fails when the line is missing."""
    found = _SUMMARY.findall(err)
    assert len(found) == 1, f"expected one summary line in:\n{err[-2000:]}"
    return dict(zip(("completed", "stopped", "failed", "stored", "retries"), map(int, found[0])))


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3-compatible server (moto's) on 127.0.0.1 for the whole run; see tests/s3_server.py."""
    pytest.importorskip("moto.server", reason="moto[server] is a test dependency: pip install -e '.[test]'")
    from tests import s3_server as s3

    server = s3.start(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.process.terminate()
    server.process.wait(timeout=30)

