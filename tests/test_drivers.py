"""Many drivers, one sweep (issue 20): `orch run` started several times on one store, as real
processes, each with its own embedded Ray, cooperating through claims in the store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.store import ParquetResultsStore
from tests.conftest import REPO

pytestmark = pytest.mark.ray


def _driver(argv: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *argv], cwd=REPO, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def test_three_slurm_array_tasks_on_one_store_run_each_trial_once_and_all_exit_0(tmp_path, capsys):
    """examples/slurm/array.sbatch as Slurm runs each task of the array (the #SBATCH lines are
    comments to bash): three drivers started 1 s apart, each with its own Ray, one store."""
    store_dir = tmp_path / "store"
    experiment = tmp_path / "coop.yaml"
    experiment.write_text((REPO / "configs" / "quickstart.yaml").read_text().replace("name: quickstart", "name: coop")
                          .replace("epochs: 10", "epochs: 3").replace("seeds: [0]", "seeds: [0, 1]"))
    # As in a task whose environment has orch installed: this Python's `orch` first on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "SLURM_CPUS_PER_TASK": "1", "CUDA_VISIBLE_DEVICES": ""}
    drivers = []
    for i in range(3):
        log = (tmp_path / f"task{i}.log").open("w")
        drivers.append(subprocess.Popen(["bash", str(REPO / "examples" / "slurm" / "array.sbatch"), str(experiment),
                                         str(store_dir)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
        time.sleep(1)
    codes = [d.wait(timeout=900) for d in drivers]
    logs = [(tmp_path / f"task{i}.log").read_text() for i in range(3)]
    assert codes == [0, 0, 0], logs
    assert not any("on 2 trainers" in log for log in logs)  # SLURM_CPUS_PER_TASK=1, not the machine's 2 cores
    rows = ParquetResultsStore(str(store_dir)).read_trials("coop").to_pylist()
    assert len(rows) == 8, [(r["trial_id"], r["status"]) for r in rows]  # 4 configs x 2 seeds, each stored once
    assert {r["status"] for r in rows} == {"completed"} and len({r["trial_id"] for r in rows}) == 8
    assert main(["results", "coop", "--store", str(store_dir), "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown) == 8 and {r["status"] for r in shown} == {"completed"}


@pytest.mark.skipif(not Path("/proc").exists(), reason="waits for the killed driver's processes through /proc")
def test_a_killed_drivers_trials_are_taken_over_and_resumed_from_their_checkpoints(tmp_path, capsys):
    store_dir = tmp_path / "store"
    experiment = tmp_path / "takeover.yaml"  # the quickstart, 2 trials of 20 epochs
    experiment.write_text((REPO / "configs" / "quickstart.yaml").read_text().replace("epochs: 10", "epochs: 20")
                          .replace("training.optimizer: [adam, rmsprop]", "training.optimizer: [adam]"))
    argv = ["run", str(experiment), "--store", str(store_dir), "--name", "takeover",
            "--set", "resources.trainers=1", "--set", "resources.claim_expiry_seconds=600"]
    first = _driver(argv, tmp_path / "first.log")
    checkpoints = store_dir / "checkpoints" / "takeover"
    try:
        deadline = time.monotonic() + 300
        while not list(checkpoints.glob("*/state.json")):
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.2)
        time.sleep(1.0)  # a checkpoint or two more
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the driver and everything it started: no clean-up runs
        first.wait()
    (claimed,) = [p.parent.name for p in checkpoints.glob("*/state.json")]  # the trial it was running
    state = json.loads((checkpoints / claimed / "state.json").read_text())
    assert len(state["epochs"]) >= 1
    # Far within the 600 s expiry: the killed driver ran on this host and its process is gone.
    started = time.monotonic()
    assert main(argv) == 0
    assert time.monotonic() - started < 400
    err = capsys.readouterr().err
    assert f"took over {claimed}" in err and "resuming it from its checkpoint" in err
    rows = ParquetResultsStore(str(store_dir)).read_trials("takeover").to_pylist()
    assert len(rows) == 2 and len({r["trial_id"] for r in rows}) == 2  # none twice, none lost
    resumed = next(r for r in rows if r["trial_id"] == claimed)
    assert resumed["status"] == "completed" and resumed["epochs_run"] == 20
    assert resumed["resumed_epochs"] >= len(state["epochs"])  # went on from the killed driver's checkpoint


def test_two_drivers_on_one_tpe_search_end_at_its_budget_in_all(tmp_path):
    store_dir = tmp_path / "store"
    argv = ["run", str(REPO / "examples" / "search.yaml"), "--store", str(store_dir), "--name", "coop-tpe",
            "--set", "training.epochs=1", "--set", "resources.trainers=1"]
    drivers = []
    for i in range(2):
        drivers.append(_driver(argv, tmp_path / f"driver{i}.log"))
        time.sleep(1)
    codes = [d.wait(timeout=900) for d in drivers]
    assert codes == [0, 0], [(tmp_path / f"driver{i}.log").read_text() for i in range(2)]
    rows = ParquetResultsStore(str(store_dir)).read_trials("coop-tpe").to_pylist()
    assert len({r["trial_id"] for r in rows}) == 12  # samples: 12, in all, not per driver
    assert len(rows) == 12
