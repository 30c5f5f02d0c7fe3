"""Warm sessions (orch.session) on a real local Ray: the second sweep runs on the trainers the
first one started, with results bit-identical to a cold run; another resource shape gets new
trainers; the data is reloaded when its content changes; closing stops every kept trainer."""

from __future__ import annotations

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import orchestrator as orch  # noqa: E402
from orchestrator.store import ParquetResultsStore  # noqa: E402
from tests.conftest import REPO  # noqa: E402

pytestmark = pytest.mark.ray

QUICK = {"training.epochs": 2, "training.batch_size": 512}


@pytest.fixture(scope="module")
def local_ray():
    from tests.conftest import private_ray

    with private_ray(2):
        yield


def _rows(store, sweep: str) -> dict[str, tuple]:
    rows = ParquetResultsStore(str(store)).read_trials(sweep).to_pylist()
    return {r["trial_id"]: (r["test_loss"], r["test_accuracy"], r["val_loss"], r["train_loss"]) for r in rows}


def test_the_second_sweep_runs_on_the_first_sweeps_trainers_with_the_same_results(local_ray, tmp_path):
    config = REPO / "configs" / "quickstart.yaml"
    other = {**QUICK, "training.learning_rate": 0.002}
    cold = orch.run(config, store=tmp_path / "cold", name="b", overrides=other)
    assert cold.completed == 4
    with orch.session() as s:
        first = s.run(config, store=tmp_path / "warm", name="a", overrides=QUICK)
        assert (first.completed, s.trainers_reused) == (4, 0)
        second = s.run(config, store=tmp_path / "warm", name="b", overrides=other)
        assert second.completed == 4 and s.trainers_reused == 2  # both trainers served both sweeps
        # The warm trainers' tenth trial is the cold trainers' first: bit for bit.
        assert _rows(tmp_path / "warm", "b") == _rows(tmp_path / "cold", "b")
        kept = [a for actors in s.warm.pool.trainers.values() for a in actors]
        assert len(kept) == 2
        # Another shape (2 CPUs per trainer) cannot use the kept trainers: they go, new ones start.
        third = s.run(config, store=tmp_path / "warm", name="c", overrides={**QUICK, "resources.cpus_per_trainer": 2,
                                                                           "training.seed": 5})
        assert third.completed == 4 and s.trainers_reused == 2
        for actor in kept:  # stopped to make room
            with pytest.raises(ray.exceptions.RayActorError):
                ray.get(actor.describe.remote(), timeout=30)
        last = [a for actors in s.warm.pool.trainers.values() for a in actors]
    for actor in last:  # the session's end stops every kept trainer
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(actor.describe.remote(), timeout=30)
    from orchestrator.errors import InputError

    with pytest.raises(InputError, match="session is closed"):
        s.run(config, store=tmp_path / "warm", name="d", overrides=QUICK)


def test_changed_data_is_loaded_again_in_a_session(local_ray, tmp_path):
    from tests.test_user_data_run import write_npz

    data = tmp_path / "d.npz"
    write_npz(data)
    experiment = {"name": "npz", "dataset": {"name": "npz", "path": str(data), "validation": 24},
                  "model": {"name": "one_conv"}, "training": {"epochs": 1, "batch_size": 32}}
    with orch.session() as s:
        s.run(experiment, store=tmp_path / "s")
        cached = dict(s.warm.pool.datasets)
        again = s.run(experiment, store=tmp_path / "s", rerun=True)
        assert again.completed == 1 and s.warm.pool.datasets == cached  # the same data: not loaded again
        with np.load(data) as arrays:
            changed = {k: arrays[k] for k in arrays.files}
        changed["x_train"] = 255 - changed["x_train"]
        np.savez(data, **changed)
        third = s.run(experiment, store=tmp_path / "s")
        assert third.completed == 1  # a new trial id (the data's digest changed), on freshly loaded data
        assert len(s.warm.pool.datasets) == 2
