"""The one training loop (trainers/fused.py) against Keras itself: a trial run alone must
train as ``model.fit`` trains the same model on the same batches, epoch by epoch.

TF tier. The reference builds the trial's model the way the trainer does (seeded, compiled
by ``trainers.trial_model.compiled_model``: the loop is under test, not the model) and feeds
``fit`` each epoch's images in the order written here with numpy (``default_rng([seed,
epoch])``, the documented order), unshuffled, in batches of the trial's size, the last one
ragged. Compared: per-epoch training loss and accuracy, validation loss and accuracy, test.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from orchestrator.config import DatasetConfig, ModelConfig, OutputsConfig, ResourcesConfig, TrainingConfig
from orchestrator.trial import TrialSpec, TrialStatus, trial_id_for

pytestmark = [
    pytest.mark.tf,
    pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed"),
]

# Stated tolerance. Measured on this machine (one TensorFlow thread, 3 epochs): loss differs by
# at most 5e-8 (2e-8 relative), accuracies are equal to the last float32 bit. The loop sums
# per-image losses and divides once where Keras averages each batch and weights batches by
# size: equal up to float32 rounding. The margin (rel 1e-5, accuracy 1e-6) is for kernels that
# split work by thread count when this pytest process started TensorFlow with more threads; a
# loop that feeds other batches or another order misses it by orders of magnitude.
LOSS = dict(rel=1e-5, abs=1e-6)
ACCURACY = 1e-6


@pytest.fixture(scope="module", autouse=True)
def device(cpu_device):
    return cpu_device


@pytest.fixture(scope="module")
def data():
    from tests.conftest import sample_arrays

    return sample_arrays(640, 256, 128)  # 640 = 12 batches of 50 + a ragged batch of 40


SETTINGS = {
    "adam": dict(optimizer="adam", learning_rate=3e-3),
    # A schedule counted in epochs: the loop must give the optimizer the steps of an epoch.
    "sgd-step-decay": dict(optimizer="sgd", learning_rate=0.1, momentum=0.9, lr_schedule="step", decay_rate=0.5,
                           decay_steps=1),
}


def spec(seed: int = 3, settings: str = "adam") -> TrialSpec:
    dataset, model = DatasetConfig(name="mnist_sample"), ModelConfig()
    training = TrainingConfig(batch_size=50, epochs=3, seed=seed, **SETTINGS[settings])
    return TrialSpec(sweep="vs-keras", trial_id=trial_id_for(dataset, model, training), dataset=dataset, model=model,
                     training=training, resources=ResourcesConfig(), outputs=OutputsConfig(tensorboard=False))


def keras_reference(s: TrialSpec, data) -> tuple[list[tuple[float, float, float, float]], float, float]:
    import keras

    from trainers.trial_model import compiled_model

    n, batch = len(data.x_train), s.training.batch_size
    keras.utils.set_random_seed(s.training.seed)
    model = compiled_model(s, data, math.ceil(n / batch), replicas=1)
    epochs = []
    for epoch in range(s.training.epochs):
        order = np.random.default_rng([s.training.seed, epoch]).permutation(n)
        history = model.fit(data.x_train[order], data.y_train[order], batch_size=batch, epochs=1, shuffle=False,
                            verbose=0)
        val_loss, val_accuracy = model.evaluate(data.x_val, data.y_val, batch_size=256, verbose=0)
        epochs.append((history.history["loss"][0], history.history["accuracy"][0], val_loss, val_accuracy))
    test_loss, test_accuracy = model.evaluate(data.x_test, data.y_test, batch_size=128, verbose=0)
    return epochs, test_loss, test_accuracy


@pytest.mark.parametrize("settings", sorted(SETTINGS))
def test_a_trial_alone_trains_as_keras_fit_on_the_same_batches(data, device, settings):
    from trainers import run_trial

    s = spec(settings=settings)
    result = run_trial(s, data, device)
    assert result.status is TrialStatus.COMPLETED, result.error
    expected, test_loss, test_accuracy = keras_reference(s, data)
    assert len(result.epochs) == len(expected) == 3
    for got, (loss, accuracy, val_loss, val_accuracy) in zip(result.epochs, expected):
        assert got.loss == pytest.approx(loss, **LOSS), got.epoch
        assert got.val_loss == pytest.approx(val_loss, **LOSS), got.epoch
        assert got.accuracy == pytest.approx(accuracy, abs=ACCURACY), got.epoch
        assert got.val_accuracy == pytest.approx(val_accuracy, abs=ACCURACY), got.epoch
    assert result.test_loss == pytest.approx(test_loss, **LOSS)
    assert result.test_accuracy == pytest.approx(test_accuracy, abs=ACCURACY)
    # The model learned something, so the match is not two untrained models agreeing.
    assert result.epochs[-1].val_accuracy > 0.5 and result.epochs[-1].loss < result.epochs[0].loss
