"""Benchmark: the results store and its queries at 10,000 trials and 1,000,000 epoch rows.

Builds synthetic results (10 sweeps of a 200-config x 5-seed grid, 100 epochs per trial)
through the store's own write path, twice:

- the driver's layout: ``store.append`` once per trial, as a sweep stores its results,
  which leaves one small file per trial in each table (20,000 files);
- in batches: ``store.append_many`` with ``--batch`` trials per call (one file per sweep
  and batch), the way to import many results at once.

Then it times (medians of several repetitions) listing and filtering the trials, a group-by
with mean/std over seeds, one trial's learning curve, and the same group-by done naively
(every file read into pandas, then ``DataFrame.groupby``), on the driver's layout before
and after ``store.compact()``, and prints one table. Targets on a 2-core machine: listing /
filtering <= 0.1 s, group-by <= 0.5 s, one curve <= 0.05 s, writing >= 1,000 trial rows/s.

    python benchmarks/query_scale.py       # ~13 minutes on 2 busy cores, mostly reading 20,000 files
    python benchmarks/query_scale.py --trials 2000 --epochs 50 --repeat 3   # a quick look
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from orchestrator.config import parse_experiment  # noqa: E402
from orchestrator.answers import Where, aggregate, learning_curves, select_trials  # noqa: E402
from orchestrator.store import PARAM_COLUMNS, ParquetResultsStore  # noqa: E402
from orchestrator.plan import expand_sweep  # noqa: E402
from orchestrator.trial import EpochRecord, TrialResult, TrialSpec, TrialStatus  # noqa: E402

GRID = {
    "training.optimizer": ["sgd", "adam"],
    "training.learning_rate": [1e-2, 3e-3, 1e-3, 3e-4, 1e-4],
    "model.activation": ["relu", "sigmoid"],
    "training.batch_size": [32, 64, 128, 256, 512],
    "model.dropout": [0.0, 0.25],
}
SEEDS = [0, 1, 2, 3, 4]
TRIALS_PER_SWEEP = 200 * len(SEEDS)


def synthetic_specs(trials: int) -> list[TrialSpec]:
    """``trials`` specs: sweeps of the grid above, each with its own l2 so that trial ids
    differ between sweeps (a curve query then finds exactly one trial)."""
    specs: list[TrialSpec] = []
    for i in range((trials + TRIALS_PER_SWEEP - 1) // TRIALS_PER_SWEEP):
        experiment = parse_experiment({
            "name": f"sweep-{i:02d}", "training": {"l2": i * 1e-5, "epochs": 100},
            "sweep": {"grid": GRID, "seeds": SEEDS},
        })
        specs += expand_sweep(experiment)
    return specs[:trials]


def synthetic_result(spec: TrialSpec, epochs: int, index: int) -> TrialResult:
    """A plausible result: accuracy rises over epochs towards a config-dependent level."""
    rng = random.Random(index)
    t = spec.training
    level = 0.99 - 0.02 * abs(t.learning_rate - 1e-3) / 1e-2 - (0.05 if spec.model.activation == "sigmoid" else 0.0)
    level -= 0.01 * (t.optimizer == "sgd") + rng.gauss(0, 0.002)
    seconds = 0.5 + 30.0 / t.batch_size
    records = [
        EpochRecord(e, 2.3 / (1 + e), level * (1 - 0.5 ** e), 2.4 / (1 + e), level * (1 - 0.5 ** e) - 0.003,
                    seconds * (3.0 if e == 1 else 1.0))
        for e in range(1, epochs + 1)
    ]
    start = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=index)
    train = sum(r.seconds for r in records)
    return TrialResult(
        trial_id=spec.trial_id, status=TrialStatus.COMPLETED, started_at=start,
        ended_at=start + timedelta(seconds=train + 3), epochs=records, test_loss=0.05, test_accuracy=level,
        param_count=61706, global_batch_size=t.batch_size, data_seconds=0.1, build_seconds=0.4,
        first_epoch_seconds=records[0].seconds, steady_epoch_seconds=seconds, eval_seconds=0.5,
        train_seconds=train, total_seconds=train + 2.0, images_per_second=55000 / seconds, host="bench",
        device_kind="CPU", device_count=1,
    )


def median_seconds(action: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def naive_group_by(root: str) -> int:
    """What people do without a query layer: read every file into pandas, then group."""
    import pandas as pd

    files = [os.path.join(d, f) for d, _, names in os.walk(os.path.join(root, "trials")) for f in names
             if f.endswith(".parquet") and not f.startswith(".")]
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    frame = frame[frame["status"] == "completed"]
    keys = ["sweep"] + [p for p in PARAM_COLUMNS if p != "seed" and frame[p].astype(str).nunique() > 1]
    return len(frame.groupby(keys, dropna=False)["test_accuracy"].agg(["mean", "std", "count"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=100, help="epoch rows per trial")
    parser.add_argument("--batch", type=int, default=500, help="trials per append_many call")
    parser.add_argument("--repeat", type=int, default=7, help="repetitions of each query (median reported)")
    parser.add_argument("--repeat-before", type=int, default=3,
                        help="repetitions before compaction, where one read of every file takes seconds")
    parser.add_argument("--store", help="build the stores under this directory (default: a temporary one)")
    args = parser.parse_args()

    print(f"{args.trials:,} trials x {args.epochs} epochs = {args.trials * args.epochs:,} epoch rows; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
    specs = synthetic_specs(args.trials)
    results = [synthetic_result(spec, args.epochs, i) for i, spec in enumerate(specs)]
    probe = specs[len(specs) // 2].trial_id

    with tempfile.TemporaryDirectory(dir=args.store) as tmp:
        batched = ParquetResultsStore(os.path.join(tmp, "batched"))
        start = time.perf_counter()
        for i in range(0, len(specs), args.batch):
            batched.append_many(zip(specs[i:i + args.batch], results[i:i + args.batch]))
        batch_rate = len(specs) / (time.perf_counter() - start)
        print(f"  append_many, {args.batch} trials per call: {batch_rate:,.0f} trial rows/s", flush=True)

        store = ParquetResultsStore(os.path.join(tmp, "driver"))
        start = time.perf_counter()
        for spec, result in zip(specs, results):
            store.append(spec, result)
        one_rate = len(specs) / (time.perf_counter() - start)
        print(f"  append, one trial per call: {one_rate:,.0f} trial rows/s", flush=True)
        writes = [
            (f"append_many, {args.batch} trials per call", ">= 1,000", f"{batch_rate:,.0f}"),
            ("append, one trial per call (the driver)", "", f"{one_rate:,.0f}"),
        ]

        adam = Where.of(status="completed", params={"optimizer": "adam"}, ranges={"test_accuracy": (0.95, None)})
        queries: list[tuple[str, str, Callable[[], object]]] = [
            ("list all trials (latest run each)", "<= 0.1 s", lambda: select_trials(store).num_rows),
            ("filter: adam, test_accuracy >= 0.95", "<= 0.1 s", lambda: select_trials(store, adam).num_rows),
            ("group-by config: mean/std over seeds", "<= 0.5 s",
             lambda: aggregate(select_trials(store, Where.of(status="completed"))).num_rows),
            ("one trial's learning curve", "<= 0.05 s", lambda: learning_curves(store, [probe]).num_rows),
            ("naive group-by (every file into pandas)", "", lambda: naive_group_by(store.uri)),
        ]
        measured: dict[str, list[str]] = {}
        files = {"before": len(store._list("trials", None)) + len(store._list("epochs", None))}
        for state, repeat in (("before", args.repeat_before), ("after", args.repeat)):
            if state == "after":
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    report = store.compact()
                files["after"] = report.files_after
                print(f"  compaction: {report}", flush=True)
            for label, _, action in queries:
                seconds, answer = median_seconds(action, repeat)
                measured.setdefault(label, []).append(f"{seconds:.3f} s")
                print(f"  {state} compaction: {label}: {seconds:.3f} s ({answer:,} rows)", flush=True)

    print()
    _print_table(("write (trial rows/s)", "target", "measured"), writes)
    print()
    _print_table(("query (median seconds)", "target", f"before compaction ({files['before']:,} files)",
                  f"after compaction ({files['after']:,} files)"),
                 [(label, target, *measured[label]) for label, target, _ in queries])
    print(f"\ncompaction: {report}; medians of {args.repeat_before} runs before compaction, {args.repeat} after; "
          f"{len(specs):,} trials in {(len(specs) + TRIALS_PER_SWEEP - 1) // TRIALS_PER_SWEEP} sweeps; "
          f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def _print_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for line in [headers, tuple("-" * w for w in widths), *rows]:
        print("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(line, widths))))


if __name__ == "__main__":
    main()
