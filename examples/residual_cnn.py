"""A small residual CNN for orch: an example of a user model builder.

orch calls ``build(params, input_shape, num_classes)`` inside the trial's distribution
strategy and compiles the model it returns with the experiment's optimizer, schedule and
loss. The images arrive as floats in [0, 1] (orch adds the uint8 input and the scaling in
front of this model); the model ends with a softmax over ``num_classes``.

``params`` is ``model.params`` from the experiment file: here ``width`` (filters per conv)
and ``blocks`` (residual blocks). Editing this file re-runs its trials; leaving it alone keeps
their stored results.
"""

import keras
from keras import layers


def build(params, input_shape, num_classes):
    width = int(params.get("width", 16))
    blocks = int(params.get("blocks", 1))
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(width, 3, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    for _ in range(blocks):
        y = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        y = layers.Conv2D(width, 3, padding="same")(y)
        x = layers.Activation("relu")(layers.Add()([x, y]))
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="residual_cnn")
