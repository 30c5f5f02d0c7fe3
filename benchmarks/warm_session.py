"""Benchmark: sweeps in one warm session (orch.session) against the same sweeps cold.

In one invocation: the quickstart (4 trials; epochs and batch size as given) run N times in
one ``orch.session``, each under its own name into a fresh store, then the same sweeps as
N separate ``orch.run`` calls (each starts Ray and its trainers). For each sweep the table
prints the wall time the caller waited, the time running trials (first launch to last
result) and the start-up (their difference: Ray, trainers, data, checks, planning).

    python benchmarks/warm_session.py --sweeps 3 --epochs 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import orchestrator as orch  # noqa: E402
from orchestrator.progress import SweepProgress  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    config = REPO / "configs" / "quickstart.yaml"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        def overrides(i: int) -> dict:
            # Another learning rate per sweep: new trials each time, none skipped.
            return {"training.epochs": args.epochs, "training.batch_size": args.batch_size,
                    "training.learning_rate": 0.001 * (i + 1)}

        with orch.session() as s:
            for i in range(args.sweeps):
                r = s.run(config, store=f"{tmp}/warm", name=f"w{i}", overrides=overrides(i), progress=SweepProgress())
                rows.append(("session", i + 1, r))
            reused = s.trainers_reused
        for i in range(args.sweeps):
            r = orch.run(config, store=f"{tmp}/cold", name=f"c{i}", overrides=overrides(i), progress=SweepProgress())
            rows.append(("cold", i + 1, r))
    print(f"{'mode':<8} {'sweep':>5} {'trials':>6} {'wall s':>7} {'trials s':>8} {'start-up s':>10}")
    for mode, i, r in rows:
        print(f"{mode:<8} {i:>5} {r.completed:>6} {r.wall_seconds:>7.1f} {r.sweep_seconds:>8.1f} "
              f"{r.wall_seconds - r.sweep_seconds:>10.1f}")
    print(f"trainer actors reused by the session's later sweeps: {reused}")


if __name__ == "__main__":
    main()
