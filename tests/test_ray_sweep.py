"""Real local Ray: sweeps end to end, GPU scheduling with logical GPUs, bad data."""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from cluster import ray_session  # noqa: E402
from cluster.actor import TrainerActor  # noqa: E402
from orchestrator.cli import main  # noqa: E402
from orchestrator.config import load_experiment, parse_experiment  # noqa: E402
from orchestrator.errors import InputError  # noqa: E402
from orchestrator.progress import SweepProgress  # noqa: E402
from orchestrator.driver import plan_run, run_experiment  # noqa: E402
from orchestrator.store import ParquetResultsStore  # noqa: E402
from tests.conftest import REPO, run_summary  # noqa: E402

pytestmark = pytest.mark.ray


def test_quickstart_through_the_cli_stores_every_trial_once(fresh_ray, tmp_path, capsys):
    store_dir = str(tmp_path / "store")
    argv = ["run", str(REPO / "configs" / "quickstart.yaml"), "--store", store_dir, "--set", "training.epochs=1"]
    assert main(argv) == 0
    assert not ray.is_initialized()  # the embedded Ray was stopped

    store = ParquetResultsStore(store_dir)
    trials = store.read_trials("quickstart").to_pylist()
    assert len(trials) == 4
    assert len({t["trial_id"] for t in trials}) == 4
    assert all(t["status"] == "completed" for t in trials)
    assert all(t["test_accuracy"] > 0.5 for t in trials)  # 1 epoch on 3,600 digits beats chance by far
    assert all(t["device_kind"] == "CPU" and t["param_count"] == 61706 for t in trials)
    # Each trainer fetches the dataset once: its first trial pays, later ones read it cached.
    assert all(t["data_seconds"] is not None and t["data_seconds"] >= 0 for t in trials)
    assert max(t["data_seconds"] for t in trials) > 0
    assert store.read_epochs("quickstart").num_rows == 4
    assert list((tmp_path / "store" / "configs" / "quickstart").glob("*.yaml"))

    capsys.readouterr()
    assert main(["results", "quickstart", "--store", store_dir, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 and {"optimizer", "activation", "test_accuracy", "train_seconds"} <= set(rows[0])

    # Running the same command again runs nothing and stores nothing twice.
    assert main(argv) == 0
    assert run_summary(capsys.readouterr().err) == dict(completed=0, stopped=0, failed=0, stored=4, retries=0)
    assert store.read_trials("quickstart").num_rows == 4


def test_gpu_scheduling_gives_each_trainer_its_own_logical_gpu(fresh_ray, tmp_path):
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)
    from ray.util.queue import Queue

    events = Queue(actor_options={"num_cpus": 0})
    actors = [TrainerActor.options(num_cpus=1, num_gpus=1).remote(replicas=1, threads=1, events=events) for _ in range(2)]
    seen = ray.get([a.describe.remote() for a in actors])
    assert sorted(s["cuda_visible_devices"] for s in seen) == ["0", "1"]
    assert all(s["gpu_ids"] == [s["cuda_visible_devices"]] for s in seen)
    for a in actors:
        ray.kill(a)

    # A whole sweep on the "GPU" cluster: one trainer per GPU, trials fall back to the CPU
    # inside (the GPUs are logical), and every trial is stored.
    experiment = parse_experiment(
        {"name": "gpu", "training": {"epochs": 1, "batch_size": 256}, "sweep": {"seeds": [0, 1, 2]}}
    )
    store = ParquetResultsStore(str(tmp_path))
    summary = run_experiment(experiment, store)
    assert (summary.completed, summary.failed, summary.trainers) == (3, 0, 2)
    assert store.read_trials("gpu").num_rows == 3


def test_missing_data_fails_before_any_trial_and_stores_nothing(fresh_ray, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ORCH_MNIST_URL", "http://127.0.0.1:9/")  # nothing listens there: no download
    monkeypatch.setenv("ORCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ORCH_DATA_DIR", raising=False)
    config = tmp_path / "exp.yaml"
    config.write_text(f"dataset:\n  name: mnist\n  data_dir: {tmp_path / 'nowhere'}\n")
    store_dir = tmp_path / "store"
    assert main(["run", str(config), "--store", str(store_dir)]) == 2
    err = capsys.readouterr().err
    assert "dataset 'mnist'" in err and "data_dir" in err
    assert ParquetResultsStore(str(store_dir)).read_trials().num_rows == 0


def test_full_mnist_trial_through_ray(fresh_ray, tmp_path, mnist_dir):
    experiment = load_experiment(
        REPO / "configs" / "lenet5-grid.yaml",
        overrides=[f"dataset.data_dir={mnist_dir}", "training.epochs=1", "sweep.grid={}", "training.optimizer=adam",
                   "training.batch_size=1024"],
    )
    store = ParquetResultsStore(str(tmp_path))
    summary = run_experiment(experiment, store)
    assert summary.completed == 1
    (row,) = store.read_trials().to_pylist()
    assert row["test_accuracy"] > 0.85
    assert row["global_batch_size"] == 1024


class _KillFirstTrainer(SweepProgress):
    """Progress hook that SIGKILLs a busy trainer process when it first hears of an epoch
    ``at_epoch`` (by then that trial's checkpoint of the epoch before is on disk)."""

    def __init__(self, at_epoch: int = 2) -> None:
        self.killed: list[int] = []
        self._at = at_epoch

    def epoch_done(self, spec, record) -> None:
        if self.killed or record.epoch < self._at:
            return
        for pid in _trainer_pids(busy=True):
            os.kill(pid, signal.SIGKILL)
            self.killed.append(pid)
            return


def _trainer_pids(busy: bool) -> list[int]:
    """Trainer processes of this test's own Ray (descendants of this process; other Ray
    clusters may run on the machine). Ray titles an actor process
    ``ray::_Trainer.run_trial`` while it runs a trial."""
    title = "ray::_Trainer.run_trial" if busy else "ray::_Trainer"
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if cmdline.startswith(title) and _descends_from(int(proc.name), os.getpid()):
            pids.append(int(proc.name))
    return pids


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # field 4, after the (comm) field
        if pid == ancestor:
            return True
    return False


@pytest.mark.skipif(not Path("/proc").exists(), reason="finds trainer processes through /proc (Linux)")
def test_trainer_killed_mid_trial_is_retried_and_every_trial_stored_once(fresh_ray, tmp_path):
    experiment = parse_experiment(
        # One trainer: the busy trainer process is the one running the trial whose epoch 2 we hear of.
        # Six epochs: the trial is still running when the driver hears of its epoch 2.
        {"name": "crash", "training": {"epochs": 6, "batch_size": 256}, "resources": {"trainers": 1},
         "sweep": {"seeds": [0, 1, 2]}}
    )
    store = ParquetResultsStore(str(tmp_path))
    killer = _KillFirstTrainer()
    with ray_session():
        summary = run_experiment(experiment, store, progress=killer)
    assert len(killer.killed) == 1
    assert (summary.completed, summary.failed, summary.retries) == (3, 0, 1)
    rows = store.read_trials("crash").to_pylist()
    assert sorted(r["trial_id"] for r in rows) == sorted({r["trial_id"] for r in rows})  # once each
    assert len(rows) == 3
    assert sorted(r["attempts"] for r in rows) == [1, 1, 2]  # the killed trial ran twice
    assert all(r["epochs_run"] == 6 for r in rows)
    # The retry went on from the dead run's last checkpoint instead of starting over.
    (retried,) = [r for r in rows if r["attempts"] == 2]
    assert retried["resumed_epochs"] >= 1
    assert all(r["resumed_epochs"] == 0 for r in rows if r["attempts"] == 1)
    epochs = [e for e in store.read_epochs("crash").to_pylist() if e["trial_id"] == retried["trial_id"]]
    assert sorted(e["epoch"] for e in epochs) == [1, 2, 3, 4, 5, 6]  # each epoch stored once


def test_resources_the_cluster_cannot_give_are_refused_not_waited_for(fresh_ray, tmp_path):
    experiment = parse_experiment({"name": "big", "resources": {"cpus_per_trainer": 3}})
    store = ParquetResultsStore(str(tmp_path))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    with pytest.raises(InputError, match="cpus_per_trainer=3 but no node of the Ray cluster has more than 2 CPUs"):
        run_experiment(experiment, store)
    assert store.read_trials().num_rows == 0


def test_unreachable_address_fails_fast_and_writes_nothing(fresh_ray, tmp_path, capsys):
    store_dir = tmp_path / "store"
    argv = ["run", str(REPO / "configs" / "quickstart.yaml"), "--address", "127.0.0.1:1", "--store", str(store_dir)]
    assert main(argv) == 2
    assert "no Ray cluster answers at 127.0.0.1:1" in capsys.readouterr().err
    assert not store_dir.exists()


def test_packing_puts_several_trainers_on_each_logical_gpu(fresh_ray, tmp_path):
    ray.init(num_cpus=4, num_gpus=2, include_dashboard=False, log_to_driver=False)
    experiment = parse_experiment(
        {"name": "packed", "training": {"epochs": 1, "batch_size": 256}, "resources": {"trainers_per_gpu": 2},
         "sweep": {"seeds": [0, 1, 2, 3]}}
    )
    store = ParquetResultsStore(str(tmp_path))
    summary = run_experiment(experiment, store)
    assert (summary.completed, summary.trainers) == (4, 4)  # 2 GPUs x 2 trainers each
    assert store.read_trials("packed").num_rows == 4

    # What each packed trainer sees: Ray gives it a half of one GPU and sets CUDA_VISIBLE_DEVICES.
    from ray.util.queue import Queue

    events = Queue(actor_options={"num_cpus": 0})
    actors = [TrainerActor.options(num_cpus=1, num_gpus=0.5).remote(replicas=1, threads=1, events=events) for _ in range(4)]
    seen = ray.get([a.describe.remote() for a in actors])
    assert sorted(s["cuda_visible_devices"] for s in seen) == ["0", "0", "1", "1"]
    assert all(s["gpu_ids"] == [s["cuda_visible_devices"]] for s in seen)


def test_successive_halving_stops_trials_outside_the_best_half(fresh_ray, tmp_path):
    # One trainer: trials reach the rung in sweep order, so the verdicts are reproducible.
    # The two 1e-5 trials (far slower to learn) reach it last and must be stopped.
    experiment = parse_experiment(
        {"name": "halving", "training": {"epochs": 3, "batch_size": 128}, "resources": {"trainers": 1},
         "stopping": {"rungs": [1], "keep": 0.5},
         "sweep": {"grid": {"training.learning_rate": [3e-3, 1e-5]}, "seeds": [0, 1]}}
    )
    store = ParquetResultsStore(str(tmp_path))
    summary = run_experiment(experiment, store)
    rows = {r["trial_id"]: r for r in store.read_trials("halving").to_pylist()}
    assert len(rows) == 4 and summary.stopped >= 2 and summary.completed + summary.stopped == 4
    slow = [r for r in rows.values() if r["learning_rate"] == 1e-5]
    assert all(r["status"] == "stopped" and r["epochs_run"] == 1 for r in slow)
    assert all(r["stop_reason"].startswith("halving: val_accuracy") for r in slow)

    # The stored verdicts, worked out here from the stored rung values (not by the code under
    # test): one trainer runs the trials in sweep order, and the k-th to reach the rung goes on
    # iff its value is at least the ceil(0.5 * k)-th best of the k values seen there so far.
    first_epochs = {e["trial_id"]: e for e in store.read_epochs("halving").to_pylist() if e["epoch"] == 1}
    from orchestrator.plan import expand_sweep

    seen: list[float] = []
    for spec in expand_sweep(experiment):
        value = first_epochs[spec.trial_id]["val_accuracy"]
        seen.append(value)
        go_on = value >= sorted(seen, reverse=True)[math.ceil(0.5 * len(seen)) - 1]
        assert rows[spec.trial_id]["status"] == ("completed" if go_on else "stopped")
        assert rows[spec.trial_id]["epochs_run"] == (3 if go_on else 1)


def test_a_run_of_failing_trials_aborts_the_sweep_with_one_message(fresh_ray, tmp_path, capsys):
    # Kernels of 13x13 'valid' shrink 28x28 images below zero by the second conv: every trial
    # fails the same way inside the trainer (not a crash: never retried).
    config = tmp_path / "broken.yaml"
    config.write_text(
        "name: broken\nmodel: {name: lenet5_avgpool, kernel_size: 13}\ntraining: {epochs: 1}\n"
        "resources: {trainers: 1, max_consecutive_failures: 2}\nsweep: {seeds: [0, 1, 2, 3]}\n"
    )
    store_dir = tmp_path / "store"
    assert main(["run", str(config), "--store", str(store_dir)]) == 1
    err = capsys.readouterr().err
    assert "2 trials in a row failed" in err and "max_consecutive_failures" in err
    rows = ParquetResultsStore(str(store_dir)).read_trials("broken").to_pylist()
    assert len(rows) == 2 and all(r["status"] == "failed" and r["attempts"] == 1 for r in rows)
    assert all(r["error"] for r in rows)


@pytest.mark.skipif(not Path("/proc").exists(), reason="finds leftover processes through /proc (Linux)")
@pytest.mark.parametrize(("config", "fuse"), [("configs/quickstart.yaml", 1), ("configs/quickstart.yaml", 2),
                                              ("examples/search.yaml", 1)], ids=["alone", "fused", "tpe"])
def test_driver_killed_mid_sweep_resumes_without_duplicates(fresh_ray, tmp_path, capsys, config, fuse):
    import subprocess
    import sys
    import time

    store_dir = tmp_path / "store"
    tpe = config.startswith("examples/search")
    overrides = ["training.epochs=4", "resources.trainers=1", f"resources.fuse={fuse}", *(["sweep.samples=4"] if tpe else [])]
    argv = ["run", str(REPO / config), "--store", str(store_dir), "--name", "resume",
            *(arg for override in overrides for arg in ("--set", override))]
    driver = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *argv], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trials_dir = store_dir / "trials" / "resume"
    try:
        deadline = time.monotonic() + 240
        while not (trials_dir.exists() and list(trials_dir.glob("*.parquet"))):
            assert driver.poll() is None, "the sweep ended before it could be interrupted"
            assert time.monotonic() < deadline, "no trial was stored within 240 s"
            time.sleep(0.2)
        orphans = [pid for pid in _processes_titled("ray::_Trainer") if _descends_from(pid, driver.pid)]
        assert orphans, "the driver's trainer processes were not found"
    finally:
        driver.kill()  # SIGKILL: no clean-up code runs in the driver
        driver.wait()
    store = ParquetResultsStore(str(store_dir))
    before = store.read_trials("resume").to_pylist()
    assert 1 <= len(before) < 4

    # Its trainers go with it: nothing keeps computing for a driver that is gone.
    deadline = time.monotonic() + 60
    while any(_alive(pid) for pid in orphans):
        assert time.monotonic() < deadline, "trainers of the killed driver still run after 60 s"
        time.sleep(0.5)

    if tpe:  # the search is rebuilt from what the killed driver stored: every stored trial told
        plan = plan_run(load_experiment(REPO / config, overrides=overrides, name="resume"), store)
        assert (plan.told, plan.to_run) == (len(before), 4 - len(before))
    assert main(argv) == 0
    assert run_summary(capsys.readouterr().err) == dict(completed=4 - len(before), stopped=0, failed=0,
                                                        stored=len(before), retries=0)
    rows = store.read_trials("resume").to_pylist()
    assert len(rows) == 4 and len({r["trial_id"] for r in rows}) == 4  # none twice, none lost
    assert {r["run_id"] for r in before} <= {r["run_id"] for r in rows}  # the first runs are kept

    if tpe:  # the resumed search was told every stored trial and asked only for the rest
        assert plan_run(load_experiment(REPO / config, overrides=overrides, name="resume"), store).to_run == 0
        return
    # --rerun runs every trial again; the latest run of each is what results show.
    assert main([*argv, "--rerun"]) == 0
    assert store.read_trials("resume").num_rows == 8
    capsys.readouterr()
    assert main(["results", "resume", "--store", str(store_dir), "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 4


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting to be reaped (a container's pid 1 may never reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _processes_titled(title: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if (proc / "cmdline").read_bytes().startswith(title.encode()):
                pids.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return pids
