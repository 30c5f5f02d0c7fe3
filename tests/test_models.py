"""trainers.models: the registry of the eight reference architectures.

TF tier: builds models on the CPU, never trains. Keras is imported inside the tests (as in
test_trainer.py), so collecting this file for a unit-only run does not start TensorFlow.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest

from orchestrator.config import MODEL_PARAMS, ModelConfig, ModelName

pytestmark = pytest.mark.tf

NAMES: tuple[str, ...] = typing.get_args(ModelName)

# Reference parameter counts on 28x28x1 images, 10 classes, at each model's defaults.
# one_conv: 5*5*32+32 + (14*14*32)*10+10; keras_lenet: 320 + 9,248 + 18,496 + 36,928 +
# (7*7*64)*128+128 + 1,290 (derived, no reference number).
PARAM_COUNTS = {
    "lenet5": 61_706,
    "lenet5_wide": 1_663_370,
    "one_conv": 63_562,
    "stride_conv": 57_722,
    "stride_conv_maxpool": 57_722,
    "lenet5_avgpool": 44_426,
    "keras_lenet": 467_818,
    "conv_pool_relu": 104_342,
}


@pytest.fixture(scope="module", autouse=True)
def device():
    """Same process setup as test_trainer.py, whichever module starts TensorFlow first."""
    from trainers import DeviceInfo, configure_process

    try:
        return configure_process(replicas=1, threads=1)
    except RuntimeError:
        return DeviceInfo("CPU", 1)


def _build(name: str = "lenet5", input_shape: tuple[int, ...] = (28, 28, 1), num_classes: int = 10,
           **kwargs: Any) -> Any:
    """Build ``name`` with ModelConfig fields and build_model keywords mixed in ``kwargs``."""
    from trainers.builders import build_model

    fields = {k: kwargs.pop(k) for k in list(kwargs) if k in ModelConfig.__dataclass_fields__}
    return build_model(ModelConfig(name=name, **fields), input_shape, num_classes, **kwargs)


def _signature(model: Any) -> list[Any]:
    """What distinguishes two built models: each layer's type and config (names aside),
    and the parameter count."""
    layers = [
        (type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"})
        for layer in model.layers
    ]
    return [model.count_params(), *layers]


def _layers(model: Any, *types: type) -> list[Any]:
    return [layer for layer in model.layers if isinstance(layer, types)]


def _non_default(name: str, param: str) -> Any:
    """A valid value of ``param`` that differs from what ``name`` uses by default."""
    from trainers.models import resolve_config

    value = getattr(resolve_config(ModelConfig(name=name)), param)
    if param in ("filters", "hidden_units"):
        return [v + 3 for v in value] if value is not None else [7, 9]
    return {
        "kernel_size": 5 if value == 3 else 3,
        "pool_size": 3,
        "pooling": "max" if value == "avg" else "avg",
        "padding": "same" if value == "valid" else "valid",
        "dropout": 0.3,
        "initializer": "truncated_normal",
        "init_stddev": 0.05,
        "bias_init": 0.2,
    }[param]


# ---- the registry ----------------------------------------------------------------------


def test_registry_covers_exactly_the_config_model_names() -> None:
    from trainers.models import MODELS

    assert set(MODELS) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_cover_exactly_the_models_nullable_parameters(name: str) -> None:
    """Every parameter the model has whose config default is None gets a model default,
    and no default is given for a parameter the model does not have."""
    from orchestrator.config import MODEL_DEFAULTS

    nullable = {p for p in MODEL_PARAMS[name] if getattr(ModelConfig(), p) is None}
    assert set(MODEL_DEFAULTS[name]) == nullable


# ---- shapes and sizes ------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("input_shape", "num_classes"), [((28, 28, 1), 10), ((28, 28, 1), 26), ((32, 32, 3), 7)])
def test_shapes_come_from_the_arguments(name: str, input_shape: tuple[int, ...], num_classes: int) -> None:
    model = _build(name, input_shape, num_classes)
    assert tuple(model.input_shape) == (None, *input_shape)
    assert tuple(model.output_shape) == (None, num_classes)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_at_defaults(name: str) -> None:
    assert _build(name).count_params() == PARAM_COUNTS[name]


@pytest.mark.parametrize("name", NAMES)
def test_hidden_layers_use_the_activation_and_the_output_is_softmax(name: str) -> None:
    import keras

    model = _build(name, activation="tanh")
    conv = _layers(model, keras.layers.Conv2D)
    dense = _layers(model, keras.layers.Dense)
    # conv_pool_relu applies the activation after pooling, as separate layers.
    expected_conv = keras.activations.linear if name == "conv_pool_relu" else keras.activations.tanh
    assert conv and all(layer.activation is expected_conv for layer in conv)
    assert all(layer.activation is keras.activations.tanh for layer in dense[:-1])
    assert dense[-1].activation is keras.activations.softmax
    separate = [layer.activation for layer in _layers(model, keras.layers.Activation)]
    assert separate == ([keras.activations.tanh] * 2 if name == "conv_pool_relu" else [])


# ---- parameters ------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_null_parameters_take_the_model_defaults(name: str) -> None:
    from orchestrator.config import MODEL_DEFAULTS

    explicit = {k: list(v) if isinstance(v, tuple) else v for k, v in MODEL_DEFAULTS[name].items()}
    assert _signature(_build(name, **explicit)) == _signature(_build(name))


@pytest.mark.parametrize(("name", "param"), [(n, p) for n in NAMES for p in sorted(MODEL_PARAMS[n])])
def test_each_parameter_the_model_has_changes_it(name: str, param: str) -> None:
    # init_stddev and bias_init only matter for the truncated-normal initialiser.
    base = {"initializer": "truncated_normal"} if param in ("init_stddev", "bias_init") else {}
    changed = {**base, param: _non_default(name, param)}
    assert _signature(_build(name, **changed)) != _signature(_build(name, **base)), changed


@pytest.mark.parametrize("name", NAMES)
def test_builders_read_only_the_parameters_the_model_has(name: str) -> None:
    """Config validation rejects the others; a builder that read one anyway would make a
    model the config does not describe. Here they are set (bypassing validation) and the
    model must not change."""
    others = {
        f.name for f in dataclasses.fields(ModelConfig)
        # builder and params pick a user's model instead (tests/test_usermodel.py)
        if f.name not in MODEL_PARAMS[name] and f.name not in ("name", "activation", "builder", "params")
    }
    assert others, "every model lacks some parameter"
    stray = {p: _non_default(name, p) for p in others}
    assert _signature(_build(name, **stray)) == _signature(_build(name)), stray


@pytest.mark.parametrize(("name", "default", "other"), [
    ("lenet5", "max", "avg"),
    ("lenet5_avgpool", "avg", "max"),
])
def test_pooling_kind(name: str, default: str, other: str) -> None:
    import keras

    kinds = {"max": keras.layers.MaxPooling2D, "avg": keras.layers.AveragePooling2D}
    for pooling, expected in ((None, default), (other, other)):
        model = _build(name, pooling=pooling)
        assert len(_layers(model, kinds[expected])) == 2
        assert not _layers(model, kinds["avg" if expected == "max" else "max"])


def test_keras_lenet_pool_size() -> None:
    import keras

    pools = _layers(_build("keras_lenet", pool_size=3), keras.layers.MaxPooling2D)
    assert [p.pool_size for p in pools] == [(3, 3)] * 2
    assert [p.strides for p in pools] == [(3, 3)] * 2


def test_conv_pool_relu_padding() -> None:
    import keras

    for padding in ("same", "valid"):
        convs = _layers(_build("conv_pool_relu", padding=padding), keras.layers.Conv2D)
        assert [c.padding for c in convs] == [padding] * 2


# Dropout layers each model gets when dropout > 0.
DROPOUTS = {"lenet5": 2, "lenet5_wide": 1, "one_conv": 1, "lenet5_avgpool": 2, "keras_lenet": 3}


def test_dropout_table_lists_the_models_with_dropout() -> None:
    assert set(DROPOUTS) == {n for n in NAMES if "dropout" in MODEL_PARAMS[n]}


@pytest.mark.parametrize("name", sorted(DROPOUTS))
def test_dropout_zero_means_no_layer_and_a_rate_means_that_rate(name: str) -> None:
    import keras

    assert not _layers(_build(name, dropout=0.0), keras.layers.Dropout)
    layers = _layers(_build(name, dropout=0.4), keras.layers.Dropout)
    assert [layer.rate for layer in layers] == [0.4] * DROPOUTS[name]


def _wrong_lengths() -> list[tuple[str, str, list[int], int]]:
    """(model, list field, a value one entry too long, and where the default allows it one
    too short, the expected length) for every list parameter of every model."""
    from orchestrator.config import MODEL_DEFAULTS

    cases = []
    for name in NAMES:
        for field in ("filters", "hidden_units"):
            default = list(MODEL_DEFAULTS[name].get(field, ()))
            if default:
                cases.append((name, field, [*default, 4], len(default)))
                if len(default) > 1:
                    cases.append((name, field, default[:-1], len(default)))
    return cases


def test_wrong_length_lists_are_rejected_with_the_model_field_and_length() -> None:
    cases = _wrong_lengths()
    lists = {(n, f) for n in NAMES for f in ("filters", "hidden_units") if f in MODEL_PARAMS[n]}
    assert {(name, field) for name, field, _, _ in cases} == lists
    for name, field, value, count in cases:
        with pytest.raises(ValueError) as info:
            _build(name, **{field: value})
        message = str(info.value)
        assert f"model {name!r}" in message and field in message, message
        assert f"must have {count} entr" in message and str(value) in message, message


# ---- regularisation --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lenet5", "conv_pool_relu", "keras_lenet"])
@pytest.mark.parametrize("regularize", ["conv", "dense", "all"])
def test_regularizer_goes_on_exactly_the_chosen_kernels(name: str, regularize: str) -> None:
    import keras

    reg = keras.regularizers.L2(1e-4)
    model = _build(name, kernel_regularizer=reg, regularize=regularize)
    conv = _layers(model, keras.layers.Conv2D)
    dense = _layers(model, keras.layers.Dense)
    want_conv, want_dense = regularize in ("conv", "all"), regularize in ("dense", "all")
    assert all((layer.kernel_regularizer is reg) == want_conv for layer in conv)
    # The output layer is a dense layer too.
    assert all((layer.kernel_regularizer is reg) == want_dense for layer in dense)
    assert all(layer.bias_regularizer is None for layer in conv + dense)
    assert len(model.losses) == want_conv * len(conv) + want_dense * len(dense) > 0


def test_no_regularizer_means_no_losses() -> None:
    import keras

    model = _build("lenet5")
    assert all(layer.kernel_regularizer is None for layer in _layers(model, keras.layers.Conv2D, keras.layers.Dense))
    assert not model.losses


def test_unknown_regularize_is_rejected() -> None:
    import keras

    with pytest.raises(ValueError, match="regularize"):
        _build(kernel_regularizer=keras.regularizers.L2(1e-4), regularize="bias")


# ---- initialisation --------------------------------------------------------------------


def test_truncated_normal_initializer_matches_the_tf1_references() -> None:
    import keras
    import numpy as np

    stddev, bias = 0.05, 0.3
    keras.utils.set_random_seed(0)
    model = _build("lenet5_wide", initializer="truncated_normal", init_stddev=stddev, bias_init=bias)
    layers = _layers(model, keras.layers.Conv2D, keras.layers.Dense)
    kernels = [layer.kernel.numpy().ravel() for layer in layers]
    assert all(np.all(layer.bias.numpy() == np.float32(bias)) for layer in layers)
    # Redrawn beyond 2 stddev, which shrinks the spread to ~0.88 stddev.
    assert max(np.abs(k).max() for k in kernels) <= 2 * stddev * (1 + 1e-6)
    assert all(0.80 * stddev < k.std() < 0.95 * stddev for k in kernels), [k.std() / stddev for k in kernels]
    assert 0.86 * stddev < np.concatenate(kernels).std() < 0.90 * stddev


def test_keras_initializer_gives_zero_biases() -> None:
    import keras
    import numpy as np

    layers = _layers(_build("lenet5"), keras.layers.Conv2D, keras.layers.Dense)
    assert all(np.all(layer.bias.numpy() == 0) for layer in layers)


def test_truncated_normal_follows_the_global_seed_and_differs_per_layer() -> None:
    """Layers of the same shape get different weights (one shared seeded initialiser would
    give them the same), and the same global seed gives the same model."""
    import keras
    import numpy as np

    def kernels() -> list[Any]:
        keras.utils.set_random_seed(7)
        model = _build("keras_lenet", filters=[8, 8], initializer="truncated_normal")
        return [c.kernel.numpy() for c in _layers(model, keras.layers.Conv2D)]

    first, again = kernels(), kernels()
    same_shape = [k for k in first if k.shape == (3, 3, 8, 8)]
    assert len(same_shape) == 3
    assert not np.array_equal(same_shape[0], same_shape[1]) and not np.array_equal(same_shape[1], same_shape[2])
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


# ---- input scaling ---------------------------------------------------------------------


@pytest.mark.parametrize(("normalize", "expected"), [(True, 1.0), (False, 255.0)])
def test_normalize_scales_uint8_to_unit_or_keeps_0_255(normalize: bool, expected: float) -> None:
    import keras
    import numpy as np

    model = _build("lenet5", normalize=normalize)
    first = model.layers[0](np.full((1, 28, 28, 1), 255, dtype=np.uint8))
    assert keras.backend.standardize_dtype(first.dtype) == "float32"
    assert float(first.numpy().max()) == expected
    assert model(np.zeros((2, 28, 28, 1), dtype=np.uint8)).shape == (2, 10)
