"""``orch run``'s exit codes end to end, as a shell sees them: real ``python -m
orchestrator.cli`` processes, a real local Ray. 0 all stored, 1 trials failed, 2 bad input
(before Ray or the store), 130 on Ctrl-C (SIGINT) while trials run. The decisions behind each
code are guarded in the unit tier (tests/test_driver.py); these prove the entry point keeps
them. Few and short: one trainer, one epoch, the offline sample."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, run_summary

pytestmark = pytest.mark.ray

SWEEP = (
    "name: {name}\ndataset: {{name: mnist_sample, validation: 0.1}}\n"
    "model: {{name: {model}, kernel_size: {kernel}}}\n"
    "training: {{batch_size: 256, epochs: {epochs}}}\nresources: {{trainers: 1}}\nsweep: {{seeds: {seeds}}}\n"
)


def _config(tmp_path: Path, name: str, model: str = "lenet5_avgpool", kernel: int = 5, epochs: int = 1,
            seeds: str = "[0]") -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SWEEP.format(name=name, model=model, kernel=kernel, epochs=epochs, seeds=seeds))
    return str(path)


def _orch(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def test_bad_input_exits_2_before_ray_or_the_store(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: {momentum: 0.9}\nsweep:\n  grid: {training.optimizer: [sgd, adam]}\n")
    done = _orch("run", str(bad), "--store", str(tmp_path / "store"), timeout=60)
    assert done.returncode == 2, done.stderr
    assert "adam has no momentum" in done.stderr and "Traceback" not in done.stderr
    usage = _orch("run", str(bad), "--no-such-flag", timeout=60)
    assert usage.returncode == 2 and "Try 'orch --help' for help." in usage.stderr, usage.stderr
    assert not (tmp_path / "store").exists()


def test_a_sweep_exits_0_when_every_trial_is_stored_and_1_when_one_failed(tmp_path):
    store = str(tmp_path / "store")
    ok = _orch("run", _config(tmp_path, "ok"), "--store", store)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert run_summary(ok.stderr) == dict(completed=1, stopped=0, failed=0, stored=0, retries=0)
    # Kernels of 13x13 'valid' shrink 28x28 images below zero by the second conv: the trial
    # fails inside its trainer (an error, not a crash: never retried).
    broken = _orch("run", _config(tmp_path, "broken", kernel=13), "--store", store)
    assert broken.returncode == 1, broken.stderr[-3000:]
    assert run_summary(broken.stderr) == dict(completed=0, stopped=0, failed=1, stored=0, retries=0)


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_ctrl_c_while_trials_run_exits_130_and_keeps_finished_trials(tmp_path):
    store = tmp_path / "store"
    argv = ["run", _config(tmp_path, "interrupted", epochs=2, seeds="[0, 1, 2, 3, 4, 5]"), "--store", str(store)]
    driver = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *argv], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    trials = store / "trials" / "interrupted"
    try:
        deadline = time.monotonic() + 240
        while not (trials.exists() and list(trials.glob("*.parquet"))):
            assert driver.poll() is None, "the sweep ended before it could be interrupted"
            assert time.monotonic() < deadline, "no trial was stored within 240 s"
            time.sleep(0.2)
        driver.send_signal(signal.SIGINT)  # what Ctrl-C delivers to the driver
        _, err = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    assert driver.returncode == 130, err[-3000:]
    assert "interrupted; finished trials are stored" in err
    from orchestrator.store import ParquetResultsStore

    stored = ParquetResultsStore(str(store)).read_trials("interrupted").to_pylist()
    assert 1 <= len(stored) < 6 and all(r["status"] == "completed" for r in stored)
