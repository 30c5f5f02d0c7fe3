"""A resume point that cannot be used never makes a trial unfinishable: a damaged checkpoint
is discarded with one warning and the trial starts from scratch; ``--rerun``
(``TrialSpec.fresh_start``) always starts from scratch. TF tier, on a slice of the sample."""

from __future__ import annotations

import dataclasses
import importlib.util
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
    return cpu_device  # autouse: set before this module's first TensorFlow op


@pytest.fixture(scope="module")
def data():
    from tests.conftest import sample_arrays

    return sample_arrays(256, 128, 64)


def _with_checkpoint(tmp_path, data, epochs: int = 2):
    """A 2-epoch trial and the checkpoint a crashed run of it left after epoch 1."""
    from orchestrator.trial import EpochRecord
    from trainers.artifacts import TrialArtifacts
    from trainers.trial_model import compiled_model as _compiled_model

    s = spec(tmp_path, outputs=OutputsConfig(checkpoint_every=1, tensorboard=False), epochs=epochs, batch_size=128)
    TrialArtifacts(s).save_checkpoint(_compiled_model(s, data, 2, 1), [EpochRecord(1, 1.0, 0.5, 1.1, 0.4, 2.0)])
    directory = tmp_path / "checkpoints" / s.sweep / s.trial_id
    assert (directory / "model-1.keras").is_file()
    return s, directory


def _run(s, data, device):
    from trainers import run_trial
    from trainers.artifacts import CheckpointWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_trial(s, data, device)
    return result, [str(w.message) for w in caught if issubclass(w.category, CheckpointWarning)]


@pytest.mark.parametrize("damage", ["truncated model", "empty model", "garbage state", "state names no file"])
def test_a_damaged_checkpoint_is_discarded_with_one_warning_and_the_trial_runs_in_full(
        damage, data, device, tmp_path):
    s, directory = _with_checkpoint(tmp_path, data)
    model = directory / "model-1.keras"
    if damage == "truncated model":
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    elif damage == "empty model":
        model.write_bytes(b"")
    elif damage == "garbage state":
        (directory / "state.json").write_text('{"model": "model-1.keras", "epo')
    else:
        model.unlink()
    result, messages = _run(s, data, device)
    assert result.status.value == "completed", result.error
    assert result.resumed_epochs == 0 and [r.epoch for r in result.epochs] == [1, 2]
    assert len(messages) == 1 and "\n" not in messages[0] and "starts from scratch" in messages[0]
    assert not directory.exists()  # finished: no resume point left behind


def test_fresh_start_ignores_and_deletes_a_good_checkpoint(data, device, tmp_path):
    s, directory = _with_checkpoint(tmp_path, data)
    result, messages = _run(dataclasses.replace(s, fresh_start=True), data, device)
    assert result.resumed_epochs == 0 and [r.epoch for r in result.epochs] == [1, 2]
    assert messages == []
    # Without fresh_start the same checkpoint is resumed from (the check above means something).
    s2, _ = _with_checkpoint(tmp_path, data)
    result, _ = _run(s2, data, device)
    assert result.resumed_epochs == 1
