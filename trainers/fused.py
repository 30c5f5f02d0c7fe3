"""Fused trials: K trials that share an input pipeline, trained in one trainer as one graph.

HFTA (MLSys 2021) trains many small trials of a sweep as one fused model, because a
LeNet-sized trial leaves a GPU idle. :func:`run_fused_trials` trains a group of trials that
share dataset, batch size and epochs as K branches of one traced train step; everything else
(model, activation, seed, optimizer, schedule, regularisation, stopping, checkpoints) stays
each trial's own, and every record it returns is addressed trial by trial. Fusion is a
resource choice: a trial's results do not depend on its companions (tests/test_fused.py).

On one CPU thread a LeNet-5 step at batch 128 is arithmetic-bound, so K fused steps cost
about K single ones; there fusion pays by building, tracing and evaluating once per group
and by its lean loop: 4 one-epoch full-MNIST trials took 0.68-0.78x the CPU time of four
``run_trial`` calls (benchmarks/fused_trials.py, two runs on a shared 2-core machine).

Stopped branches leave the group at the next epoch boundary: the step is traced again for
the branches still running, and a stopped branch costs nothing after. The alternative,
masking each branch's update behind a ``tf.cond`` in one trace kept for the whole run, fails
under MirroredStrategy (the optimizer's all-reduce may not sit inside a cond) and on one
device saves only that re-trace: one epoch with 2 of 4 LeNet-5s running, CPU seconds
masked vs re-traced, 0.5 vs 1.2-1.3 on the 4k-image sample and 8.1-8.7 vs 9.2-9.4 on full
MNIST, i.e. ~0.7 s once per change of the running set.

Runs inside a trainer process after :func:`trainers.devices.configure_process`.
"""

from __future__ import annotations

import dataclasses
import math
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

import keras
import numpy as np
import tensorflow as tf

from orchestrator.plan import fusion_key
from orchestrator.trial import EpochRecord, TrialResult, TrialSpec, TrialStatus
from trainers import trial_model, warm_traces
from trainers.data import epoch_batches, epoch_permutation
from trainers.datasets import DatasetArrays
from trainers.devices import DeviceInfo, make_strategy
from trainers.fused_branch import Branch
from trainers.fused_step import build_eval_fn, build_train_fn
from trainers.release import trial_scope
from trainers.trial_model import eval_batch, global_batch_size

__all__ = ["measure_fused_rate", "run_fused_trials", "run_trial"]

def run_trial(
    spec: TrialSpec,
    data: DatasetArrays,
    device: DeviceInfo,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    should_stop: Callable[[EpochRecord], str | None] | None = None,
) -> TrialResult:
    """Train one trial: a fused group of one, so that a trial's result is the same whether it
    ran alone or fused (``resources.fuse``), by construction. ``on_epoch(record)`` runs after
    every epoch; the trial stops early (status STOPPED, with the reason) when its own
    ``stopping`` rules or ``should_stop(record)`` give a reason. Exceptions propagate."""
    (result,) = run_fused_trials(
        [spec], data, device,
        on_epoch=(lambda _trial_id, record: on_epoch(record)) if on_epoch is not None else None,
        should_stop=(lambda _trial_id, record: should_stop(record)) if should_stop is not None else None,
    )
    return result


def run_fused_trials(
    specs: Sequence[TrialSpec],
    data: DatasetArrays,
    device: DeviceInfo,
    on_epoch: Callable[[str, EpochRecord], None] | None = None,
    should_stop: Callable[[str, EpochRecord], str | None] | None = None,
) -> list[TrialResult]:
    """Train ``specs`` (equal :func:`orchestrator.plan.fusion_key`) as one fused group; one result per spec,
    in order; a trial's results are the same in any group (tests/test_fused.py).

    ``on_epoch(trial_id, record)`` and ``should_stop(trial_id, record)`` are run_trial's
    callbacks with the trial named. A branch resumes from its own checkpoint when one exists.
    Timings per trial are *shares* of the group's wall time: an epoch's seconds are the
    group's epoch wall time divided by the branches that ran in it, and build and test
    evaluation are split evenly; so the trials' seconds add up to the trainer's busy time.
    Any exception propagates: the caller retries each trial (resumed from checkpoints).
    Whatever the group made is released when it ends (trainers/release.py), so a trainer's
    memory stays flat over any number of groups.
    """
    _check_shared(specs)
    # After the group's frame is gone: its objects are garbage by then, but for those kept.
    with trial_scope(keeping=lambda: warm_traces.kept() is not None):
        return _train_group(specs, data, device, on_epoch, should_stop)


def _train_group(
    specs: Sequence[TrialSpec],
    data: DatasetArrays,
    device: DeviceInfo,
    on_epoch: Callable[[str, EpochRecord], None] | None,
    should_stop: Callable[[str, EpochRecord], str | None] | None,
) -> list[TrialResult]:
    started_at = datetime.now(timezone.utc)
    training = specs[0].training
    shape = warm_traces.group_key(specs, device)
    kept = warm_traces.take(shape, data)  # the last group's models and traces, if of this shape
    t0 = time.perf_counter()
    if kept is None:
        # A blank Keras state (layer names, default graph); the previous group's trial_scope
        # already collected its garbage, so no second collection here.
        keras.backend.clear_session(free_memory=False)
        strategy = make_strategy(device)
        x, y = tf.constant(data.x_train), tf.constant(data.y_train)
        fns: dict[tuple[int, ...], tuple[Callable, Callable]] = {}
    else:
        strategy, (x, y), fns = kept.strategy, kept.tensors, kept.functions
    replicas = strategy.num_replicas_in_sync
    batch = global_batch_size(training.batch_size, training.batch_size_scope, replicas)
    n = len(data.x_train)

    with strategy.scope():
        branches = [Branch(spec, data, math.ceil(n / batch), replicas, kept, i) for i, spec in enumerate(specs)]
    build_share = (time.perf_counter() - t0) / len(specs)

    def functions(group: list[int]) -> tuple[Callable, Callable]:
        # One trace per set of running branches: a stopped branch leaves at the epoch boundary.
        key = tuple(group)
        if key not in fns:
            models = [branches[i].model for i in group]
            objectives = [branches[i].objective for i in group]
            fns[key] = (build_train_fn(models, strategy, x, y, objectives=objectives),
                        build_eval_fn(models, strategy, data.input_shape, objectives=objectives,
                                      dtypes=(tf.as_dtype(data.x_train.dtype), tf.as_dtype(data.y_train.dtype)),
                                      label_shape=data.label_shape))
        return fns[key]

    for epoch in range(min(len(b.records) for b in branches), training.epochs):
        group = [i for i, b in enumerate(branches) if b.runs_in(epoch)]
        if not group:
            continue
        t_epoch = time.perf_counter()
        train, evaluate = functions(group)
        seeds = [branches[i].spec.training.seed for i in group]
        totals = _train_epoch(train, seeds, epoch, n, batch)
        val = _evaluate(evaluate, data.x_val, data.y_val, eval_batch(replicas))
        share = (time.perf_counter() - t_epoch) / len(group)
        for row, i in enumerate(group):
            record = _record(epoch + 1, branches[i], totals[row], val[row], share)
            branches[i].end_epoch(record, on_epoch, should_stop)

    for b in branches:
        b.finish()  # restores early stopping's best weights before the test evaluation
    t0 = time.perf_counter()
    _, evaluate = functions(list(range(len(branches))))
    test = _evaluate(evaluate, data.x_test, data.y_test, eval_batch(replicas))
    eval_share = (time.perf_counter() - t0) / len(branches)

    results = []
    for b, row in zip(branches, test):
        if b.spec.outputs.save_model:
            b.artifacts.save_model(b.model)
        if b.spec.outputs.tensorboard and b.artifacts.tensorboard_dir is not None:
            from trainers.tensorboard import (
                write_test_metrics,  # tensorboard import only when used
            )

            loss, accuracy, metrics = _values(row, b)
            write_test_metrics(b.artifacts.tensorboard_dir, loss, accuracy, step=len(b.records), metrics=metrics)
            b.artifacts.publish_tensorboard()
        b.artifacts.clear_checkpoints()
        b.artifacts.close()
        results.append(_result(b, row, batch, device, replicas, started_at, build_share, eval_share, len(data.x_train)))
    initial = kept.initial if kept is not None else OrderedDict()
    for i, b in enumerate(branches):
        if b.initial_values is not None:  # built cold: its seed's values, for a later trial
            warm_traces.remember(initial, (i, b.spec.training.seed), b.initial_values)
    warm_traces.keep(warm_traces.KeptGroup(shape, data, strategy, [b.model for b in branches], (x, y), fns,
                                           [b.optimizer_initial for b in branches], initial))
    return results


def measure_fused_rate(
    spec: TrialSpec,
    data: DatasetArrays,
    device: DeviceInfo,
    sizes: Sequence[int] = (1, 2, 4, 8),
    steps: int = 16,
    calls: int = 2,
) -> tuple[dict[int, float], dict[int, float]]:
    """``(steps_per_second, setup_seconds)`` of K copies of ``spec`` (seeds ``seed, seed+1,
    ...``) fused, for each K in ``sizes``, on this process's device. Setup: building the K
    branches and the first call less a steady one (the trace). Rate: group steps per second
    over ``calls`` calls of ``steps`` steps after it. Nothing is saved. For ``resources.fuse:
    auto``, pass both to :func:`orchestrator.plan.choose_group_size`. About 1-3 s per K for
    LeNet-5 on one CPU thread (tracing K branches dominates at K=8)."""
    with trial_scope():
        return _measure(spec, data, device, sizes, steps, calls)


def _measure(
    spec: TrialSpec, data: DatasetArrays, device: DeviceInfo, sizes: Sequence[int], steps: int, calls: int
) -> tuple[dict[int, float], dict[int, float]]:
    strategy = make_strategy(device)
    replicas = strategy.num_replicas_in_sync
    t = spec.training
    batch = global_batch_size(t.batch_size, t.batch_size_scope, replicas)
    n = len(data.x_train)
    x, y = tf.constant(data.x_train), tf.constant(data.y_train)
    rates: dict[int, float] = {}
    setup: dict[int, float] = {}
    for k in sizes:
        keras.backend.clear_session()
        probes = [
            dataclasses.replace(
                spec, trial_id=f"{spec.trial_id}-probe{i}", artifacts_root=None,
                outputs=dataclasses.replace(spec.outputs, tensorboard=False, checkpoint_every=0),
                training=dataclasses.replace(t, seed=t.seed + i),
            )
            for i in range(k)
        ]
        order = np.stack([epoch_permutation(p.training.seed, 0, n) for p in probes])
        ids = tf.constant(np.resize(order, (k, steps, batch)))  # wraps around a small dataset
        t0 = time.perf_counter()
        with strategy.scope():
            models = [Branch(p, data, math.ceil(n / batch), replicas).model for p in probes]
        train = build_train_fn(models, strategy, x, y)
        train(ids).numpy()
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(calls):
            train(ids).numpy()
        elapsed = time.perf_counter() - t0
        rates[k] = calls * steps / elapsed
        setup[k] = max(first - elapsed / calls, 0.0)
    return rates, setup


def _check_shared(specs: Sequence[TrialSpec]) -> None:
    if not specs:
        raise ValueError("run_fused_trials: no trials given; pass at least one TrialSpec")
    first = fusion_key(specs[0])
    for spec in specs[1:]:
        if fusion_key(spec) != first:
            raise ValueError(
                f"run_fused_trials: trial {spec.trial_id} does not share the input pipeline of "
                f"{specs[0].trial_id} (dataset, batch size, batch scope, epochs, resources, sweep "
                "must be equal); group trials with orchestrator.plan.GroupTaker"
            )
    ids = [s.trial_id for s in specs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"run_fused_trials: a trial appears twice in one group ({ids}); fuse distinct trials")


def _train_epoch(train: Callable, seeds: list[int], epoch: int, n: int, batch: int) -> np.ndarray:
    """One epoch of every branch in ``seeds`` order: each its own permutation, cut into
    global batches (the last one ragged, as in fit()), STEPS_PER_CALL steps per call."""
    steps, tail = epoch_batches(seeds, epoch, n, batch)
    totals: np.ndarray | None = None  # float64 sums of the float32 per-call totals, as always
    calls = [steps[:, start : start + trial_model.STEPS_PER_CALL] for start in range(0, steps.shape[1], trial_model.STEPS_PER_CALL)]
    if tail is not None:
        calls.append(tail[:, None, :])
    for call in calls:
        part = train(tf.constant(call)).numpy()
        totals = np.zeros(part.shape) + part if totals is None else totals + part
    assert totals is not None  # an epoch has at least one batch
    return totals


def _evaluate(evaluate: Callable, x: np.ndarray, y: np.ndarray, batch: int) -> np.ndarray:
    totals = 0.0
    for start in range(0, len(x), batch):
        totals = totals + evaluate(tf.constant(x[start : start + batch]), tf.constant(y[start : start + batch])).numpy()
    return np.asarray(totals)


def _values(row: np.ndarray, branch: Branch) -> tuple[float, float | None, dict[str, float]]:
    """(loss, accuracy or None without one, {metric: value}) from a [summed loss, correct,
    images, summed metrics...] row of ``branch``."""
    loss_sum, correct, images = (float(v) for v in row[:3])
    objective = branch.objective
    metrics = {name: float(row[3 + j]) / images for j, name in enumerate(objective.metric_names)}
    return loss_sum / images, (correct / images if objective.classification else None), metrics


def _record(epoch: int, branch: Branch, train_row: np.ndarray, val_row: np.ndarray, seconds: float) -> EpochRecord:
    loss, accuracy, metrics = _values(train_row, branch)
    val_loss, val_accuracy, val_metrics = _values(val_row, branch)
    metrics.update((f"val_{name}", value) for name, value in val_metrics.items())
    return EpochRecord(epoch, loss, accuracy, val_loss, val_accuracy, seconds=seconds, metrics=metrics)


def _result(
    b: Branch, test_row: np.ndarray, batch: int, device: DeviceInfo, replicas: int,
    started_at: datetime, build_share: float, eval_share: float, n_train: int,
) -> TrialResult:
    epochs = b.records
    first = epochs[0].seconds if epochs else None
    steady = float(np.mean([r.seconds for r in epochs[1:]])) if len(epochs) > 1 else None
    per_epoch = steady if steady is not None else first
    test_loss, test_accuracy, test_metrics = _values(test_row, b)
    return TrialResult(
        trial_id=b.spec.trial_id,
        status=TrialStatus.STOPPED if b.stop_reason else TrialStatus.COMPLETED,
        stop_reason=b.stop_reason,
        resumed_epochs=b.resumed_epochs,
        started_at=started_at,
        ended_at=datetime.now(timezone.utc),
        epochs=list(epochs),
        test_loss=test_loss,
        test_accuracy=test_accuracy,
        test_metrics=test_metrics,
        param_count=int(b.model.count_params()),
        global_batch_size=batch,
        build_seconds=build_share,
        first_epoch_seconds=first,
        steady_epoch_seconds=steady,
        eval_seconds=eval_share,
        train_seconds=b.train_seconds,
        total_seconds=build_share + b.train_seconds + eval_share,
        images_per_second=n_train / per_epoch if per_epoch else None,
        host=socket.gethostname(),
        device_kind=device.kind,
        device_count=replicas,
        tensorflow_version=tf.__version__,
        keras_version=keras.__version__,
    )
