"""One trial's model as every trainer builds it: compiled with the trial's optimizer, loss and
metrics, resumed from its checkpoint, fed global batches. Shared by the one training loop
(trainers/fused.py), which runs a trial alone as a group of one.

Runs inside a trainer process after :func:`trainers.devices.configure_process`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras

from orchestrator.config import TrainingConfig
from orchestrator.trial import EpochRecord, TrialSpec
from trainers.artifacts import TrialArtifacts, seed_states
from trainers.datasets import DatasetArrays
from trainers.builders import build_model
from trainers.objectives import Objective, objective_for
from trainers.optimizers import build_optimizer
from trainers.warm_traces import shapes_match

__all__ = ["global_batch_size", "compiled_model", "precision_policy", "trial_objective", "trial_optimizer", "resume", "eval_batch", "STEPS_PER_CALL"]

# Images per evaluation step (validation and test). Larger than training batches because
# evaluation has no update to wait for; the metrics do not depend on it.
_EVAL_BATCH = 1024
# Training steps per tf.function call, amortising the per-call overhead that dominates for a
# model this small. Measured with Keras' steps_per_execution on full MNIST (55k train + 5k
# val), one thread, steady epoch: batch 128: 1 -> 5.3-5.5 s, 64 -> 3.8-4.4 s; batch 50:
# 1 -> 6.2-8.8 s, 64 -> 4.8-5.2 s; identical per-epoch metrics. The fused loop runs this many
# steps per call under MirroredStrategy too (Keras 3's fit cannot).
STEPS_PER_CALL = 64


def global_batch_size(batch_size: int, scope: str, replicas: int) -> int:
    """Images per optimizer step across all replicas: ``batch_size`` when ``scope`` is
    "global", else ``batch_size * replicas``. Must split evenly over the replicas."""
    size = batch_size if scope == "global" else batch_size * replicas
    if size % replicas:
        raise ValueError(
            f"a global batch of {size} does not split evenly over {replicas} replicas; "
            f"use a multiple of {replicas} or batch_size_scope: per_replica"
        )
    return size


def trial_objective(spec: TrialSpec, data: DatasetArrays) -> Objective:
    """The trial's loss, accuracy and metrics for its data (trainers/objectives.py)."""
    return objective_for(spec.training, data.classification, data.y_train, data.num_classes)


@contextlib.contextmanager
def precision_policy(precision: str) -> Iterator[None]:
    """Keras' dtype policy while a trial's model is built: layers take the global policy
    when they are made, so each branch of a fused group keeps its own; float32 after."""
    keras.mixed_precision.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


def compiled_model(spec: TrialSpec, data: DatasetArrays, steps_per_epoch: int, replicas: int,
                   objective: Objective | None = None) -> keras.Model:
    """Model (built-in or the user's builder: resolved, called, wrapped in the shared input
    layers) + optimizer + loss, inside the strategy scope. The loss is the mean over a
    replica's share of the batch; L1/L2 penalties enter it through the kernels' regularizers."""
    training = spec.training
    penalty = keras.regularizers.L1L2(l1=training.l1, l2=training.l2) if training.l1 or training.l2 else None
    model = build_model(
        spec.model,
        data.input_shape,
        data.num_classes,
        normalize=spec.dataset.normalize,
        kernel_regularizer=penalty,
        regularize=training.regularize,
        augment_shift=training.augment_shift,
        builder_code=spec.builder_code,
        input_dtype=str(data.x_train.dtype),
    )
    objective = objective or trial_objective(spec, data)  # a Branch has made it already
    model.compile(
        optimizer=trial_optimizer(training, steps_per_epoch),
        # What a saved model keeps; the training step computes the trial's own objective.
        loss=objective.compile_loss,
        metrics=["accuracy"] if objective.classification else None,
        jit_compile=False,  # XLA on CPU measured 3-4x slower for this model (DESIGN.md)
    )
    return model


def trial_optimizer(training: TrainingConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The trial's optimizer, unbuilt: its kind, learning rate, schedule and clipping, behind a
    loss scale for float16 (whose small gradients underflow without one)."""
    optimizer = build_optimizer(training, steps_per_epoch)
    if training.precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def resume(model: keras.Model, artifacts: TrialArtifacts, fresh: bool = False) -> list[EpochRecord]:
    """Continue from this trial's last checkpoint, if a run of it died after saving one:
    its weights and optimizer state (slots and step count, so schedules continue) are
    copied into the freshly compiled model. Returns the epochs already done.

    ``fresh`` (``--rerun``): delete any checkpoint and start from scratch. A checkpoint that
    cannot be read, or whose variables do not match this model, is discarded with one
    warning and the trial starts from scratch too."""
    if fresh:
        artifacts.clear_checkpoints()
        return []
    saved = artifacts.load_checkpoint()
    if saved is None:
        return []
    old, epochs, seeds = saved
    model.optimizer.build(model.trainable_variables)
    mine = [*model.weights, *model.optimizer.variables]
    theirs = [*old.weights, *old.optimizer.variables]
    if seeds is not None:  # where dropout and shifts were in their streams (older checkpoints: the start)
        mine, theirs = [*mine, *seed_states(model)], [*theirs, *seeds]
    counts = (len(model.weights), len(model.optimizer.variables))
    if counts != (len(old.weights), len(old.optimizer.variables)) or not shapes_match(mine, theirs):
        # Checked before any assignment: a half-copied model would be neither run.
        artifacts.discard_checkpoint("its variables do not match this trial's model")
        return []
    for variable, value in zip(mine, theirs):
        variable.assign(value)
    return epochs


def eval_batch(replicas: int) -> int:
    return max(_EVAL_BATCH // replicas, 1) * replicas
