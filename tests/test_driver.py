"""The driver and ``orch run`` around a scripted executor (no Ray, no TensorFlow): what the
trainers are handed, which exit code each ending gives, and that a compaction that fails
after the trials are stored is one warning, not a failed sweep. The executor's contract is
kept by a fake that runs the source's trials by a script (KerasTuner's MockModel habit);
the real executor is the Ray tier's."""

from __future__ import annotations

import contextlib
import sys
import types
from dataclasses import dataclass, field

import pytest

from orchestrator.cli import main
from orchestrator.config import parse_experiment
from orchestrator.driver import run_experiment
from orchestrator.store import InMemoryResultsStore, ParquetResultsStore, StoreError, StoreWarning
from orchestrator.trial import TrialStatus
from tests.conftest import finished, run_summary

pytestmark = pytest.mark.unit


@dataclass
class _Summary:
    completed: int = 0
    stopped: int = 0
    failed: int = 0
    retries: int = 0
    trainers: int = 1
    wall_seconds: float = 0.0


@dataclass
class ScriptedExecutor:
    """Runs every trial the source hands out: ``outcome(spec)`` says how it ends (a status, or
    an exception to raise, e.g. KeyboardInterrupt as Ctrl-C does)."""

    outcome: object = lambda spec: TrialStatus.COMPLETED
    ran: list = field(default_factory=list)

    def prepare(self, specs, progress, trials=None, phases=None):
        return types.SimpleNamespace(release=lambda: None)

    def run(self, prepared, store, progress, skipped=0, source=None, own_ids=None):
        summary = _Summary()
        try:
            while (spec := source.take()) is not None:
                self.ran.append(spec)
                status = self.outcome(spec)
                if isinstance(status, BaseException):
                    raise status
                result = finished(spec, status=status)
                store.append(spec, result)
                source.finished(spec, result)
                summary.completed += status is TrialStatus.COMPLETED
                summary.stopped += status is TrialStatus.STOPPED
                summary.failed += status is TrialStatus.FAILED
        finally:
            source.close()  # as the executor does: a driver's claims go with it
        return summary


@pytest.fixture
def executor(monkeypatch):
    """``import cluster`` inside the driver gets the scripted executor and no Ray."""
    scripted = ScriptedExecutor()
    fake = types.ModuleType("cluster")
    fake.RayExecutor = lambda warm=None: scripted
    fake.ray_session = lambda address=None, ship=(), verbose=False: contextlib.nullcontext()
    monkeypatch.setitem(sys.modules, "cluster", fake)
    return scripted


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("name: s\ntraining: {epochs: 1}\nsweep: {seeds: [0, 1, 2]}\n")
    return str(path)


def run(config, tmp_path, *extra):
    return main(["run", config, "--store", str(tmp_path / "store"), *extra])


def test_every_trial_completed_exits_0_and_a_second_run_runs_nothing(executor, config, tmp_path, capsys):
    assert run(config, tmp_path) == 0
    assert run_summary(capsys.readouterr().err) == dict(completed=3, stopped=0, failed=0, stored=0, retries=0)
    assert len(executor.ran) == 3
    assert run(config, tmp_path) == 0
    assert run_summary(capsys.readouterr().err) == dict(completed=0, stopped=0, failed=0, stored=3, retries=0)
    assert len(executor.ran) == 3  # nothing ran the second time


def test_a_failed_trial_exits_1_and_only_it_runs_again(executor, config, tmp_path, capsys):
    executor.outcome = lambda spec: TrialStatus.FAILED if spec.training.seed == 1 else TrialStatus.STOPPED
    assert run(config, tmp_path) == 1
    assert run_summary(capsys.readouterr().err) == dict(completed=0, stopped=2, failed=1, stored=0, retries=0)
    executor.outcome = lambda spec: TrialStatus.COMPLETED
    assert run(config, tmp_path) == 0
    assert run_summary(capsys.readouterr().err) == dict(completed=1, stopped=0, failed=0, stored=2, retries=0)
    assert [s.training.seed for s in executor.ran] == [0, 1, 2, 1]  # the stopped ones are final


def test_rerun_reaches_the_trainers_as_a_fresh_start(executor, config, tmp_path, capsys):
    assert run(config, tmp_path) == 0
    assert [s.fresh_start for s in executor.ran] == [False] * 3  # resume from a checkpoint, if any
    capsys.readouterr()
    assert run(config, tmp_path, "--rerun") == 0
    assert [s.fresh_start for s in executor.ran[3:]] == [True] * 3  # checkpoints deleted, not resumed
    assert run_summary(capsys.readouterr().err) == dict(completed=3, stopped=0, failed=0, stored=0, retries=0)


def test_ctrl_c_exits_130_and_keeps_what_was_stored(executor, config, tmp_path, capsys):
    executor.outcome = lambda spec: KeyboardInterrupt() if spec.training.seed == 2 else TrialStatus.COMPLETED
    assert run(config, tmp_path) == 130
    assert "interrupted; finished trials are stored" in capsys.readouterr().err
    assert ParquetResultsStore(str(tmp_path / "store")).read_trials("s").num_rows == 2


def test_a_bad_config_exits_2_before_anything_runs(executor, tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("training: {momentum: 0.9}\nsweep:\n  grid: {training.optimizer: [sgd, adam]}\n")
    assert run(str(path), tmp_path) == 2
    assert "adam has no momentum" in capsys.readouterr().err
    assert executor.ran == [] and not (tmp_path / "store").exists()


def test_a_compaction_that_fails_is_a_warning_and_the_sweep_succeeds(executor, config, tmp_path, capsys,
                                                                     monkeypatch):
    def broken(self, sweep=None, **kwargs):
        raise StoreError("another compaction holds the lock")

    monkeypatch.setattr(ParquetResultsStore, "compact", broken)
    assert run(config, tmp_path) == 0
    err = capsys.readouterr().err
    assert "orch run: warning: results stored, but not compacted: another compaction holds the lock" in err
    assert ParquetResultsStore(str(tmp_path / "store")).read_trials("s").num_rows == 3


def test_run_experiment_warns_when_compaction_fails(executor):
    class NoCompaction(InMemoryResultsStore):
        def compact(self, sweep=None):
            raise StoreError("disk full")

    store = NoCompaction()
    experiment = parse_experiment({"name": "w", "training": {"epochs": 1}, "sweep": {"seeds": [0, 1]}})
    with pytest.warns(StoreWarning, match="results stored, but not compacted: disk full"):
        summary = run_experiment(experiment, store)
    assert (summary.completed, summary.failed) == (2, 0)
    assert store.read_trials("w").num_rows == 2


def test_the_summary_reader_does_not_take_10_for_0():
    line = "sweep s: 10 completed, 0 stopped early, 0 failed, 20 already stored, 0 retries; 1.0s on 2 trainers\n"
    assert run_summary(line) == dict(completed=10, stopped=0, failed=0, stored=20, retries=0)
    assert run_summary(line)["completed"] != 0


@pytest.mark.parametrize(("status", "code"), [("SUCCEEDED", 0), ("FAILED", 1), ("STOPPED", 1)])
def test_following_a_job_exits_0_only_if_it_succeeded(monkeypatch, capsys, status, code):
    def follow_job(address, job_id, write):
        write("trial 1/1 done\n")
        return status, None if status == "SUCCEEDED" else "the sweep exited with 1"

    fake = types.ModuleType("cluster")
    fake.jobs = types.SimpleNamespace(follow_job=follow_job)
    monkeypatch.setitem(sys.modules, "cluster", fake)
    argv = ["jobs", "logs", "raysubmit_x", "--address", "http://127.0.0.1:8265", "--follow"]
    assert main(argv) == code
    out, err = capsys.readouterr()
    assert out == "trial 1/1 done\n" and f"job raysubmit_x: {status}" in err


def test_ctrl_c_while_following_a_job_exits_130_and_leaves_the_job_running(monkeypatch, capsys):
    def follow_job(address, job_id, write):
        raise KeyboardInterrupt

    fake = types.ModuleType("cluster")
    fake.jobs = types.SimpleNamespace(follow_job=follow_job)
    monkeypatch.setitem(sys.modules, "cluster", fake)
    assert main(["jobs", "logs", "raysubmit_x", "--address", "http://127.0.0.1:8265", "--follow"]) == 130
    assert "job raysubmit_x goes on" in capsys.readouterr().err
