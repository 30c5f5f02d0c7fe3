"""Benchmark: the 16-config LeNet-5 grid with and without stopping hopeless trials.

In one invocation, one after the other on the same machine, into one fresh store:

1. `orch run configs/lenet5-grid.yaml` with every trial running all its epochs;
2. the same grid with the stopping rules on: diverged trials, trials still at chance level
   after a grace period, and successive halving at the rung epochs.

It prints, for each: epochs spent, wall time, trials stopped, and the best config with its
test accuracy (targets: at least 40% fewer epochs, the same best config).

    python benchmarks/early_stopping.py --data-dir ../shared/data/mnist --epochs 10
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from orchestrator.store import ParquetResultsStore  # noqa: E402

GRID_AXES = ("optimizer", "learning_rate", "activation", "batch_size")


def run_sweep(store: str, name: str, data_dir: str, epochs: int, stopping: list[str]) -> float:
    cmd = [
        sys.executable, "-m", "orchestrator.cli", "run", "configs/lenet5-grid.yaml", "--store", store,
        "--name", name, "--set", f"training.epochs={epochs}", "--set", f"dataset.data_dir={data_dir}",
    ]
    for setting in stopping:
        cmd += ["--set", setting]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f"command failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-3000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_dir = os.environ.get("ORCH_DATA_DIR", str(REPO.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--data-dir", default=default_dir, help="directory with the four MNIST IDX .gz files")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rungs", default="[2, 5]", help="successive-halving rung epochs (YAML list)")
    parser.add_argument("--keep", type=float, default=0.5, help="fraction going on at each rung")
    parser.add_argument("--grace", type=int, default=2, help="epochs before the at-chance rule applies")
    parser.add_argument("--store", help="keep the results here (default: a temporary directory)")
    args = parser.parse_args()
    if not (Path(args.data_dir) / "train-images-idx3-ubyte.gz").exists():
        sys.exit(f"no MNIST IDX files in {args.data_dir}; pass --data-dir")

    stopping = [f"stopping.rungs={args.rungs}", f"stopping.keep={args.keep}", f"stopping.chance_after={args.grace}"]
    print(f"16-config LeNet-5 grid, {args.epochs} epochs per trial, full MNIST, {os.cpu_count()} cores", flush=True)
    print(f"stopping: {', '.join(stopping)} (diverged trials stop by default)\n", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        store_dir = args.store or tmp
        runs = [
            ("every epoch", "grid-full", ["stopping.diverged=false"]),
            ("stopping on", "grid-stopping", stopping),
        ]
        table = []
        for label, name, settings in runs:
            wall = run_sweep(store_dir, name, args.data_dir, args.epochs, settings)
            rows = ParquetResultsStore(store_dir).read_trials(name).to_pylist()
            ids = {r["trial_id"] for r in rows}
            if len(rows) != 16 or len(ids) != 16 or any(r["status"] == "failed" for r in rows):
                sys.exit(f"{name}: {len(rows)} rows for {len(ids)} trials; expected 16, none failed, once each")
            best = max(rows, key=lambda r: r["test_accuracy"])
            table.append((label, wall, rows, best))
            print(f"  {label}: {wall:.1f} s", flush=True)

    print(f"\n{'run':<14}{'epochs':>8}{'wall s':>9}{'stopped':>9}  {'best config':<40}{'test acc':>9}")
    for label, wall, rows, best in table:
        config = " ".join(str(best[a]) for a in GRID_AXES)
        stopped = sum(r["status"] == "stopped" for r in rows)
        print(f"{label:<14}{sum(r['epochs_run'] for r in rows):>8}{wall:>9.1f}{stopped:>9}  {config:<40}{best['test_accuracy']:>9.4f}")
    (_, full_wall, full, full_best), (_, stop_wall, stop, stop_best) = table
    full_epochs, stop_epochs = sum(r["epochs_run"] for r in full), sum(r["epochs_run"] for r in stop)
    same = full_best["trial_id"] == stop_best["trial_id"]
    print(f"\nepochs saved: {1 - stop_epochs / full_epochs:.0%} (target >= 40%); wall time saved: "
          f"{1 - stop_wall / full_wall:.0%}; same best config: {'yes' if same else 'NO'}")
    print("\nstopped trials:")
    for r in sorted(stop, key=lambda r: r["epochs_run"]):
        if r["status"] == "stopped":
            print(f"  {' '.join(str(r[a]) for a in GRID_AXES):<32} after {r['epochs_run']:>2}: {r['stop_reason']}")


if __name__ == "__main__":
    main()
