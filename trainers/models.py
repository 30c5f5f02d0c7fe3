"""Model registry: ``model.name`` -> a Keras model builder.

Models accept ``uint8`` images: converting to float (and, by default, scaling to [0, 1]) is
the model's first layer. Reason: the trainer then feeds the uint8 arrays as they are, so each
batch copied into TensorFlow is 1 byte per pixel instead of 4, there is no float32 copy of the
training set in every trainer process, and the saved model takes raw images. The division
itself is one fused op per batch.

Each architecture is a small builder in :data:`MODELS` that reads its parameters from a
:class:`ModelConfig` whose ``None`` fields are already filled from ``MODEL_DEFAULTS``, and
makes its layers through a :class:`LayerFactory`, which applies the activation, initialisers
and kernel regulariser the same way in every model. :func:`trainers.builders.build_model` adds what all models
share: the uint8 input, the scaling, and the softmax output layer. Input shape and class count
always come from the dataset, never from constants.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Literal

import keras

from orchestrator.config import MODEL_DEFAULTS, ModelConfig, resolve_model
from trainers.assembly import shared_layers

__all__ = ["builtin_params", "resolve_config", "LayerFactory", "ModelBuilder", "MODELS", "BUILDERS", "MODEL_DEFAULTS"]

Regularize = Literal["all", "conv", "dense"]
Layers = list[keras.layers.Layer]

def resolve_config(config: ModelConfig) -> ModelConfig:
    """``config`` with every ``None`` parameter of its model replaced by the model's default
    (:data:`orchestrator.config.MODEL_DEFAULTS`). Sweep expansion already does this; kept
    here so a direct caller gets the same model."""
    return resolve_model(config)


@dataclass(frozen=True)
class LayerFactory:
    """Makes the layers of one model so that every model treats the shared settings alike.

    - Hidden layers use ``config.activation`` unless told otherwise.
    - ``config.initializer == "truncated_normal"``: every kernel from
      ``TruncatedNormal(stddev=config.init_stddev)`` and every bias ``Constant(config.bias_init)``
      (the TF1 references' ``tf.truncated_normal`` + ``tf.constant``); "keras": Keras defaults.
    - ``kernel_regularizer`` goes on conv kernels, dense kernels (the output layer included) or
      both, as ``regularize`` says; never on biases.
    """

    config: ModelConfig
    kernel_regularizer: keras.regularizers.Regularizer | None = None
    regularize: Regularize = "all"

    def conv(self, filters: int, kernel_size: int, *, padding: str, strides: int = 1,
             activate: bool = True) -> keras.layers.Conv2D:
        """A 2-D convolution with the hidden activation, or linear when not ``activate``."""
        return keras.layers.Conv2D(
            filters, kernel_size, strides=strides, padding=padding,
            activation=self.config.activation if activate else None, **self._weights("conv"),
        )

    def dense(self, units: int) -> keras.layers.Dense:
        """A hidden fully connected layer with the hidden activation."""
        return keras.layers.Dense(units, activation=self.config.activation, **self._weights("dense"))

    def output(self, num_classes: int) -> keras.layers.Dense:
        """The output layer: a softmax over ``num_classes``. Keras 3 keeps the logits and
        computes the loss from them, so this is as stable as ``from_logits=True``, and
        ``predict()`` gives probabilities."""
        return keras.layers.Dense(num_classes, activation="softmax", **self._weights("dense"))

    def activation(self) -> keras.layers.Activation:
        """``config.activation`` as a layer of its own (for models that apply it after pooling)."""
        return keras.layers.Activation(self.config.activation)

    def dropout(self) -> Layers:
        """``[Dropout(config.dropout)]``, or ``[]`` when the rate is 0: no layer that does nothing."""
        return [keras.layers.Dropout(self.config.dropout)] if self.config.dropout > 0 else []

    @staticmethod
    def pool(kind: str, size: int = 2) -> keras.layers.Layer:
        """Max or average pooling over ``size`` x ``size`` windows with stride ``size``."""
        if kind == "max":
            return keras.layers.MaxPooling2D(size)
        if kind == "avg":
            return keras.layers.AveragePooling2D(size)
        raise ValueError(f"pooling: expected 'max' or 'avg', got {kind!r}")

    def _weights(self, kind: Literal["conv", "dense"]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.config.initializer == "truncated_normal":
            # A fresh, seed-free initializer per layer: Keras draws each one's seed from the
            # global seed the trainer sets, so runs repeat; one shared instance would give
            # every layer of the same shape the same weights.
            kwargs["kernel_initializer"] = keras.initializers.TruncatedNormal(stddev=self.config.init_stddev)
            kwargs["bias_initializer"] = keras.initializers.Constant(self.config.bias_init)
        if self.kernel_regularizer is not None and self.regularize in ("all", kind):
            kwargs["kernel_regularizer"] = self.kernel_regularizer
        return kwargs


# A builder returns a model's layers between the input scaling and the output layer, which
# build_model adds: so every model gets the same uint8 input and the same softmax output.
ModelBuilder = Callable[[ModelConfig, LayerFactory], Layers]


def _entries(config: ModelConfig, field: str, count: int, role: str) -> list[int]:
    """``config.<field>``, checked to have ``count`` entries. The config loader cannot check
    lengths (they depend on the model), so a wrong one is caught here, with a fix."""
    values = list(getattr(config, field))
    if len(values) != count:
        default = list(MODEL_DEFAULTS[config.name][field])
        raise ValueError(
            f"model {config.name!r}: {field} must have {count} "
            f"entr{'y' if count == 1 else 'ies'} ({role}), got {values}; e.g. {field}: {default}"
        )
    return values


def lenet5(c: ModelConfig, make: LayerFactory) -> Layers:
    """Classic LeNet-5: conv 6@5x5 'same' -> pool -> conv 16@5x5 'valid' -> pool -> FC 120
    -> FC 84 (dropout after each FC when > 0). 61,706 parameters on 28x28x1, 10 classes."""
    return [
        make.conv(6, 5, padding="same"),
        make.pool(c.pooling),
        make.conv(16, 5, padding="valid"),
        make.pool(c.pooling),
        keras.layers.Flatten(),
        make.dense(120),
        *make.dropout(),
        make.dense(84),
        *make.dropout(),
    ]


def lenet5_wide(c: ModelConfig, make: LayerFactory) -> Layers:
    """conv F0@K 'same' -> maxpool -> conv F1@K 'same' -> maxpool -> FC H0 -> dropout.
    Defaults 32, 64; 5; 512: 1,663,370 parameters on 28x28x1, 10 classes."""
    return [*_conv_pool_twice_then_dense(c, make), *make.dropout()]


def one_conv(c: ModelConfig, make: LayerFactory) -> Layers:
    """conv F0@K 'same' -> maxpool -> dropout. Defaults 32; 5."""
    (f,) = _entries(c, "filters", 1, "one conv layer")
    return [
        make.conv(f, c.kernel_size, padding="same"),
        make.pool("max"),
        *make.dropout(),
        keras.layers.Flatten(),
    ]


def stride_conv(c: ModelConfig, make: LayerFactory) -> Layers:
    """Two stride-2 convs instead of pooling: conv F0@K s2 'same' -> conv F1@K s2 'same' -> FC H0.
    Defaults 16, 16; 5; 64: 57,722 parameters on 28x28x1, 10 classes."""
    f = _entries(c, "filters", 2, "one per conv layer")
    (h,) = _entries(c, "hidden_units", 1, "one hidden dense layer")
    return [
        make.conv(f[0], c.kernel_size, strides=2, padding="same"),
        make.conv(f[1], c.kernel_size, strides=2, padding="same"),
        keras.layers.Flatten(),
        make.dense(h),
    ]


def stride_conv_maxpool(c: ModelConfig, make: LayerFactory) -> Layers:
    """``stride_conv`` with stride-1 convs each followed by max-pooling (same output size, so
    the same 57,722 parameters at defaults): ``lenet5_wide``'s layers with other defaults
    and no dropout."""
    return _conv_pool_twice_then_dense(c, make)


def _conv_pool_twice_then_dense(c: ModelConfig, make: LayerFactory) -> Layers:
    f = _entries(c, "filters", 2, "one per conv layer")
    (h,) = _entries(c, "hidden_units", 1, "one hidden dense layer")
    return [
        make.conv(f[0], c.kernel_size, padding="same"),
        make.pool("max"),
        make.conv(f[1], c.kernel_size, padding="same"),
        make.pool("max"),
        keras.layers.Flatten(),
        make.dense(h),
    ]


def lenet5_avgpool(c: ModelConfig, make: LayerFactory) -> Layers:
    """conv F0@K 'valid' -> pool -> conv F1@K 'valid' -> pool -> FC H0 -> dropout -> FC H1
    -> dropout. Defaults 6, 16; 5; 120, 84; avg: 44,426 parameters on 28x28x1, 10 classes."""
    f = _entries(c, "filters", 2, "one per conv layer")
    h = _entries(c, "hidden_units", 2, "one per hidden dense layer")
    return [
        make.conv(f[0], c.kernel_size, padding="valid"),
        make.pool(c.pooling),
        make.conv(f[1], c.kernel_size, padding="valid"),
        make.pool(c.pooling),
        keras.layers.Flatten(),
        make.dense(h[0]),
        *make.dropout(),
        make.dense(h[1]),
        *make.dropout(),
    ]


def keras_lenet(c: ModelConfig, make: LayerFactory) -> Layers:
    """The Keras mnist_cnn-style net: two blocks of (conv Fi@K -> conv Fi@K -> maxpool P ->
    dropout), then FC H0 -> dropout. Defaults 32, 64; 3; 128; pool 2."""
    f = _entries(c, "filters", 2, "one per conv block")
    (h,) = _entries(c, "hidden_units", 1, "one hidden dense layer")
    blocks: Layers = []
    for filters in f:
        # 'same' padding (the example used 'valid'): only pooling shrinks the image, so two
        # blocks fit 28x28 inputs for any kernel_size and pool_size a sweep may try.
        blocks += [
            make.conv(filters, c.kernel_size, padding="same"),
            make.conv(filters, c.kernel_size, padding="same"),
            make.pool("max", c.pool_size),
            *make.dropout(),
        ]
    return [*blocks, keras.layers.Flatten(), make.dense(h), *make.dropout()]


def conv_pool_relu(c: ModelConfig, make: LayerFactory) -> Layers:
    """conv F0@K -> maxpool -> activation -> conv F1@K -> maxpool -> activation -> FC H0.
    Defaults 6, 16; 5; 128; 'same': 104,342 parameters on 28x28x1, 10 classes."""
    f = _entries(c, "filters", 2, "one per conv layer")
    (h,) = _entries(c, "hidden_units", 1, "one hidden dense layer")
    # Linear convs with the activation after pooling, as the reference did (for relu and
    # max-pooling the two orders give the same values).
    return [
        make.conv(f[0], c.kernel_size, padding=c.padding, activate=False),
        make.pool("max"),
        make.activation(),
        make.conv(f[1], c.kernel_size, padding=c.padding, activate=False),
        make.pool("max"),
        make.activation(),
        keras.layers.Flatten(),
        make.dense(h),
    ]


MODELS: dict[str, ModelBuilder] = {
    "lenet5": lenet5,
    "lenet5_wide": lenet5_wide,
    "one_conv": one_conv,
    "stride_conv": stride_conv,
    "stride_conv_maxpool": stride_conv_maxpool,
    "lenet5_avgpool": lenet5_avgpool,
    "keras_lenet": keras_lenet,
    "conv_pool_relu": conv_pool_relu,
}


def builtin_params(config: ModelConfig) -> dict[str, Any]:
    """A built-in model's ``params``: its config fields (all but name, builder, params)."""
    return {
        f.name: list(value) if isinstance(value := getattr(config, f.name), list) else value
        for f in dataclasses.fields(ModelConfig)
        if f.name not in ("name", "builder", "params")
    }


def _as_builder(name: str, layers: ModelBuilder) -> Callable[[dict[str, Any], tuple[int, ...], int], keras.Model]:
    """The built-in ``name`` as a builder with the user's signature: ``params`` are its
    config fields; it returns its layers then the softmax output, for float images."""

    def build(params: dict[str, Any], input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
        make = LayerFactory(resolve_config(ModelConfig(name=name, **params)))
        body = layers(make.config, make)
        # Made here, between the body and the output, as before builders existed: layers
        # draw their seeds as they are made, so this order keeps every trial's weights.
        shared_layers()
        return keras.Sequential([keras.Input(shape=tuple(input_shape)), *body, make.output(num_classes)], name=name)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = layers.__doc__
    return build


# Every built-in model as a builder ``build(params, input_shape, num_classes)``, the same
# contract as a user's: the trainer resolves, calls and compiles them all alike.
BUILDERS = {name: _as_builder(name, layers) for name, layers in MODELS.items()}
