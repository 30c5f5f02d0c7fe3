"""Fused trials on a real local Ray: the same results as alone, the same stopping decisions,
and a killed fused group's trials each retried once from their checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("ray")

from cluster import ray_session  # noqa: E402
from orchestrator.config import parse_experiment  # noqa: E402
from orchestrator.driver import run_experiment  # noqa: E402
from orchestrator.store import ParquetResultsStore  # noqa: E402
from tests.test_ray_sweep import _KillFirstTrainer  # noqa: E402

pytestmark = pytest.mark.ray


def _experiment(name: str, fuse: int, **extra) -> object:
    return parse_experiment({
        "name": name,
        "training": {"epochs": 2, "batch_size": 256},
        "resources": {"trainers": 1, "fuse": fuse},
        "outputs": {"tensorboard": False},
        "sweep": {"grid": {"training.learning_rate": [0.003, 0.001], "model.activation": ["relu", "tanh"]}},
        **extra,
    })


def _by_trial(store, sweep):
    epochs = {}
    for row in store.read_epochs(sweep).to_pylist():
        epochs.setdefault(row["trial_id"], []).append(
            (row["epoch"], row["loss"], row["accuracy"], row["val_loss"], row["val_accuracy"]))
    return {k: sorted(v) for k, v in epochs.items()}


def test_a_trial_gives_the_same_epochs_alone_or_fused_and_the_same_halving_decisions(fresh_ray, tmp_path):
    """Four trials, one trainer: alone (fuse 1) and as one group of four (fuse 4). Same ids,
    same per-epoch metrics to the last bit (one loop trains both; a trial's branch never
    sees its companions), and halving at epoch 1 stops the same trials: the rung keeper
    hears the trials in the same order with the same values."""
    stopping = {"stopping": {"rungs": [1], "keep": 0.5}}
    alone = ParquetResultsStore(str(tmp_path / "alone"))
    fused = ParquetResultsStore(str(tmp_path / "fused"))
    with ray_session():
        a = run_experiment(_experiment("s", 1, **stopping), alone)
        b = run_experiment(_experiment("s", 4, **stopping), fused)
    assert (a.completed + a.stopped, b.completed + b.stopped) == (4, 4)
    assert _by_trial(alone, "s") == _by_trial(fused, "s")
    rows_a = {r["trial_id"]: r for r in alone.read_trials("s").to_pylist()}
    rows_b = {r["trial_id"]: r for r in fused.read_trials("s").to_pylist()}
    assert rows_a.keys() == rows_b.keys()
    assert {k: r["status"] for k, r in rows_a.items()} == {k: r["status"] for k, r in rows_b.items()}
    assert "stopped" in {r["status"] for r in rows_a.values()}  # halving did stop someone
    assert {r["test_accuracy"] for r in rows_a.values()} == {r["test_accuracy"] for r in rows_b.values()}
    assert {r["fused_with"] for r in rows_a.values()} == {1}
    assert {r["fused_with"] for r in rows_b.values()} == {4}


@pytest.mark.skipif(not Path("/proc").exists(), reason="finds trainer processes through /proc (Linux)")
def test_a_fused_group_whose_trainer_dies_retries_each_trial_from_its_checkpoint(fresh_ray, tmp_path):
    experiment = parse_experiment({
        "name": "crash", "training": {"epochs": 5, "batch_size": 256},
        "resources": {"trainers": 1, "fuse": 3}, "outputs": {"tensorboard": False},
        "sweep": {"seeds": [0, 1, 2]},
    })
    store = ParquetResultsStore(str(tmp_path))
    killer = _KillFirstTrainer()
    with ray_session():
        summary = run_experiment(experiment, store, progress=killer)
    assert len(killer.killed) == 1
    assert (summary.completed, summary.failed, summary.retries) == (3, 0, 3)  # the group's three, once each
    rows = store.read_trials("crash").to_pylist()
    assert len(rows) == 3 and len({r["trial_id"] for r in rows}) == 3
    assert sorted(r["attempts"] for r in rows) == [2, 2, 2]
    assert all(r["epochs_run"] == 5 and r["resumed_epochs"] >= 1 for r in rows)
    for trial_id in {r["trial_id"] for r in rows}:
        epochs = [e["epoch"] for e in store.read_epochs("crash").to_pylist() if e["trial_id"] == trial_id]
        assert sorted(epochs) == [1, 2, 3, 4, 5]


def test_fuse_auto_measures_and_records_the_choice(fresh_ray, tmp_path):
    store = ParquetResultsStore(str(tmp_path))
    with ray_session():
        summary = run_experiment(_experiment("auto", "auto"), store)
    assert summary.completed == 4
    rows = store.read_trials("auto").to_pylist()
    (rates,) = {r["fusion_rates"] for r in rows}
    import json

    measured = json.loads(rates)
    assert set(measured) == {"1", "2", "4"} and all(v > 0 for v in measured.values())
    assert {r["fused_with"] for r in rows} <= {1, 2, 4}
