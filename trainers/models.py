"""Model registry: ``model.name`` -> a Keras model builder.

Builders take the input shape and class count from the dataset, never from constants, and
accept ``uint8`` images: scaling to [0, 1] is the model's first layer. Reason: the trainer
then feeds the uint8 arrays as they are, so each batch copied into TensorFlow is 1 byte per
pixel instead of 4, there is no float32 copy of the training set in every trainer process,
and the saved model takes raw images. The division itself is one fused op per batch.
"""

from __future__ import annotations

from typing import Callable

import keras

from orchestrator.config import ModelConfig

__all__ = ["build_model", "lenet5", "MODELS"]


def lenet5(config: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """Classic LeNet-5: conv 6@5x5 'same' -> max-pool 2 -> conv 16@5x5 'valid' -> max-pool 2
    -> FC 120 -> FC 84 -> FC ``num_classes`` (softmax). 61,706 parameters on 28x28x1, 10 classes.
    """
    act = config.activation
    return keras.Sequential(
        [
            keras.Input(shape=input_shape, dtype="uint8"),
            keras.layers.Rescaling(1.0 / 255),
            keras.layers.Conv2D(6, 5, padding="same", activation=act),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(16, 5, padding="valid", activation=act),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(120, activation=act),
            keras.layers.Dense(84, activation=act),
            # Softmax output: Keras 3 keeps the logits and computes the loss from them, so
            # this is as stable as from_logits=True and predict() gives probabilities.
            keras.layers.Dense(num_classes, activation="softmax"),
        ],
        name="lenet5",
    )


ModelBuilder = Callable[[ModelConfig, tuple[int, ...], int], keras.Model]
MODELS: dict[str, ModelBuilder] = {"lenet5": lenet5}


def build_model(config: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """Build ``config.name`` for images of ``input_shape`` and ``num_classes`` classes.

    Call inside ``strategy.scope()`` so the variables are placed by the strategy.
    """
    try:
        builder = MODELS[config.name]
    except KeyError:
        raise ValueError(f"unknown model {config.name!r}; choose one of {', '.join(MODELS)}") from None
    return builder(config, tuple(input_shape), num_classes)
