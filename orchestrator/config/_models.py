"""The built-in models' names and parameters, as the schema knows them (the architectures
themselves are in trainers/models.py)."""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["ModelName", "MODEL_PARAMS", "MODEL_DEFAULTS"]

ModelName = Literal[
    "lenet5",  # conv6@5x5 same - pool - conv16@5x5 valid - pool - FC120 - FC84 - FC10 (61,706 params)
    "lenet5_wide",  # conv32@5x5 same - maxpool - conv64@5x5 same - maxpool - FC512 (dropout) - FC10
    "one_conv",  # convF@KxK same - maxpool2 - dropout - FC10
    "stride_conv",  # 2x conv16@5x5 stride 2 same - FC64 - FC10
    "stride_conv_maxpool",  # 2x (conv16@5x5 same - maxpool2) - FC64 - FC10
    "lenet5_avgpool",  # conv5x5 valid - avgpool - conv5x5 valid - avgpool - FC - FC (dropout) - FC
    "keras_lenet",  # 2x (conv, conv, maxpool, dropout) - dense (dropout) - output
    "conv_pool_relu",  # conv6@5x5 - maxpool - relu - conv16@5x5 - maxpool - relu - FC128 - FC10, same padding
]

_INIT = ("initializer", "init_stddev", "bias_init")

# The architecture parameters each model has (beyond name and activation, which all have).
# Setting one a model does not have is a config error. Defaults live in MODEL_DEFAULTS.
MODEL_PARAMS: dict[str, frozenset[str]] = {
    "lenet5": frozenset({"pooling", "dropout", *_INIT}),
    "lenet5_wide": frozenset({"filters", "kernel_size", "hidden_units", "dropout", *_INIT}),
    "one_conv": frozenset({"filters", "kernel_size", "dropout", *_INIT}),
    "stride_conv": frozenset({"filters", "kernel_size", "hidden_units", *_INIT}),
    "stride_conv_maxpool": frozenset({"filters", "kernel_size", "hidden_units", *_INIT}),
    "lenet5_avgpool": frozenset({"filters", "kernel_size", "hidden_units", "pooling", "dropout", *_INIT}),
    "keras_lenet": frozenset({"filters", "kernel_size", "hidden_units", "pool_size", "dropout", *_INIT}),
    "conv_pool_relu": frozenset({"filters", "kernel_size", "hidden_units", "padding", *_INIT}),
}

# The value each ``null`` architecture parameter takes, per model: the reference
# architecture's. Only parameters the model has appear; list lengths here are the lengths a
# model requires (one entry per conv layer / block or hidden dense layer).
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "lenet5": {"pooling": "max"},
    "lenet5_wide": {"filters": [32, 64], "kernel_size": 5, "hidden_units": [512]},
    "one_conv": {"filters": [32], "kernel_size": 5},
    "stride_conv": {"filters": [16, 16], "kernel_size": 5, "hidden_units": [64]},
    "stride_conv_maxpool": {"filters": [16, 16], "kernel_size": 5, "hidden_units": [64]},
    "lenet5_avgpool": {"filters": [6, 16], "kernel_size": 5, "hidden_units": [120, 84], "pooling": "avg"},
    # The Keras mnist_cnn example: NUM_CONV (kernel size) 3, NUM_POOL (pool window) 2.
    "keras_lenet": {"filters": [32, 64], "kernel_size": 3, "hidden_units": [128], "pool_size": 2},
    "conv_pool_relu": {"filters": [6, 16], "kernel_size": 5, "hidden_units": [128], "padding": "same"},
}
