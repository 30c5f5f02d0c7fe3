"""A small multi-layer perceptron for tables: logits for classification (num_classes given),
one linear output for a regression (num_classes is None)."""

import keras


def mlp(params, input_shape, num_classes):
    layers = [keras.layers.Dense(params["units"], activation="relu") for _ in range(params["layers"])]
    out = keras.layers.Dense(num_classes if num_classes else 1)  # no softmax: the loss takes logits
    return keras.Sequential([*layers, out])
