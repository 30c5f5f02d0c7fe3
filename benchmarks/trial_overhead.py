"""Benchmark: per-trial overhead, N tiny one-epoch trials through `orch run` vs a plain Keras loop.

In one invocation, side by side on the same machine (issue 19, "Start fast, trial fast"):

1. `orch run` (a subprocess, as a user runs it) on N one-epoch trials of a tiny user builder
   (Flatten -> Dense(num_classes, softmax)) on a 200-image 8x8x1 uint8 npz with 4 classes,
   ``method: random`` over ``training.learning_rate`` (log-uniform), default resources and
   outputs, into a fresh store;
2. the same N trials as a plain Keras loop in one process (build, compile, fit one epoch,
   evaluate: what a user writes by hand), also a subprocess, so that interpreter start and
   imports count for both.

Both are timed as whole processes. The script prints both wall times, the ratio orch / plain
(issue 19's target: <= 0.15x), and orch's time to the first trial start: the moment its first
``start`` line reaches us, measured from launching the process (so it includes the interpreter,
imports, Ray, trainers, data and checks). The accuracy column is a sanity check that both ran,
not a comparison: one epoch of four SGD steps leaves this tiny model near chance (0.25).

    python benchmarks/trial_overhead.py                 # 200 trials
    python benchmarks/trial_overhead.py --trials 40     # quicker
    python benchmarks/trial_overhead.py --fuse          # orch with --set resources.fuse=auto
    python benchmarks/trial_overhead.py --verbose       # also orch's start-up phases (orch run --verbose)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from orchestrator.store import ParquetResultsStore  # noqa: E402

# The user builder (orch's contract: fn(params, input_shape, num_classes) -> a keras.Model
# whose output is one probability per class; orch adds the uint8 input and the scaling).
BUILDER = '''import keras


def build(params, input_shape, num_classes):
    return keras.Sequential([
        keras.layers.Flatten(),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])
'''

# Default resources and outputs; only what the 200-image dataset needs is set (a validation
# fraction: the default 5,000 images would not fit; a batch that gives several steps).
EXPERIMENT = """name: overhead
dataset:
  name: npz
  path: data.npz
  validation: 0.2
model:
  builder: tiny.py:build
training:
  epochs: 1
  batch_size: 32
sweep:
  method: random
  samples: {trials}
  search_seed: 0
  space:
    training.learning_rate: {{loguniform: [1.0e-4, 1.0e-1]}}
"""

# The baseline, as a user writes it: the same trials in one Keras process, one after another.
# Same data, split (validation: the last 20% of train, as orch holds it out), optimizer (orch's
# default, SGD), batch size, one epoch, then evaluate on the test images.
PLAIN_KERAS = r"""
import json, math, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import keras

path, trials = sys.argv[1], int(sys.argv[2])
data = np.load(path)
x, y = data["x_train"].astype("float32") / 255.0, data["y_train"]
x_test, y_test = data["x_test"].astype("float32") / 255.0, data["y_test"]
cut = len(x) - int(round(0.2 * len(x)))
x_train, y_train, x_val, y_val = x[:cut], y[:cut], x[cut:], y[cut:]
rng = np.random.default_rng(0)
results = []
for i in range(trials):
    lr = float(math.exp(rng.uniform(math.log(1e-4), math.log(1e-1))))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(x.shape[1:]),
        keras.layers.Flatten(),
        keras.layers.Dense(4, activation="softmax"),
    ])
    model.compile(keras.optimizers.SGD(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=1, validation_data=(x_val, y_val), verbose=0)
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    results.append({"learning_rate": lr, "test_accuracy": acc})
print(json.dumps(results))
"""


def write_inputs(directory: Path, trials: int) -> Path:
    """200 8x8 grey uint8 images in 4 classes (class = brightness, fixed seed), the builder and
    the experiment file."""
    rng = np.random.default_rng(0)
    y = np.arange(200) % 4
    x = (rng.integers(0, 40, (200, 8, 8, 1)) + (y * 60)[:, None, None, None]).astype(np.uint8)
    np.savez(directory / "data.npz", x_train=x[:160], y_train=y[:160], x_test=x[160:], y_test=y[160:])
    (directory / "tiny.py").write_text(BUILDER)
    path = directory / "overhead.yaml"
    path.write_text(EXPERIMENT.format(trials=trials))
    return path


def timed(cmd: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f"command failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-3000:]}")
    return wall, out.stdout


_START_LINE = re.compile(r"^\[orch\s+[\d.]+s\] start ")


def timed_orch(cmd: list[str]) -> tuple[float, float | None, list[str]]:
    """Wall seconds of the whole process, seconds from launch until its first ``start`` line
    (read as it is written: stderr is a pipe, so orch prints plain log lines), and its stderr."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    first_start: list[float] = []
    lines: list[str] = []

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if not first_start and _START_LINE.match(line):
                first_start.append(time.perf_counter() - t)
            lines.append(line)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    assert proc.stdout is not None
    proc.stdout.read()  # drained so that the process never blocks on a full pipe
    proc.wait()
    reader.join()
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{''.join(lines)[-3000:]}")
    return wall, (first_start[0] if first_start else None), lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--fuse", action="store_true", help="run orch with --set resources.fuse=auto")
    parser.add_argument("--verbose", action="store_true",
                        help="run orch with --verbose and print its start-up phase lines (Ray's and TensorFlow's "
                        "output then reach it too: off by default, so that both sides run at default settings)")
    args = parser.parse_args()

    print(f"{args.trials} one-epoch trials of a tiny builder (200 8x8 images, 4 classes), {os.cpu_count()} cores"
          + (", orch with resources.fuse=auto" if args.fuse else ""), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        experiment = write_inputs(work, args.trials)
        store = work / "store"
        orch_cmd = [sys.executable, "-m", "orchestrator.cli", "run", str(experiment), "--store", str(store)]
        if args.fuse:
            orch_cmd += ["--set", "resources.fuse=auto"]
        if args.verbose:
            orch_cmd += ["--verbose"]
        orch_wall, first_start, lines = timed_orch(orch_cmd)
        rows = ParquetResultsStore(str(store)).read_trials("overhead").to_pylist()
        plain_wall, plain_out = timed([sys.executable, "-c", PLAIN_KERAS, str(work / "data.npz"), str(args.trials)])
    plain = json.loads(plain_out)

    ids = [r["trial_id"] for r in rows]
    if len(ids) != args.trials or len(set(ids)) != args.trials or any(r["status"] != "completed" for r in rows):
        sys.exit(f"orch stored {len(ids)} rows for {len(set(ids))} trials, expected {args.trials} completed, once each")
    summary = next((line.strip() for line in lines if line.startswith("sweep overhead:") and "completed" in line), "")
    sweep_s = re.search(r"\(([\d.]+)s running trials\)", summary)

    best_plain = max(r["test_accuracy"] for r in plain)
    best_orch = max(r["test_accuracy"] for r in rows)
    print()
    print(f"{'run':<30}{'wall s':>9}{'trials':>8}{'best test acc':>15}")
    print(f"{'plain Keras loop, 1 process':<30}{plain_wall:>9.1f}{len(plain):>8}{best_plain:>15.4f}")
    label = "orch run" + (" (fuse=auto)" if args.fuse else "")
    print(f"{label:<30}{orch_wall:>9.1f}{len(rows):>8}{best_orch:>15.4f}")
    print()
    print(f"orch: first trial started {first_start:.1f}s after launch" if first_start is not None
          else "orch: no 'start' line seen in its output")
    if sweep_s:
        print(f"orch: {float(sweep_s.group(1)):.1f}s running trials (from its summary line)")
    phases = [line.rstrip() for line in lines if "] start-up: " in line]
    if phases:
        print("\norch's start-up phases (orch run --verbose):")
        print("\n".join(f"  {line}" for line in phases))
    print(f"\nratio orch / plain = {orch_wall / plain_wall:.2f}x  (issue 19 target <= 0.15x)")


if __name__ == "__main__":
    main()
