"""Run one trial: build, train and evaluate a Keras model under the process's strategy.

Runs inside a trainer process after :func:`trainers.devices.configure_process`. The process
runs many trials in a row; each starts from a cleared Keras session and a seed, so the same
``TrialSpec`` on the same data gives the same result.
"""

from __future__ import annotations

import math
import socket
import time
from datetime import datetime, timezone
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from orchestrator.stopping import epoch_stop_reason
from orchestrator.trial import EpochRecord, TrialResult, TrialSpec, TrialStatus
from trainers.artifacts import TrialArtifacts
from trainers.datasets import DatasetArrays
from trainers.devices import DeviceInfo, make_strategy
from trainers.models import build_model
from trainers.optimizers import build_optimizer

__all__ = ["run_trial", "global_batch_size"]

# Images per evaluation step (validation and test). Larger than training batches because
# evaluation has no update to wait for; the metrics do not depend on it.
_EVAL_BATCH = 1024
# Training steps per tf.function call on the default strategy, amortising the per-call
# overhead that dominates for a model this small. Measured on full MNIST (55k train + 5k
# val), one thread, steady epoch: batch 128: 1 -> 5.3-5.5 s, 64 -> 3.8-4.4 s; batch 50:
# 1 -> 6.2-8.8 s, 64 -> 4.8-5.2 s; identical per-epoch metrics (Keras still aggregates
# every step). A tf.data pipeline (shuffle/batch/prefetch) with 64 was no faster (4.1-4.9 s
# and 4.7-5.8 s) and costs a copy of the arrays, so fit() takes the numpy arrays directly.
# Not used under MirroredStrategy, where Keras 3 fails with steps_per_execution > 1.
_STEPS_PER_EXECUTION = 64


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


def run_trial(
    spec: TrialSpec,
    data: DatasetArrays,
    device: DeviceInfo,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    should_stop: Callable[[EpochRecord], str | None] | None = None,
) -> TrialResult:
    """Train ``spec`` on ``data`` for ``spec.training.epochs`` epochs, then evaluate on the test set.

    Batches: the global batch (see :func:`global_batch_size`) is what ``fit`` consumes per
    step; the strategy splits it over ``device.count`` replicas. The train step is Keras' own,
    written as a single-replica view: each replica takes the mean loss over its share of the
    batch, and Keras divides by ``num_replicas_in_sync`` before the gradients are summed, so
    one step equals one step on the whole global batch on one device.

    ``on_epoch`` is called after every epoch with that epoch's record (in this process; keep
    it cheap). After it, the trial stops early (status STOPPED, with the reason) when
    ``spec.stopping``'s own rules say so (NaN loss, stuck at chance) or when ``should_stop``
    (rules shared across the sweep, such as successive halving) returns a reason. A NaN
    loss is recorded, not raised. Any exception propagates: the caller stores the trial as
    failed.
    """
    started_at = datetime.now(timezone.utc)
    t_start = time.perf_counter()
    training = spec.training
    # Fresh graph state per trial (layer-name counters, cached functions), then every seed
    # (Python, NumPy, TensorFlow) from the spec: initial weights and shuffling are reproducible.
    keras.backend.clear_session()
    keras.utils.set_random_seed(training.seed)
    strategy = make_strategy(device)
    replicas = strategy.num_replicas_in_sync
    batch = global_batch_size(training.batch_size, training.batch_size_scope, replicas)

    # Arrays go to fit() as they are: for in-memory uint8 MNIST a tf.data pipeline measured no
    # faster (see _STEPS_PER_EXECUTION); Keras shuffles them each epoch from the seed.
    train_x, train_y = data.x_train, data.y_train
    val = (data.x_val, data.y_val)

    t0 = time.perf_counter()
    artifacts = TrialArtifacts(spec)
    steps_per_epoch = math.ceil(len(train_x) / batch)
    with strategy.scope():
        model = _compiled_model(spec, data, steps_per_epoch, replicas)
        done = _resume(model, artifacts)
    build_seconds = time.perf_counter() - t0

    def stop_reason(record: EpochRecord) -> str | None:
        if record.epoch >= training.epochs:
            return None  # it ran in full: nothing left to save by stopping
        # A trial its own rules end (NaN, stuck at chance) is not reported to the shared rule:
        # halving ranks a trial among those still in the running, not against hopeless ones.
        own = epoch_stop_reason(record, spec.stopping, data.num_classes)
        return own or (should_stop(record) if should_stop is not None else None)

    recorder = _EpochRecorder(on_epoch, stop_reason, done)
    t0 = time.perf_counter()
    model.fit(
        train_x,
        train_y,
        batch_size=batch,
        initial_epoch=len(done),
        epochs=training.epochs,
        validation_data=val,
        validation_batch_size=_eval_batch(replicas),
        shuffle=True,
        callbacks=_callbacks(spec, artifacts, recorder),
        verbose=0,
    )
    train_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    test_loss, test_accuracy = model.evaluate(
        data.x_test, data.y_test, batch_size=_eval_batch(replicas), verbose=0
    )
    eval_seconds = time.perf_counter() - t0

    if spec.outputs.save_model:
        artifacts.save_model(model)
    artifacts.clear_checkpoints()

    epochs = recorder.records
    first = epochs[0].seconds if epochs else None
    steady = float(np.mean([r.seconds for r in epochs[1:]])) if len(epochs) > 1 else None
    per_epoch = steady if steady is not None else first
    return TrialResult(
        trial_id=spec.trial_id,
        status=TrialStatus.STOPPED if recorder.stop_reason else TrialStatus.COMPLETED,
        stop_reason=recorder.stop_reason,
        resumed_epochs=len(done),
        started_at=started_at,
        ended_at=datetime.now(timezone.utc),
        epochs=epochs,
        test_loss=float(test_loss),
        test_accuracy=float(test_accuracy),
        param_count=int(model.count_params()),
        global_batch_size=batch,
        build_seconds=build_seconds,
        first_epoch_seconds=first,
        steady_epoch_seconds=steady,
        eval_seconds=eval_seconds,
        train_seconds=train_seconds,
        total_seconds=time.perf_counter() - t_start,
        images_per_second=len(train_x) / per_epoch if per_epoch else None,
        host=socket.gethostname(),
        device_kind=device.kind,
        device_count=replicas,
        tensorflow_version=tf.__version__,
        keras_version=keras.__version__,
    )


def _compiled_model(spec: TrialSpec, data: DatasetArrays, steps_per_epoch: int, replicas: int) -> keras.Model:
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
    )
    model.compile(
        optimizer=build_optimizer(training, steps_per_epoch),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=_STEPS_PER_EXECUTION if replicas == 1 else 1,
        jit_compile=False,  # XLA on CPU measured 3-4x slower for this model (DESIGN.md)
    )
    return model


def _resume(model: keras.Model, artifacts: TrialArtifacts) -> list[EpochRecord]:
    """Continue from this trial's last checkpoint, if a run of it died after saving one:
    its weights and optimizer state (slots and step count, so schedules continue) are
    copied into the freshly compiled model. Returns the epochs already done."""
    saved = artifacts.load_checkpoint()
    if saved is None:
        return []
    old, epochs = saved
    model.set_weights(old.get_weights())
    model.optimizer.build(model.trainable_variables)
    for mine, theirs in zip(model.optimizer.variables, old.optimizer.variables, strict=True):
        mine.assign(theirs)
    return epochs


def _callbacks(spec: TrialSpec, artifacts: TrialArtifacts, recorder: _EpochRecorder) -> list[keras.callbacks.Callback]:
    callbacks: list[keras.callbacks.Callback] = [recorder]
    training, outputs = spec.training, spec.outputs
    if training.early_stopping_patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=training.early_stopping_monitor,
                patience=training.early_stopping_patience,
                restore_best_weights=training.restore_best_weights,
            )
        )
    if outputs.checkpoint_every:
        callbacks.append(_Checkpointer(artifacts, recorder, outputs.checkpoint_every))
    if outputs.tensorboard and artifacts.tensorboard_dir is not None:
        from trainers.tensorboard import tensorboard_callbacks  # tensorboard import only when used

        callbacks.extend(tensorboard_callbacks(spec, artifacts.tensorboard_dir))
    return callbacks


class _Checkpointer(keras.callbacks.Callback):
    """Saves a resume point every ``every`` epochs, after the recorder has seen the epoch."""

    def __init__(self, artifacts: TrialArtifacts, recorder: _EpochRecorder, every: int) -> None:
        super().__init__()
        self._artifacts, self._recorder, self._every = artifacts, recorder, every

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (epoch + 1) % self._every == 0:
            self._artifacts.save_checkpoint(self.model, self._recorder.records)


def _eval_batch(replicas: int) -> int:
    return max(_EVAL_BATCH // replicas, 1) * replicas


class _EpochRecorder(keras.callbacks.Callback):
    """Turns Keras' epoch logs into EpochRecords (an epoch's seconds include its validation)
    and stops training when ``stop_reason`` gives a reason for the epoch just recorded."""

    def __init__(
        self,
        on_epoch: Callable[[EpochRecord], None] | None,
        stop_reason: Callable[[EpochRecord], str | None],
        done: list[EpochRecord] = (),
    ) -> None:
        super().__init__()
        self.records: list[EpochRecord] = list(done)  # epochs of an earlier, resumed run first
        self.stop_reason: str | None = None
        self._on_epoch = on_epoch
        self._stop_reason = stop_reason
        self._t0 = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        record = EpochRecord(
            epoch=epoch + 1,
            loss=_metric(logs, "loss"),
            accuracy=_metric(logs, "accuracy"),
            val_loss=_metric(logs, "val_loss"),
            val_accuracy=_metric(logs, "val_accuracy"),
            seconds=time.perf_counter() - self._t0,
        )
        self.records.append(record)
        if self._on_epoch is not None:
            self._on_epoch(record)
        self.stop_reason = self._stop_reason(record)
        if self.stop_reason:
            self.model.stop_training = True


def _metric(logs: dict[str, Any], key: str) -> float:
    value = logs.get(key)
    return float(value) if value is not None else math.nan
