"""How long planning takes for large grids: load + validate, expand into trial specs (ids
included), and the refusal of a grid over ``sweep.max_trials``. Pure Python, no Ray or
TensorFlow; prints a table.

    python benchmarks/planning_scale.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.config import ConfigError, parse_experiment  # noqa: E402
from orchestrator.plan import expand_sweep  # noqa: E402


def grid(n_lr: int, n_batch: int) -> dict:
    return {
        "training.learning_rate": [round(1e-4 * (i + 1), 8) for i in range(n_lr)],
        "model.activation": ["relu", "tanh", "sigmoid"],
        "training.batch_size": list(range(1, n_batch + 1)),
    }


def main() -> None:
    print(f"{'trials':>10} {'validate s':>11} {'expand s':>9} {'trials/s':>10}")
    for n_lr, n_batch in ((10, 34), (100, 34), (100, 334)):
        raw = {"name": "plan", "sweep": {"grid": grid(n_lr, n_batch), "max_trials": 10**6}}
        t0 = time.perf_counter()
        experiment = parse_experiment(raw)
        t1 = time.perf_counter()
        specs = expand_sweep(experiment)
        t2 = time.perf_counter()
        print(f"{len(specs):>10,} {t1 - t0:>11.2f} {t2 - t1:>9.2f} {len(specs) / (t2 - t1):>10,.0f}")
    raw = {"name": "plan", "sweep": {"grid": {**grid(100, 100), "training.epochs": list(range(1, 101))}}}
    t0 = time.perf_counter()
    try:
        parse_experiment(raw)
    except ConfigError as e:
        print(f"refused in {time.perf_counter() - t0:.3f} s: {e}")


if __name__ == "__main__":
    main()
