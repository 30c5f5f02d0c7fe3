"""A sweep on an ``s3://`` store (issue 17), against a real S3-compatible server on 127.0.0.1
(tests/s3_server.py): results, models, TensorBoard event files and checkpoints all land in
the bucket; a driver killed mid-sweep leaves checkpoints there that the same command resumes
from; ``orch.load_model`` and ``orch tensorboard`` read them back. Real local Ray."""

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
from tests.conftest import REPO, run_summary

pytestmark = pytest.mark.ray


def test_the_quickstart_on_s3_leaves_models_event_files_and_results_in_the_bucket(s3_server, tmp_path, capsys):
    import orchestrator as orch

    bucket = s3_server.new_bucket()
    uri = s3_server.store_uri(bucket)
    argv = ["run", str(REPO / "configs" / "quickstart.yaml"), "--store", uri,
            "--set", "training.epochs=2", "--set", "outputs.save_model=true"]
    assert main(argv) == 0
    assert run_summary(capsys.readouterr().err)["completed"] == 4
    files = s3_server.files(f"{bucket}/store")
    models = [f for f in files if f.startswith(f"{bucket}/store/models/quickstart/") and f.endswith(".keras")]
    events = [f for f in files if f.startswith(f"{bucket}/store/tensorboard/quickstart/") and ".tfevents." in f]
    assert len(models) == 4 and len(events) >= 4
    assert not [f for f in files if "/checkpoints/" in f or "/.tmp-" in f]  # finished; no half-written files

    assert main(["results", "quickstart", "--store", uri, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 and {f"{bucket}/store/models/quickstart/{r['trial_id']}.keras" for r in rows} == set(models)

    best = max(rows, key=lambda r: r["val_accuracy"])  # the quickstart searches on val_accuracy, max
    model = orch.load_model(uri, "quickstart", "best")
    assert model.count_params() == 61706  # LeNet-5
    same = orch.load_model(uri, "quickstart", best["trial_id"])
    assert [w.tolist() for w in same.get_weights()] == [w.tolist() for w in model.get_weights()]

    # orch tensorboard: the event files copied to a local cache, readable by TensorBoard's own reader.
    cache = tmp_path / "tb-cache"
    assert main(["tensorboard", "quickstart", "--store", uri, "--cache", str(cache), "--sync-only"]) == 0
    assert f"{len(events)} files fetched" in capsys.readouterr().out
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    runs = EventMultiplexer().AddRunsFromDirectory(str(cache / "quickstart"))
    runs.Reload()
    tags = {run: set(runs.GetAccumulator(run).Tags()["tensors"]) for run in runs.Runs()}
    test_runs = [run for run, t in tags.items() if "test_accuracy" in t]
    assert len(test_runs) == 4  # every trial's test metrics
    assert sum("epoch_accuracy" in t for t in tags.values()) >= 4  # the per-epoch curves
    assert main(["tensorboard", "quickstart", "--store", uri, "--cache", str(cache), "--sync-only"]) == 0
    assert "files fetched" not in capsys.readouterr().out  # nothing new: nothing copied again


def test_load_model_without_saved_models_says_how_to_get_them(s3_server, tmp_path, capsys):
    import orchestrator as orch
    from orchestrator.errors import InputError

    bucket = s3_server.new_bucket()
    uri = s3_server.store_uri(bucket)
    one = tmp_path / "plain.yaml"
    one.write_text("name: plain\ndataset: {name: mnist_sample}\ntraining: {epochs: 1}\n")
    assert main(["run", str(one), "--store", uri]) == 0
    with pytest.raises(InputError, match="no saved model.*outputs.save_model=true"):
        orch.load_model(uri, "plain", "best")
    assert main(["tensorboard", "nope", "--store", uri, "--sync-only"]) == 2
    assert "no sweep 'nope'" in capsys.readouterr().err


def _settled_json(fs, path: str, seconds: float = 10.0) -> dict:
    """The JSON object at ``path`` once the server has finished writing it. The killed trainer's
    last request (the move of a new state.json into place) may still run in the moto server
    after the client died, and moto serves a key while it copies into it: a read then can see
    a torn file, which S3 itself never shows. (orch's resume discards a torn one anyway.)"""
    deadline = time.monotonic() + seconds
    while True:
        with fs.open_input_stream(path) as stream:
            text = stream.read()
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_killed_driver_leaves_checkpoints_in_the_bucket_and_the_same_command_resumes_them(
        s3_server, tmp_path, capsys):
    bucket = s3_server.new_bucket()
    uri = s3_server.store_uri(bucket)
    experiment = tmp_path / "long.yaml"  # the quickstart's 2 adam trials, 30 epochs each
    experiment.write_text((REPO / "configs" / "quickstart.yaml").read_text().replace("epochs: 10", "epochs: 30")
                          .replace("training.optimizer: [adam, rmsprop]", "training.optimizer: [adam]"))
    argv = ["run", str(experiment), "--store", uri, "--name", "long", "--set", "outputs.tensorboard=false"]
    log = tmp_path / "first.log"
    first = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *argv], cwd=REPO, stdout=log.open("w"),
                             stderr=subprocess.STDOUT, start_new_session=True, env=os.environ.copy())
    prefix = f"{bucket}/store/checkpoints/long"
    try:
        deadline = time.monotonic() + 300
        while len([f for f in s3_server.files(prefix) if f.endswith("/state.json")]) < 2:
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no checkpoints in the bucket within 300 s"
            time.sleep(0.5)
        time.sleep(2.0)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the driver, its Ray and trainers: no clean-up runs
        first.wait()
    states = {}
    fs = s3_server.filesystem()
    for path in (f for f in s3_server.files(prefix) if f.endswith("/state.json")):
        states[path.split("/")[-2]] = len(_settled_json(fs, path)["epochs"])
    assert len(states) == 2 and min(states.values()) >= 1

    assert main(argv) == 0
    assert run_summary(capsys.readouterr().err)["completed"] == 2
    rows = ParquetResultsStore(uri).read_trials("long").to_pylist()
    assert {r["trial_id"] for r in rows} == set(states) and len(rows) == 2
    for r in rows:
        assert r["status"] == "completed" and r["epochs_run"] == 30
        assert r["resumed_epochs"] >= states[r["trial_id"]]  # went on from the bucket's checkpoint
    assert not s3_server.files(prefix)  # finished: the resume points are gone
