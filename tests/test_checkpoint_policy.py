"""When a trial saves a resume point (orchestrator/plan/_checkpoints.py): every N epochs, or
``auto`` by time since the last one; never at the epoch the trial ends.

Unit tier: the decision with hand values. TF tier: the saves a real trial makes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from orchestrator.config import DatasetConfig, ModelConfig, OutputsConfig, ResourcesConfig, TrainingConfig
from orchestrator.plan import AUTO_CHECKPOINT_SECONDS, checkpoint_due
from orchestrator.trial import TrialSpec, trial_id_for


@pytest.mark.unit
@pytest.mark.parametrize("every, epoch, ending, since, due", [
    (1, 1, False, 0.0, True),
    (1, 5, True, 99.0, False),  # the trial ends: its result follows, nothing to resume
    (2, 1, False, 99.0, False),
    (2, 4, False, 0.0, True),
    (0, 3, False, 99.0, False),  # never
    ("auto", 7, False, 9.9, False),
    ("auto", 1, False, 10.0, True),
    ("auto", 3, True, 60.0, False),
])
def test_checkpoint_due(every, epoch, ending, since, due) -> None:
    assert AUTO_CHECKPOINT_SECONDS == 10.0  # the values above are written for it
    assert checkpoint_due(every, epoch, ending, since) is due


def _spec(root: Path, every: int | str, epochs: int) -> TrialSpec:
    dataset, model = DatasetConfig(name="mnist_sample"), ModelConfig(name="stride_conv")
    training = TrainingConfig(optimizer="adam", batch_size=64, epochs=epochs)
    return TrialSpec(sweep="ckpt", trial_id=trial_id_for(dataset, model, training), dataset=dataset, model=model,
                     training=training, resources=ResourcesConfig(),
                     outputs=OutputsConfig(checkpoint_every=every, tensorboard=False), artifacts_root=str(root))


@pytest.mark.tf
@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed")
@pytest.mark.parametrize("every, seconds, saved_at", [
    (1, AUTO_CHECKPOINT_SECONDS, [1, 2]),  # not at epoch 3, where the trial ends
    ("auto", AUTO_CHECKPOINT_SECONDS, []),  # epochs of a fraction of a second: none worth saving
    ("auto", 0.0, [1, 2]),  # as if every epoch took longer than the interval
])
def test_the_saves_a_trial_makes(every, seconds, saved_at, cpu_device, tmp_path, monkeypatch) -> None:
    import orchestrator.plan._checkpoints as policy
    from tests.conftest import sample_arrays
    from trainers import run_fused_trials
    from trainers.artifacts import TrialArtifacts

    monkeypatch.setattr(policy, "AUTO_CHECKPOINT_SECONDS", seconds)
    saves: list[int] = []
    real_save = TrialArtifacts.save_checkpoint

    def counting(self, model, epochs) -> None:
        saves.append(len(epochs))
        real_save(self, model, epochs)

    monkeypatch.setattr(TrialArtifacts, "save_checkpoint", counting)
    (result,) = run_fused_trials([_spec(tmp_path, every, 3)], sample_arrays(256, 64, 64), cpu_device)
    assert len(result.epochs) == 3
    assert saves == saved_at
    assert not (tmp_path / "checkpoints" / "ckpt" / result.trial_id).exists()  # cleared at the end
