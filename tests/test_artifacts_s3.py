"""Artifacts on a store that is not a local directory (issue 17): a trial on an ``s3://``
store (a real S3-compatible server on 127.0.0.1, tests/s3_server.py) leaves its final model
and TensorBoard event files in the bucket, its checkpoints are found there by a trainer with
nothing on its own disk (another node), a damaged remote checkpoint is discarded with one
warning, and a store that cannot be written is a warning, not a lost result. TF tier."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import warnings

import pytest

from orchestrator.config import OutputsConfig
from tests.test_training_features import spec

pytestmark = [
    pytest.mark.tf,
    pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed"),
]


@pytest.fixture(scope="module", autouse=True)
def device(cpu_device):
    return cpu_device


@pytest.fixture(scope="module")
def data():
    from tests.conftest import sample_arrays

    return sample_arrays(256, 128, 64)


def _on_s3(s3_server, **outputs):
    bucket = s3_server.new_bucket()
    s = spec(outputs=OutputsConfig(**{"checkpoint_every": 1, "tensorboard": False, **outputs}), epochs=2,
             batch_size=128)
    return dataclasses.replace(s, artifacts_root=s3_server.store_uri(bucket)), f"{bucket}/store"


def _run(s, data, device):
    from trainers import run_trial
    from trainers.artifact_files import ArtifactWarning
    from trainers.artifacts import CheckpointWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_trial(s, data, device)
    return result, [str(w.message) for w in caught if issubclass(w.category, (CheckpointWarning, ArtifactWarning))]


def test_the_model_and_tensorboard_files_land_in_the_bucket_and_no_checkpoint_is_left(s3_server, data, device):
    import keras

    s, prefix = _on_s3(s3_server, save_model=True, tensorboard=True)
    result, messages = _run(s, data, device)
    assert result.status.value == "completed" and messages == []
    files = s3_server.files(prefix)
    assert f"{prefix}/models/feat/{s.trial_id}.keras" in files
    events = [f for f in files if f.startswith(f"{prefix}/tensorboard/feat/{s.trial_id}/") and ".tfevents." in f]
    assert len(events) >= 3  # train and validation scalars, the test metrics (and HParams)
    assert not [f for f in files if "/checkpoints/" in f]  # finished: no resume point left
    local = s3_server.filesystem()
    with local.open_input_stream(f"{prefix}/models/feat/{s.trial_id}.keras") as stream:
        blob = stream.read()
    path = f"/tmp/{s.trial_id}-from-s3.keras"
    with open(path, "wb") as out:
        out.write(blob)
    assert keras.models.load_model(path).count_params() == result.param_count


def _checkpoint_after_epoch_1(s, data):
    from orchestrator.trial import EpochRecord
    from trainers.artifacts import TrialArtifacts
    from trainers.trial_model import compiled_model

    artifacts = TrialArtifacts(s)
    artifacts.save_checkpoint(compiled_model(s, data, 2, 1), [EpochRecord(1, 1.0, 0.5, 1.1, 0.4, 2.0)])
    artifacts.close()  # its scratch directory goes: the resume below finds nothing on local disk


def test_a_trial_resumes_from_its_checkpoint_in_the_bucket(s3_server, data, device):
    s, prefix = _on_s3(s3_server)
    _checkpoint_after_epoch_1(s, data)
    directory = f"{prefix}/checkpoints/feat/{s.trial_id}"
    assert s3_server.files(directory) == [f"{directory}/model-1.keras", f"{directory}/state.json"]
    result, messages = _run(s, data, device)
    assert messages == []
    assert result.resumed_epochs == 1 and [r.epoch for r in result.epochs] == [1, 2]
    assert result.epochs[0].loss == 1.0  # epoch 1 is the checkpoint's record, not retrained
    assert s3_server.files(directory) == []


@pytest.mark.parametrize("damage", ["truncated model", "garbage state", "state names no file"])
def test_a_damaged_checkpoint_in_the_bucket_is_discarded_with_one_warning(damage, s3_server, data, device):
    s, prefix = _on_s3(s3_server)
    _checkpoint_after_epoch_1(s, data)
    fs, directory = s3_server.filesystem(), f"{prefix}/checkpoints/feat/{s.trial_id}"
    if damage == "truncated model":
        with fs.open_input_stream(f"{directory}/model-1.keras") as stream:
            blob = stream.read()
        with fs.open_output_stream(f"{directory}/model-1.keras") as out:
            out.write(blob[: len(blob) // 2])
    elif damage == "garbage state":
        with fs.open_output_stream(f"{directory}/state.json") as out:
            out.write(b'{"model": "model-1.keras", "epo')
    else:
        with fs.open_output_stream(f"{directory}/state.json") as out:
            out.write(json.dumps({"model": "model-9.keras", "epochs": []}).encode())
    result, messages = _run(s, data, device)
    assert result.status.value == "completed", result.error
    assert result.resumed_epochs == 0 and [r.epoch for r in result.epochs] == [1, 2]
    assert len(messages) == 1 and "\n" not in messages[0] and "starts from scratch" in messages[0]
    assert "s3://" in messages[0] and "endpoint_override" not in messages[0]  # where, without the query


def test_a_store_that_refuses_writes_costs_a_warning_not_the_result(s3_server, data, device):
    # A bucket that does not exist: every upload fails (pyarrow will not create buckets here).
    s = spec(outputs=OutputsConfig(checkpoint_every=1, tensorboard=False, save_model=True), epochs=2, batch_size=128)
    s = dataclasses.replace(s, artifacts_root=s3_server.store_uri("no-such-bucket-orch"))
    result, messages = _run(s, data, device)
    assert result.status.value == "completed" and len(result.epochs) == 2
    assert messages and all("could not write" in m and "the trial goes on" in m for m in messages)
