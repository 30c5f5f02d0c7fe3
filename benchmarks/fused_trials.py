"""Benchmark: fused trials (several trials as one model per step) against one after another.

Section 1, "in-trainer throughput" (this round): in one process with one TensorFlow thread
(a trainer's share), side by side on the same data:

- ``sequential``: the K trials through the existing ``run_trial``, one after another;
- ``fused K``: the same K trials through ``run_fused_trials`` as one group;
- ``stop: rebuild`` vs ``stop: mask``: what a stopped branch costs. Rebuild traces the step
  again for the branches still running (what run_fused_trials does); mask keeps one trace
  for the whole group and skips a stopped branch's update behind a ``tf.cond``.

Every run's wall time includes its model building, tracing, validation and test evaluation.
The trials are LeNet-5s differing in seed, activation and optimizer (a grid's shape).

    python benchmarks/fused_trials.py --data-dir ../shared/data/mnist --trials 4

Section 2 (sweep level: the 64-trial grid and the 100-trial sample sweep through ``orch run``
with ``resources.fuse: 1`` vs ``auto``) needs the executor to run fused groups; it is
:func:`sweep_level` below, which says so and returns until that lands.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from orchestrator.config import DatasetConfig, ModelConfig, OutputsConfig, ResourcesConfig, TrainingConfig  # noqa: E402
from orchestrator.trial import TrialSpec, trial_id_for  # noqa: E402

# A grid's shape: activation x optimizer, seeds apart.
_VARIANTS = [("relu", "adam", 1e-3), ("sigmoid", "sgd", 0.1), ("relu", "sgd", 0.1), ("sigmoid", "adam", 1e-3)]


def trial_specs(dataset: DatasetConfig, count: int, batch: int, epochs: int) -> list[TrialSpec]:
    specs = []
    for i in range(count):
        activation, optimizer, lr = _VARIANTS[i % len(_VARIANTS)]
        model = ModelConfig(name="lenet5", activation=activation)
        training = TrainingConfig(optimizer=optimizer, learning_rate=lr, batch_size=batch, epochs=epochs, seed=i)
        specs.append(TrialSpec("bench", trial_id_for(dataset, model, training), dataset, model, training,
                               ResourcesConfig(), OutputsConfig(checkpoint_every=0, tensorboard=False)))
    return specs


def timed(fn) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, fn's result). CPU time is the steadier
    figure on a shared machine: with one TensorFlow thread it counts the work, not the wait."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def in_trainer(dataset: DatasetConfig, count: int, batch: int, epochs: int) -> list[tuple[str, float, float]]:
    """Rows (label, wall seconds, CPU seconds) of section 1. Sequential and fused run in the
    order A B B A and each row is the mean of its two runs, so a load change on the machine
    during the run weighs on both alike."""
    from trainers import configure_process, load_dataset, run_trial
    from trainers.fused import run_fused_trials

    device = configure_process(replicas=1, threads=1)
    data = load_dataset(dataset)
    specs = trial_specs(dataset, count, batch, epochs)
    runs = {
        "sequential run_trial": lambda: [run_trial(s, data, device) for s in specs],
        f"fused K={count}": lambda: run_fused_trials(specs, data, device),
    }
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in runs}
    results = {}
    for label in [*runs, *reversed(runs)]:
        wall, cpu, results[label] = timed(runs[label])
        times[label].append((wall, cpu))
    for a, f in zip(*results.values()):
        print(f"  {a.trial_id}: test accuracy alone {a.test_accuracy:.4f}, fused {f.test_accuracy:.4f}")
    rows = [(label, *(sum(v) / len(v) for v in zip(*pairs))) for label, pairs in times.items()]
    return rows + stopped_branch_cost(specs, data, device)


def stopped_branch_cost(specs: list[TrialSpec], data, device) -> list[tuple[str, float, float]]:
    """One epoch after half the group stopped: a new trace for the rest (rebuild) against the
    full group's trace with the stopped half masked off."""
    import math

    import keras
    import numpy as np
    import tensorflow as tf

    from trainers.devices import make_strategy
    from trainers.trial_model import STEPS_PER_CALL
    from trainers.fused_branch import Branch, epoch_permutation
    from trainers.fused_step import build_train_fn

    keras.backend.clear_session()
    strategy = make_strategy(device)
    batch, n = specs[0].training.batch_size, len(data.x_train)
    models = [Branch(s, data, math.ceil(n / batch), 1).model for s in specs]
    x, y = tf.constant(data.x_train), tf.constant(data.y_train)
    k, half = len(specs), len(specs) // 2
    full = n // batch
    order = np.stack([epoch_permutation(s.training.seed, 1, n) for s in specs])[:, : full * batch]
    ids = order.reshape(k, full, batch)

    def epoch(train, ids, *extra) -> tuple[float, float]:
        def run() -> None:
            for start in range(0, full, STEPS_PER_CALL):
                train(tf.constant(ids[:, start : start + STEPS_PER_CALL]), *extra).numpy()

        wall, cpu, _ = timed(run)
        return wall, cpu

    masked = build_train_fn(models, strategy, x, y, masked=True)
    everyone = tf.constant([True] * k)
    epoch(masked, ids[:, :1], everyone)  # trace while all run, as the group's first epoch would
    rest = tf.constant([i >= half for i in range(k)])
    mask_seconds = epoch(masked, ids, rest)
    rebuild = build_train_fn(models[half:], strategy, x, y)
    rebuild_seconds = epoch(rebuild, ids[half:])  # includes the new trace
    return [(f"stop: rebuild ({k - half} of {k} run)", *rebuild_seconds), (f"stop: mask ({k - half} of {k} run)", *mask_seconds)]


def auto_probe(dataset: DatasetConfig, batch: int, epochs: int) -> None:
    """What ``resources.fuse: auto`` would measure and choose for these trials here."""
    import math

    from orchestrator.fusion import choose_group_size
    from trainers import configure_process, load_dataset
    from trainers.fused import measure_fused_rate

    device = configure_process(replicas=1, threads=1)
    data = load_dataset(dataset)
    (spec,) = trial_specs(dataset, 1, batch, epochs)
    t0 = time.perf_counter()
    rates, setup = measure_fused_rate(spec, data, device)
    probe = time.perf_counter() - t0
    steps = math.ceil(len(data.x_train) / batch) * epochs
    print(f"\nauto probe ({probe:.1f} s): K: group steps/s, setup s ->", ", ".join(
        f"{k}: {rates[k]:.1f}, {setup[k]:.2f}" for k in rates))
    print(f"  choose_group_size: steps alone -> K={choose_group_size(rates)}; with setup and "
          f"{steps} steps per trial -> K={choose_group_size(rates, setup, steps)}")


def sweep_level() -> None:
    print("sweep level (64-trial grid, 100-trial sample sweep, fuse 1 vs auto): needs the executor "
          "to run fused groups (round two of issue 12); not run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # ../shared beside a checkout, or beside the folder of worktrees.
    near = [p / "shared" / "data" / "mnist" for p in (REPO.parent, REPO.parent.parent)]
    parser.add_argument("--data-dir", default=str(next((p for p in near if p.exists()), near[0])))
    parser.add_argument("--dataset", default="mnist", help="mnist (full, from --data-dir) or mnist_sample")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    # 55k train / 5k validation, as the reference workloads split MNIST.
    dataset = DatasetConfig(name=args.dataset, data_dir=args.data_dir if args.dataset == "mnist" else None,
                            validation=5000 if args.dataset == "mnist" else 0.1)
    rows = in_trainer(dataset, args.trials, args.batch_size, args.epochs)
    base_wall, base_cpu = rows[0][1], rows[0][2]
    print(f"\nin-trainer throughput: {args.trials} LeNet-5 trials, {args.epochs} epoch(s) of {args.dataset}, "
          f"batch {args.batch_size}, 1 thread (each row the mean of 2 runs, order A B B A)")
    print(f"{'run':28} {'wall s':>7} {'cpu s':>7} {'trials/min':>11} {'wall ratio':>11} {'cpu ratio':>10}")
    for label, wall, cpu in rows[:2]:
        print(f"{label:28} {wall:7.1f} {cpu:7.1f} {60 * args.trials / wall:11.1f} {wall / base_wall:10.2f}x "
              f"{cpu / base_cpu:9.2f}x")
    for label, wall, cpu in rows[2:]:
        print(f"{label:28} {wall:7.1f} {cpu:7.1f}   (one epoch, trace included)")
    auto_probe(dataset, args.batch_size, args.epochs)
    sweep_level()


if __name__ == "__main__":
    main()
