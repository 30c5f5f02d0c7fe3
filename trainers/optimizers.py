"""Optimizer factory: ``training.optimizer`` + its settings -> a Keras optimizer.

Call inside ``strategy.scope()`` so the optimizer's variables are mirrored.
"""

from __future__ import annotations

import keras

from orchestrator.config import TrainingConfig

__all__ = ["build_optimizer"]


def build_optimizer(training: TrainingConfig) -> keras.optimizers.Optimizer:
    """SGD (``momentum``, ``nesterov``), Adam, or RMSprop (``momentum``) at ``learning_rate``.

    The config loader already rejects momentum on Adam and nesterov without SGD+momentum.
    """
    lr = training.learning_rate
    if training.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=training.momentum, nesterov=training.nesterov)
    if training.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    if training.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr, momentum=training.momentum)
    raise ValueError(f"unknown optimizer {training.optimizer!r}; choose sgd, adam or rmsprop")
