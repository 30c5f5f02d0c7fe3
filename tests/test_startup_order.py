"""The order of a sweep's start-up (issue 19, item 3), on a real local Ray without TensorFlow:
the first trial may launch as soon as one trainer is ready, the others join as each is ready,
a warm session keeps trainers still starting, and an embedded Ray starts quiet (no dashboard,
no worker logs in the terminal) unless asked."""

from __future__ import annotations

import logging
import time

import pytest

ray = pytest.importorskip("ray")

from cluster import connection  # noqa: E402
from cluster._startup import PreparedSweep, TrainerPool, start_and_check  # noqa: E402
from cluster.warm import WarmPool  # noqa: E402
from orchestrator.progress import StartupPhases, SweepProgress  # noqa: E402
from tests.conftest import grid_specs, private_ray  # noqa: E402

pytestmark = pytest.mark.ray


@ray.remote(num_cpus=0)
class _FakeTrainer:
    """Ready (its ``describe`` answers) after ``delay`` seconds, as a trainer is once
    TensorFlow has loaded."""

    def __init__(self, delay: float) -> None:
        time.sleep(delay)

    def describe(self) -> dict:
        return {"ready": True}


def _pool(delays: list[float]) -> TrainerPool:
    pending = list(delays)
    return TrainerPool(lambda: _FakeTrainer.remote(pending.pop(0)), trainers=len(delays))


def _specs():
    # A built-in model on built-in data: no model check, only the data to load.
    return grid_specs(seeds=[0, 1])


def test_the_sweep_starts_when_the_first_trainer_is_ready_and_the_others_join_later(monkeypatch):
    # Waiting for every trainer would wait the slow one's 20 s out (not the grace period's).
    monkeypatch.setattr("cluster._startup.REPLACEMENT_GRACE_SECONDS", 900.0)
    with private_ray(2):
        pool, idle = _pool([0.0, 20.0]), []
        phases = StartupPhases()
        datasets, images = start_and_check(pool, 2, _specs(), idle, SweepProgress(), phases, poll=0.05)
        assert len(idle) == 1  # one trainer to launch on, now
        assert len(pool.refs) == 1  # the other still starting: RayExecutor.run settles it when ready
        assert images and set(images) == set(datasets)  # the data was loaded before returning
        assert "starting the first of 2 trainers (TensorFlow loads in each)" in [p.name for p in phases.phases]
        pool.kill_all()


def test_a_trainer_that_dies_starting_is_replaced_while_the_sweep_waits_for_its_first():
    with private_ray(2):
        pool, idle = _pool([-1.0, 0.0]), []  # the first raises in its start-up (sleep(-1))
        start_and_check(pool, 1, _specs(), idle, SweepProgress(), StartupPhases(), poll=0.05)
        assert len(idle) == 1 and not pool.refs  # its replacement is the one ready
        assert len(pool.failures.errors) == 1 and "ValueError" in pool.failures.errors[0]


def test_a_warm_session_keeps_trainers_still_starting_when_the_sweep_is_released():
    with private_ray(2):
        pool, idle = _pool([0.0, 600.0]), []
        warm = WarmPool()
        prepared = PreparedSweep(_specs(), 2, pool, idle, {}, events=None, warm=warm, shape=("s",))
        prepared.datasets, _ = start_and_check(pool, 2, _specs(), idle, SweepProgress(), StartupPhases(), poll=0.05)
        prepared.release()
        assert len(warm.trainers[("s",)]) == 2  # the ready one and the one still starting
        warm.close()


def test_without_a_session_trainers_still_starting_are_stopped_on_release():
    with private_ray(2):
        pool, idle = _pool([0.0, 600.0]), []
        start_and_check(pool, 2, _specs(), idle, SweepProgress(), StartupPhases(), poll=0.05)
        (starting,) = pool.refs
        pool.kill_all()
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(starting, timeout=60)


@pytest.mark.parametrize("verbose", [False, True])
def test_an_embedded_ray_starts_without_the_dashboard_and_keeps_worker_logs_out_unless_verbose(monkeypatch, verbose):
    calls = []
    monkeypatch.setattr(connection.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(connection.ray, "init", lambda **kw: calls.append(kw))
    monkeypatch.setattr(connection.ray, "shutdown", lambda: None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with connection.ray_session(None, verbose=verbose):
        pass
    (kw,) = calls
    assert kw["address"] == "local" and kw["include_dashboard"] is False
    assert kw["log_to_driver"] is verbose
    assert kw["logging_level"] == (logging.INFO if verbose else logging.ERROR)
