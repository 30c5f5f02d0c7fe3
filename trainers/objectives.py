"""A trial's loss, accuracy and metrics as the training step computes them.

``training.loss`` and ``training.metrics`` (orchestrator/config/_objectives.py) become an
:class:`Objective`: functions of ``(y_true, y_pred)`` giving one value per example, which the
fused step sums over a replica's share of the batch (so steps, replicas and evaluation
batches add up exactly, as the built-in loss always did). Keras' own functions are called
with the labels cast to what they take (int32 class ids for sparse losses, the output's
float type otherwise); the user's functions get int32 class ids for classification data and
float32 targets for regression data.

Accuracy is logged for classification data (integer labels): argmax for several outputs,
a threshold for one (0 for logits, else 0.5). A regression has none (None in the records).

Runs where trainers run (it imports Keras and the user's code).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import tensorflow as tf

from orchestrator.config import (
    TrainingConfig,
    from_logits,
    is_user_function,
    loss_args,
    loss_name,
    metric_name,
)
from orchestrator.config._objectives import LOSS_ALIASES

__all__ = ["Objective", "default_objective", "objective_for", "resolve_function", "summed"]

PerExample = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


@dataclass
class Objective:
    """What one trial's step computes besides its gradient."""

    loss: PerExample
    classification: bool  # integer class labels: accuracy is logged
    from_logits: bool = False
    metrics: list[tuple[str, PerExample]] = field(default_factory=list)
    # What model.compile gets (a saved model keeps it): Keras' name or mapping, else None.
    compile_loss: Any = "sparse_categorical_crossentropy"
    # training.class_weight as one weight per class (float32 [classes]); None: all 1.
    class_weights: Any = None

    def weighted(self, values: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """Per-example training losses weighed by their class (Keras' class_weight)."""
        if self.class_weights is None:
            return values
        return values * tf.gather(self.class_weights, tf.reshape(tf.cast(y, tf.int32), [-1]))

    @property
    def metric_names(self) -> list[str]:
        return [name for name, _ in self.metrics]

    def correct(self, y: tf.Tensor, out: tf.Tensor) -> tf.Tensor:
        """Summed correct predictions (0.0 without accuracy: a regression)."""
        if not self.classification:
            return tf.constant(0.0)
        labels = tf.reshape(tf.cast(y, tf.int32), [-1])
        if out.shape[-1] == 1:  # one sigmoid (or logit) output: class 1 above the threshold
            threshold = 0.0 if self.from_logits else 0.5
            predicted = tf.cast(tf.reshape(out, [-1]) > threshold, tf.int32)
        else:
            predicted = tf.argmax(out, axis=-1, output_type=tf.int32)
        return tf.reduce_sum(tf.cast(tf.equal(predicted, labels), tf.float32))


def summed(values: Any, local: tf.Tensor) -> tf.Tensor:
    """The sum over a batch of ``local`` examples of per-example ``values`` (a function that
    returns their mean instead, a scalar, counts as that mean for every example; extra axes
    are averaged, as Keras' losses average the last)."""
    values = tf.cast(tf.convert_to_tensor(values), tf.float32)
    if values.shape.rank == 0:
        return values * local
    if values.shape.rank > 1:
        values = tf.reduce_mean(values, axis=list(range(1, values.shape.rank)))
    return tf.reduce_sum(values)


def _keras_function(module: Any, name: str, args: dict[str, Any]) -> PerExample:
    full = LOSS_ALIASES.get(name, name)
    fn = getattr(module, full)
    sparse = full.startswith("sparse_")

    def per_example(y: tf.Tensor, out: tf.Tensor) -> tf.Tensor:
        if sparse:
            return fn(tf.cast(y, tf.int32), out, **args)
        y = tf.cast(y, out.dtype)
        if y.shape.rank == out.shape.rank - 1 and out.shape[-1] == 1:  # one label, one output: (batch,) as (batch, 1)
            y = tf.expand_dims(y, -1)
        return fn(y, out, **args)

    per_example.__name__ = full
    return per_example


def resolve_function(value: Any, key: str) -> Callable[..., Any]:
    """The user's function behind ``value`` ('file.py:fn', 'module:fn' or the object)."""
    if callable(value):
        return value
    from trainers.builders import load_function

    return load_function(value, key)


def _user_function(value: Any, key: str, classification: bool) -> PerExample:
    fn = resolve_function(value, key)

    def per_example(y: tf.Tensor, out: tf.Tensor) -> tf.Tensor:
        return fn(tf.cast(y, tf.int32) if classification else tf.cast(y, tf.float32), out)

    return per_example


def class_weight_vector(class_weight: Any, labels: Any, num_classes: int) -> list[float] | None:
    """training.class_weight as one weight per class: ``balanced`` is sklearn's (and Keras'
    examples') n / (classes * count of the class) over the training labels; a mapping
    weighs the classes it names, the others 1."""
    if class_weight is None:
        return None
    if class_weight == "balanced":
        import numpy as np

        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
        return [float(len(labels) / (num_classes * c)) if c else 0.0 for c in counts]
    return [float(class_weight.get(c, 1.0)) for c in range(num_classes)]


def objective_for(training: TrainingConfig, classification: bool, labels: Any = None, num_classes: int = 0) -> Objective:
    """The trial's objective for its data: ``classification`` when the labels are integer
    class ids (the data's dtype says; trainers/data/_arrays.py); ``labels`` (the training
    labels) and ``num_classes`` for a class weight."""
    loss = training.loss
    if is_user_function(loss):
        loss_fn = _user_function(loss, "training.loss", classification)
        compile_loss = None
    else:
        loss_fn = _keras_function(keras.losses, loss_name(loss), loss_args(loss))
        # A name is what a saved model can keep; a mapping's arguments are orch's to apply.
        compile_loss = loss if isinstance(loss, str) else None
    metrics = []
    for i, metric in enumerate(training.metrics):
        if is_user_function(metric):
            fn = _user_function(metric, f"training.metrics[{i}]", classification)
        else:
            fn = _keras_function(keras.metrics, metric, {})
        metrics.append((metric_name(metric), fn))
    weights = class_weight_vector(training.class_weight, labels, num_classes) if classification else None
    return Objective(loss_fn, classification, from_logits(loss), metrics, compile_loss,
                     None if weights is None else tf.constant(weights, tf.float32))


@functools.cache
def default_objective() -> Objective:
    """The built-ins' objective: sparse categorical cross-entropy on probabilities, accuracy."""
    return objective_for(TrainingConfig(), classification=True)

