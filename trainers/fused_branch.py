"""One trial inside a fused group: its model, optimizer, records and end-of-epoch rules.

A :class:`Branch` keeps everything that makes a fused trial the same experiment as the
trial run alone (a group of one): the same model and optimizer
(built by the same code from its own seed), its own shuffle, its own stopping rules and
early stopping (Keras' own ``EarlyStopping`` callback, driven epoch by epoch), its own
checkpoints and TensorBoard logs. Runs in the trainer process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from orchestrator.config import metric_goal
from orchestrator.plan import checkpoint_due, epoch_stop_reason
from orchestrator.trial import EpochRecord, TrialSpec
from trainers.artifacts import TrialArtifacts
from trainers.datasets import DatasetArrays
from trainers.trial_model import compiled_model, precision_policy, resume, trial_objective
from trainers.warm_traces import KeptGroup, assign_all, initial_values, reset_optimizer, seed_host_generators

__all__ = ["Branch"]


class Branch:
    """One trial's state in a fused group. Build inside ``strategy.scope()``."""

    def __init__(self, spec: TrialSpec, data: DatasetArrays, steps_per_epoch: int, replicas: int,
                 kept: KeptGroup | None = None, index: int = 0) -> None:
        """``kept``: a finished group of the same shape (trainers/warm_traces.py); this branch
        then trains on its model ``index``, given this trial's initial values and optimizer."""
        self.spec = spec
        self._num_classes = data.num_classes

        def build() -> keras.Model:
            # The global seed right before building: keras.utils.set_random_seed is
            # process-wide and each initialiser draws its seed when its layer is constructed,
            # so seeding, building, and seeding again for the next branch gives each branch
            # the initial weights (and dropout / augmentation seeds) it gets when built alone.
            keras.utils.set_random_seed(spec.training.seed)
            self.objective = trial_objective(spec, data)
            with precision_policy(spec.training.precision):
                model = compiled_model(spec, data, steps_per_epoch, replicas, self.objective)
            # Built now: the fused step traces every branch's update in one function, so no
            # optimizer may create variables during tracing.
            model.optimizer.build(model.trainable_variables)
            return model

        # Before any resume: what this seed starts from, for the next trial of this shape.
        self.initial_values: list[np.ndarray] | None = None
        if kept is None:
            self.model = build()
            self.initial_values = [v.numpy() for v in self.model.variables]
            self.optimizer_initial = [v.numpy() for v in self.model.optimizer.variables]
        else:
            # Python's and NumPy's seeds, as a cold build sets them, but not TensorFlow's: setting
            # that clears its kernel cache, and the kept steps would make their kernels again.
            seed_host_generators(spec.training.seed)
            self.model = kept.models[index]
            assign_all(self.model.variables, initial_values(kept, index, spec.training.seed, build), "model")
            self.optimizer_initial = kept.optimizer_initial[index]
            reset_optimizer(self.model, self.optimizer_initial, spec.training)
            self.objective = trial_objective(spec, data)
        self.artifacts = TrialArtifacts(spec)
        self.records: list[EpochRecord] = resume(self.model, self.artifacts, fresh=spec.fresh_start)
        self.resumed_epochs = len(self.records)
        self.stop_reason: str | None = None
        self._ended = False
        self.finished = self.resumed_epochs >= spec.training.epochs
        self.train_seconds = 0.0
        self._last_checkpoint = time.perf_counter()  # checkpoint_every: auto counts from here
        self._callbacks = keras.callbacks.CallbackList(_epoch_callbacks(spec, self.artifacts), model=self.model)
        self._callbacks.on_train_begin()

    def runs_in(self, epoch: int) -> bool:
        """Whether this branch trains in ``epoch`` (0-based)."""
        return not self.finished and len(self.records) == epoch

    def end_epoch(
        self,
        record: EpochRecord,
        on_epoch: Callable[[str, EpochRecord], None] | None,
        should_stop: Callable[[str, EpochRecord], str | None] | None,
    ) -> None:
        """Record the epoch and apply, in run_trial's callback order, the stopping rules,
        early stopping and the checkpoint. A branch that stops is ``finished``."""
        trial_id, training = self.spec.trial_id, self.spec.training
        self.records.append(record)
        self.train_seconds += record.seconds
        if on_epoch is not None:
            on_epoch(trial_id, record)
        if record.epoch < training.epochs:  # a trial that ran in full has nothing left to save
            # Own rules first: a hopeless trial is not ranked by the shared rule (run_trial).
            own = epoch_stop_reason(record, self.spec.stopping, self._num_classes)
            self.stop_reason = own or (should_stop(trial_id, record) if should_stop is not None else None)
        self.model.stop_training = False
        self._callbacks.on_epoch_end(record.epoch - 1, _logs(record))
        # model.stop_training: set by EarlyStopping (a completed trial, as in run_trial).
        ending = bool(self.stop_reason or self.model.stop_training or record.epoch >= training.epochs)
        if checkpoint_due(self.spec.outputs.checkpoint_every, record.epoch, ending,
                          time.perf_counter() - self._last_checkpoint):
            self.artifacts.save_checkpoint(self.model, self.records)
            self._last_checkpoint = time.perf_counter()
        if ending:
            self.finish()

    def finish(self) -> None:
        """No more epochs: EarlyStopping restores the best weights, TensorBoard closes."""
        if not self._ended:
            self._ended = True
            self.finished = True
            self._callbacks.on_train_end()


def _logs(record: EpochRecord) -> dict[str, float]:
    """What fit() would log: loss, accuracy (classifiers), the metrics, each with val_."""
    logs = {k: getattr(record, k) for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    return {**{k: v for k, v in logs.items() if v is not None}, **record.metrics}


def _epoch_callbacks(spec: TrialSpec, artifacts: TrialArtifacts) -> list[keras.callbacks.Callback]:
    """The epoch-level Keras callbacks run_trial uses, to be driven outside ``fit``."""
    training, outputs = spec.training, spec.outputs
    callbacks: list[Any] = []
    if training.early_stopping_patience is not None:
        monitor = training.early_stopping_monitor
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                patience=training.early_stopping_patience,
                restore_best_weights=training.restore_best_weights,
                # What "auto" resolves to inside fit(); outside it the compiled metrics
                # that "auto" inspects for accuracy are not built yet.
                mode=metric_goal(monitor),
            )
        )
    if outputs.tensorboard and artifacts.tensorboard_dir is not None:
        from trainers.tensorboard import tensorboard_callbacks  # tensorboard import only when used

        callbacks.extend(tensorboard_callbacks(spec, artifacts.tensorboard_dir))
    return callbacks
