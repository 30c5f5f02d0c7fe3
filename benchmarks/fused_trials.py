"""Benchmark: sweeps with fused trials (``resources.fuse``) against the same sweeps unfused.

In one invocation, side by side on the same machine, each run a whole ``orch run`` process
into a fresh store (interpreter, imports, Ray start-up, data loading included):

1. the 16-config reference grid (``configs/lenet5-grid.yaml``) x 4 seeds = 64 trials, 1 epoch
   each, full MNIST: ``fuse: 1`` and ``fuse: K`` (``--fuse``, default ``auto``);
2. a 100-trial sweep of the offline sample (25 learning rates x 2 activations x 2 seeds,
   1 epoch each): the same two ways.

Prints wall time, trials per minute and the ratio fused / unfused for each, and the group
size ``auto`` chose. Targets on a 2-core machine: grid <= 0.75x, sample sweep <= 0.6x.

    python benchmarks/fused_trials.py --data-dir ../shared/data/mnist
    python benchmarks/fused_trials.py --skip-grid          # the offline part only
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from orchestrator.store import ParquetResultsStore  # noqa: E402

SAMPLE_SWEEP = """
name: sample100
dataset: {name: mnist_sample}
training: {optimizer: adam, epochs: 1, batch_size: 128}
outputs: {tensorboard: false}
sweep:
  grid:
    training.learning_rate: [%s]
    model.activation: [relu, tanh]
  seeds: [0, 1]
"""


def orch_run(config: Path, store: Path, *overrides: str) -> float:
    argv = [sys.executable, "-m", "orchestrator.cli", "run", str(config), "--store", str(store)]
    for item in overrides:
        argv += ["--set", item]
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def compare(label: str, config: Path, fuse: str, work: Path, *overrides: str) -> list[tuple]:
    rows = []
    times = {}
    for setting in ("1", fuse):
        store = work / f"{label}-fuse-{setting}"
        seconds = orch_run(config, store, f"resources.fuse={setting}", *overrides)
        trials = ParquetResultsStore(str(store)).read_trials().to_pylist()
        groups = sorted({r["fused_with"] for r in trials})
        accuracy = sum(r["test_accuracy"] for r in trials) / len(trials)
        times[setting] = seconds
        rows.append((label, f"fuse {setting}", len(trials), seconds, len(trials) / seconds * 60, groups, accuracy))
    rows.append((label, "ratio", None, times[fuse] / times["1"], None, None, None))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--fuse", default="auto", help="group size to compare with fuse 1 (a number or auto)")
    parser.add_argument("--skip-grid", action="store_true", help="only the offline-sample sweep")
    args = parser.parse_args()
    rows: list[tuple] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sample = work / "sample100.yaml"
        rates = ", ".join(f"{1e-4 * 1.25 ** i:.6g}" for i in range(25))
        sample.write_text(SAMPLE_SWEEP % rates)
        rows += compare("sample x100", sample, args.fuse, work)
        if not args.skip_grid:
            rows += compare("grid x64", REPO / "configs" / "lenet5-grid.yaml", args.fuse, work,
                            f"dataset.data_dir={args.data_dir}", "training.epochs=1", "sweep.seeds=[0, 1, 2, 3]",
                            "outputs.tensorboard=false")
    print(f"{'sweep':<12} {'run':<8} {'trials':>6} {'wall s':>8} {'trials/min':>10} {'group sizes':>12} {'mean test acc':>13}")
    for label, run, trials, seconds, rate, groups, accuracy in rows:
        if run == "ratio":
            print(f"{label:<12} {'ratio':<8} {'':>6} {seconds:>7.2f}x")
            continue
        print(f"{label:<12} {run:<8} {trials:>6} {seconds:>8.1f} {rate:>10.1f} {str(groups):>12} {accuracy:>13.4f}")


if __name__ == "__main__":
    main()
