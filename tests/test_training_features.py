"""Training features of the reference workloads: schedules, regularisation, early stopping,
checkpoint save/resume, TensorBoard logs. TF tier, on small slices of the offline sample."""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest

from orchestrator.config import DatasetConfig, ModelConfig, OutputsConfig, ResourcesConfig, TrainingConfig
from orchestrator.trial import TrialSpec, TrialStatus, trial_id_for

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

    return sample_arrays(640, 256, 128)


def spec(tmp_path=None, model=ModelConfig(), outputs=OutputsConfig(tensorboard=False), **training) -> TrialSpec:
    dataset = DatasetConfig(name="mnist_sample")
    cfg = TrainingConfig(**{"optimizer": "adam", "learning_rate": 3e-3, "batch_size": 64, "epochs": 2, **training})
    return TrialSpec(
        sweep="feat", trial_id=trial_id_for(dataset, model, cfg), dataset=dataset, model=model, training=cfg,
        resources=ResourcesConfig(), outputs=outputs, artifacts_root=str(tmp_path) if tmp_path else None,
    )


@pytest.mark.parametrize(
    "settings, steps_per_epoch, expected",  # expected lr at optimizer steps 0, 5, 10, 25
    [
        ({}, 10, [0.1, 0.1, 0.1, 0.1]),
        ({"lr_schedule": "exponential", "decay_rate": 0.5, "decay_steps": 10, "decay_unit": "step"}, 99,
         [0.1, 0.1 * 0.5 ** 0.5, 0.05, 0.1 * 0.5 ** 2.5]),
        ({"lr_schedule": "exponential", "decay_rate": 0.5, "decay_steps": 10, "decay_unit": "step", "staircase": True},
         99, [0.1, 0.1, 0.05, 0.025]),
        ({"lr_schedule": "exponential", "decay_rate": 0.5, "decay_steps": 1, "decay_unit": "epoch"}, 10,
         [0.1, 0.1 * 0.5 ** 0.5, 0.05, 0.1 * 0.5 ** 2.5]),
        ({"lr_schedule": "step", "decay_rate": 0.1, "decay_steps": 2}, 5, [0.1, 0.1, 0.01, 0.001]),
    ],
)
def test_schedule_values(settings, steps_per_epoch, expected):
    from trainers.optimizers import learning_rate

    lr = learning_rate(TrainingConfig(learning_rate=0.1, **settings), steps_per_epoch)
    got = [float(lr(step)) if callable(lr) else lr for step in (0, 5, 10, 25)]
    assert got == pytest.approx(expected, rel=1e-5)


def test_clipnorm_reaches_the_optimizer():
    from trainers.optimizers import build_optimizer

    assert build_optimizer(TrainingConfig(clipnorm=1.5)).clipnorm == 1.5
    assert build_optimizer(TrainingConfig()).clipnorm is None


def test_l2_penalty_enters_the_loss(data, device):
    from trainers.trial_model import compiled_model as _compiled_model

    plain = _compiled_model(spec(), data, 10, 1)
    penalised = _compiled_model(spec(l2=0.5, regularize="dense"), data, 10, 1)
    assert not plain.losses
    assert len(penalised.losses) == 3  # FC120, FC84, output
    x, y = data.x_train[:64], data.y_train[:64]
    penalised.set_weights(plain.get_weights())
    plain_loss = plain.evaluate(x, y, verbose=0)[0]
    penalised_loss = penalised.evaluate(x, y, verbose=0)[0]
    dense_kernels = [l.kernel for l in penalised.layers if l.__class__.__name__ == "Dense"]
    expected_penalty = sum(0.5 * float(np.sum(np.square(k))) for k in dense_kernels)
    assert penalised_loss - plain_loss == pytest.approx(expected_penalty, rel=1e-3)


def test_early_stopping_stops_and_restores_the_best_epoch(data, device, tmp_path):
    import keras

    from trainers import run_trial
    from trainers.artifacts import TrialArtifacts
    from trainers.datasets import DatasetArrays

    # Random labels: the model can only memorise, so validation loss rises after an epoch or two.
    rng = np.random.default_rng(0)
    noisy = DatasetArrays(
        data.name, data.x_train, rng.integers(0, 10, len(data.y_train)).astype(np.uint8),
        data.x_val, rng.integers(0, 10, len(data.y_val)).astype(np.uint8), data.x_test, data.y_test, 10,
    )
    s = spec(tmp_path, outputs=OutputsConfig(tensorboard=False, save_model=True), epochs=30, learning_rate=1e-2,
             early_stopping_patience=1)
    result = run_trial(s, noisy, device)
    assert result.status is TrialStatus.COMPLETED
    assert len(result.epochs) < 30
    # Patience 1: the last epoch did not improve on the one before it, which was the best.
    losses = [r.val_loss for r in result.epochs]
    best = int(np.argmin(losses))
    assert best == len(losses) - 2
    # The weights kept are that epoch's: the saved model scores its validation loss, not the last one's.
    model = keras.models.load_model(TrialArtifacts(s).model_path)
    val_loss = model.evaluate(noisy.x_val, noisy.y_val, batch_size=256, verbose=0)[0]
    assert val_loss == pytest.approx(losses[best], rel=1e-5)
    assert val_loss != pytest.approx(losses[-1], rel=1e-5)


def test_checkpoint_resume_gives_the_same_weights_and_optimizer_state(data, device, tmp_path):
    from trainers.artifacts import TrialArtifacts
    from trainers.trial_model import compiled_model as _compiled_model, resume as _resume

    s = spec(tmp_path, outputs=OutputsConfig(checkpoint_every=1, tensorboard=False), epochs=1)
    model = _compiled_model(s, data, 10, 1)
    model.fit(data.x_train, data.y_train, batch_size=64, epochs=1, verbose=0)
    artifacts = TrialArtifacts(s)
    from orchestrator.trial import EpochRecord

    records = [EpochRecord(1, 1.0, 0.5, 1.1, 0.4, 2.0)]
    artifacts.save_checkpoint(model, records)

    fresh = _compiled_model(s, data, 10, 1)
    done = _resume(fresh, artifacts)
    assert done == records
    for a, b in zip(model.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(fresh.optimizer.iterations) == int(model.optimizer.iterations) > 0
    for a, b in zip(model.optimizer.variables, fresh.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_run_trial_resumes_from_a_checkpoint_and_clears_it(data, device, tmp_path):
    """A retried trial starts after its last saved epoch; the finished trial leaves no checkpoint."""
    from trainers import run_trial
    from trainers.artifacts import TrialArtifacts
    from trainers.trial_model import compiled_model as _compiled_model

    s = spec(tmp_path, outputs=OutputsConfig(checkpoint_every=1, tensorboard=False, save_model=True), epochs=3)
    first = run_trial(dataclasses.replace(s, training=dataclasses.replace(s.training, epochs=2)), data, device)
    # Simulate a run that died after epoch 2: put its checkpoint back under the 3-epoch trial.
    model = _compiled_model(s, data, 10, 1)
    TrialArtifacts(s).save_checkpoint(model, first.epochs)
    seen = []
    result = run_trial(s, data, device, on_epoch=seen.append)
    assert [r.epoch for r in result.epochs] == [1, 2, 3]
    assert [r.epoch for r in seen] == [3]  # only the new epoch ran
    assert (first.resumed_epochs, result.resumed_epochs) == (0, 2)
    assert result.epochs[:2] == first.epochs
    assert not (tmp_path / "checkpoints" / "feat" / s.trial_id).exists()
    assert (tmp_path / "models" / "feat" / f"{s.trial_id}.keras").is_file()


def test_tensorboard_logs_hold_scalars_and_the_hparams_summary(data, device, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from trainers import run_trial

    s = spec(tmp_path, outputs=OutputsConfig(checkpoint_every=0, tensorboard=True), epochs=2)
    run_trial(s, data, device)
    log_dir = tmp_path / "tensorboard" / "feat" / s.trial_id
    assert log_dir.is_dir()
    found_hparams = False
    for events in log_dir.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events.parent))
        acc.Reload()
        if "_hparams_/session_start_info" in acc.summary_metadata or any(
            "hparams" in tag for tag in acc.Tags().get("tensors", [])
        ):
            found_hparams = True
    assert found_hparams
    assert (log_dir / "train").is_dir() and (log_dir / "validation").is_dir()


def test_shift_augmentation_acts_in_training_only_and_adds_no_weights(data, device):
    from orchestrator.config import ModelConfig as M
    from trainers.builders import build_model

    plain = build_model(M(name="lenet5"), data.input_shape, 10)
    shifted = build_model(M(name="lenet5"), data.input_shape, 10, augment_shift=0.2)
    assert shifted.count_params() == plain.count_params() == 61_706
    shifted.set_weights(plain.get_weights())
    x = data.x_val[:32]
    # Inference (evaluate, predict): the images go in unshifted, so both models agree.
    np.testing.assert_allclose(shifted(x, training=False), plain(x, training=False), rtol=1e-5, atol=1e-6)
    # Training: the shifted model sees moved images.
    assert not np.allclose(shifted(x, training=True), plain(x, training=True), atol=1e-3)
