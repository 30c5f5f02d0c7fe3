"""TensorBoard's HParams view of a trial: the test metrics beside the validation ones,
integers as integers, and only the fields that apply to the trial's model (a builder's
trial shows its model_<key> params, not the built-ins' activation/dropout/pooling)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from orchestrator.config import DatasetConfig, ModelConfig, OutputsConfig, ResourcesConfig, TrainingConfig
from orchestrator.trial import TrialSpec, trial_id_for

pytestmark = [
    pytest.mark.tf,
    pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed"),
]


def build(params, input_shape, num_classes):
    import keras

    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    for _ in range(int(params["convs"])):
        x = keras.layers.Dense(params["width"], activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def _spec(model: ModelConfig, root: Path | None = None) -> TrialSpec:
    dataset = DatasetConfig(name="mnist_sample")
    training = TrainingConfig(optimizer="adam", learning_rate=3e-3, batch_size=64, epochs=1)
    return TrialSpec(sweep="tb", trial_id=trial_id_for(dataset, model, training), dataset=dataset, model=model,
                     training=training, resources=ResourcesConfig(), outputs=OutputsConfig(tensorboard=True),
                     artifacts_root=str(root) if root else None)


BUILDER = ModelConfig(name=None, builder=build, params={"convs": 2.0, "width": 8, "tag": "x"})
BUILT_IN = ModelConfig(name="lenet5", activation="sigmoid", dropout=0.25)
BUILT_IN_FIELDS = {"activation", "filters", "kernel_size", "hidden_units", "pooling", "padding", "pool_size",
                   "dropout", "initializer", "init_stddev", "bias_init"}


def test_a_builders_trial_shows_its_own_params_and_none_of_the_built_ins():
    from trainers.tensorboard import hparams_of

    values = hparams_of(_spec(BUILDER))
    assert not BUILT_IN_FIELDS & set(values)
    assert values["model_convs"] == 2 and type(values["model_convs"]) is int  # 2, not 2.0
    assert values["model_width"] == 8 and values["model_tag"] == "x" and "build" in values["builder"]
    assert type(values["batch_size"]) is int and type(values["learning_rate"]) is float


def test_a_built_in_model_shows_only_the_fields_it_has():
    from trainers.tensorboard import hparams_of

    values = hparams_of(_spec(BUILT_IN))
    assert values["model"] == "lenet5" and values["activation"] == "sigmoid" and values["dropout"] == 0.25
    assert values.get("pooling") in (None, "max")  # lenet5 has pooling (null: its default, left out)
    assert not {"filters", "kernel_size", "hidden_units", "padding", "pool_size", "init_stddev", "bias_init"} & set(values)
    truncated = hparams_of(_spec(ModelConfig(name="lenet5", initializer="truncated_normal")))
    assert truncated["init_stddev"] == 0.1 and truncated["bias_init"] == 0.1


def test_a_trained_trial_logs_test_metrics_and_its_hparams(tmp_path, cpu_device):
    import tensorflow as tf
    from tensorboard.plugins.hparams import plugin_data_pb2

    from tests.conftest import sample_arrays
    from trainers.fused import run_fused_trials

    spec = _spec(BUILDER, tmp_path)
    [result] = run_fused_trials([spec], sample_arrays(256, 128, 128), cpu_device)
    logs = tmp_path / "tensorboard" / "tb" / spec.trial_id
    scalars, hparams = {}, {}
    for path in logs.rglob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == "_hparams_/session_start_info":
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    hparams = {k: v for k, v in data.session_start_info.hparams.items()}
                elif value.tag.startswith("test_"):
                    scalars[(path.parent.name, value.tag)] = float(tf.make_ndarray(value.tensor))
    assert scalars[("test", "test_accuracy")] == pytest.approx(result.test_accuracy)
    assert scalars[("test", "test_loss")] == pytest.approx(result.test_loss)
    assert hparams["model_convs"].number_value == 2 and "activation" not in hparams and "dropout" not in hparams
