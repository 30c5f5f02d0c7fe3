"""Trainers that fail while they start (real local Ray): a process killed during start-up is
replaced like one that dies mid-trial and the sweep goes on; a start-up error that repeats
(a broken install) aborts with that error, before anything is written."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from cluster import ray_session  # noqa: E402
from orchestrator.cli import main  # noqa: E402
from orchestrator.config import parse_experiment  # noqa: E402
from orchestrator.driver import run_experiment  # noqa: E402
from orchestrator.store import ParquetResultsStore  # noqa: E402
from tests.test_ray_sweep import _descends_from  # noqa: E402

pytestmark = [pytest.mark.ray,
              pytest.mark.skipif(not Path("/proc").exists(), reason="finds trainer processes through /proc (Linux)")]

# Ray titles an actor process so while its creation task (TensorFlow import, device set-up) runs.
STARTING = "ray::_Trainer.__init__"


class _StartupKiller(threading.Thread):
    """SIGKILLs the first ``count`` trainer processes of this test's Ray seen starting: an OOM
    kill or a preempted node while TensorFlow loads."""

    def __init__(self, count: int) -> None:
        super().__init__(daemon=True)
        self.count = count
        self.killed: list[int] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set() and len(self.killed) < self.count:
            for proc in Path("/proc").iterdir():
                try:
                    title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                except (OSError, ValueError):
                    continue
                pid = int(proc.name) if proc.name.isdigit() else 0
                if title.startswith(STARTING) and pid not in self.killed and _descends_from(pid, os.getpid()):
                    os.kill(pid, signal.SIGKILL)
                    self.killed.append(pid)
                    if len(self.killed) >= self.count:
                        return
            self._halt.wait(0.02)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def test_trainers_killed_while_starting_are_replaced_and_every_trial_stored_once(fresh_ray, tmp_path):
    experiment = parse_experiment({"name": "startkill", "training": {"epochs": 1, "batch_size": 256},
                                   "resources": {"trainers": 2}, "sweep": {"seeds": [0, 1, 2]}})
    store = ParquetResultsStore(str(tmp_path / "store"))
    killer = _StartupKiller(count=2)
    killer.start()
    try:
        with ray_session():
            summary = run_experiment(experiment, store)
    finally:
        killer.stop()
    assert len(killer.killed) == 2  # both first trainers died starting: before, "cannot start"
    assert (summary.completed, summary.failed, summary.retries) == (3, 0, 0)
    rows = store.read_trials("startkill").to_pylist()
    assert sorted(r["trial_id"] for r in rows) == sorted({r["trial_id"] for r in rows}) and len(rows) == 3
    assert all(r["status"] == "completed" and r["attempts"] == 1 for r in rows)


def test_a_start_up_error_that_repeats_aborts_with_that_error_and_writes_nothing(fresh_ray, tmp_path, capsys):
    # A broken install on the nodes: `import tensorflow` fails in every trainer, every time.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tensorflow.py").write_text("raise ImportError('tensorflow is broken on this node')\n")
    path = os.pathsep.join([str(broken), os.environ.get("PYTHONPATH", ""), *sys.path])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    config = tmp_path / "exp.yaml"
    config.write_text("name: broken\ntraining:\n  epochs: 1\nresources:\n  trainers: 2\n"
                      "sweep:\n  seeds: [0, 1, 2]\n")
    store_dir = tmp_path / "store"
    assert main(["run", str(config), "--store", str(store_dir)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("orch run: sweep stopped: trainer actors cannot start: ImportError: "
                              "tensorflow is broken on this node (the same error 3 times)"), err[-1]
    assert not store_dir.exists()  # refused before the store was touched
