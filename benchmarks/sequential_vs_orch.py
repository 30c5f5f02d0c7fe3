"""Benchmark: the 16-config LeNet-5 grid, by hand vs through `orch run`.

In one invocation, side by side on the same machine:

1. "by hand": one plain-Keras process runs the 16 trials one after another
   (model.fit / model.evaluate with default settings, as people do today);
2. `orch run configs/lenet5-grid.yaml` with the same epochs into a fresh store.

Both are timed as whole processes (interpreter, imports, data loading, Ray start-up
included) and the script prints both wall times and their ratio (target: orch <= 1.0x).

    python benchmarks/sequential_vs_orch.py --data-dir ../shared/data/mnist --epochs 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from orchestrator.store import ParquetResultsStore  # noqa: E402

# The baseline, as a user writes it: a loop over the grid in one Keras process.
PLAIN_KERAS = r"""
import gzip, itertools, json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import keras

data_dir, epochs = sys.argv[1], int(sys.argv[2])

def idx(name):
    with gzip.open(os.path.join(data_dir, name)) as f:
        raw = f.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)

x = idx("train-images-idx3-ubyte.gz")[..., None] / 255.0
y = idx("train-labels-idx1-ubyte.gz")
x_test = idx("t10k-images-idx3-ubyte.gz")[..., None] / 255.0
y_test = idx("t10k-labels-idx1-ubyte.gz")
x_train, y_train, x_val, y_val = x[:55000], y[:55000], x[55000:], y[55000:]

results = []
grid = itertools.product(["sgd", "adam"], [1e-3, 1e-4], ["sigmoid", "relu"], [50, 128])
for optimizer, lr, activation, batch in grid:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(6, 5, padding="same", activation=activation),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 5, padding="valid", activation=activation),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(120, activation=activation),
        keras.layers.Dense(84, activation=activation),
        keras.layers.Dense(10, activation="softmax"),
    ])
    opt = keras.optimizers.SGD(lr) if optimizer == "sgd" else keras.optimizers.Adam(lr)
    model.compile(opt, "sparse_categorical_crossentropy", metrics=["accuracy"])
    t = time.perf_counter()
    model.fit(x_train, y_train, batch_size=batch, epochs=epochs, validation_data=(x_val, y_val), verbose=0)
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    results.append({"optimizer": optimizer, "lr": lr, "activation": activation, "batch": batch,
                    "test_accuracy": acc, "seconds": time.perf_counter() - t})
print(json.dumps(results))
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f"command failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-3000:]}")
    return wall, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_dir = os.environ.get("ORCH_DATA_DIR", str(REPO.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--data-dir", default=default_dir, help="directory with the four MNIST IDX .gz files")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    if not (Path(args.data_dir) / "train-images-idx3-ubyte.gz").exists():
        sys.exit(f"no MNIST IDX files in {args.data_dir}; pass --data-dir")

    print(f"16-config LeNet-5 grid, {args.epochs} epoch(s) per trial, full MNIST, {os.cpu_count()} cores", flush=True)
    plain_wall, plain_out = timed([sys.executable, "-c", PLAIN_KERAS, args.data_dir, str(args.epochs)])
    plain = json.loads(plain_out)

    with tempfile.TemporaryDirectory() as store:
        orch_cmd = [
            sys.executable, "-m", "orchestrator.cli", "run", "configs/lenet5-grid.yaml", "--store", store,
            "--set", f"training.epochs={args.epochs}", "--set", f"dataset.data_dir={args.data_dir}",
        ]
        orch_wall, _ = timed(orch_cmd)
        # Raw rows, not `orch results` (which shows the latest run per trial): every trial
        # must be stored exactly once.
        rows = ParquetResultsStore(store).read_trials("lenet5-grid").to_pylist()
    ids = [r["trial_id"] for r in rows]
    if len(ids) != 16 or len(set(ids)) != 16 or any(r["status"] != "completed" for r in rows):
        sys.exit(f"orch stored {len(ids)} rows for {len(set(ids))} trials, expected 16 completed, once each")

    best_plain = max(plain, key=lambda r: r["test_accuracy"])
    best_orch = max(rows, key=lambda r: r["test_accuracy"])
    print()
    print(f"{'run':<28}{'wall s':>9}{'trials':>8}{'best test acc':>15}")
    print(f"{'plain Keras, sequential':<28}{plain_wall:>9.1f}{len(plain):>8}{best_plain['test_accuracy']:>15.4f}")
    print(f"{'orch run (local Ray)':<28}{orch_wall:>9.1f}{len(rows):>8}{best_orch['test_accuracy']:>15.4f}")
    print(f"\norch stored {len(rows)} rows for {len(set(ids))} distinct trials, all completed")
    print(f"\nratio orch / plain = {orch_wall / plain_wall:.2f}x  (target <= 1.00x)")


if __name__ == "__main__":
    main()
