"""Optimizer factory: ``training.optimizer``, its learning-rate schedule and clipping ->
a Keras optimizer.

Call inside ``strategy.scope()`` so the optimizer's variables are mirrored.
"""

from __future__ import annotations

import keras

from orchestrator.config import TrainingConfig

__all__ = ["build_optimizer", "learning_rate"]


def learning_rate(training: TrainingConfig, steps_per_epoch: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate as a function of the optimizer step.

    All decaying schedules are one ``ExponentialDecay``: ``lr * decay_rate ** (step / period)``,
    floored for staircase. "exponential" counts ``decay_steps`` optimizer steps or epochs
    (``decay_unit``); "step" drops by ``decay_rate`` every ``decay_steps`` epochs. Epoch
    units become steps through ``steps_per_epoch``, because Keras advances schedules per step.
    """
    if training.lr_schedule == "constant":
        return training.learning_rate
    per_epoch = training.lr_schedule == "step" or training.decay_unit == "epoch"
    period = training.decay_steps * (steps_per_epoch if per_epoch else 1)
    return keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=training.learning_rate,
        decay_steps=period,
        decay_rate=training.decay_rate,
        staircase=training.lr_schedule == "step" or training.staircase,
    )


def build_optimizer(training: TrainingConfig, steps_per_epoch: int = 1) -> keras.optimizers.Optimizer:
    """SGD (``momentum``, ``nesterov``), Adam, or RMSprop (``momentum``) with the configured
    learning-rate schedule and gradient-norm clipping.

    The config loader already rejects momentum on Adam and nesterov without SGD+momentum.
    """
    lr = learning_rate(training, steps_per_epoch)
    common = {"learning_rate": lr, "clipnorm": training.clipnorm}
    if training.optimizer == "sgd":
        return keras.optimizers.SGD(momentum=training.momentum, nesterov=training.nesterov, **common)
    if training.optimizer == "adam":
        return keras.optimizers.Adam(**common)
    if training.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(momentum=training.momentum, **common)
    raise ValueError(f"unknown optimizer {training.optimizer!r}; choose sgd, adam or rmsprop")
