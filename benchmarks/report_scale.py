"""Benchmark: ``orch report`` at 10,000 trials: time to build the page, its size, and how
long a real headless Chromium takes to draw it.

Builds a store with one random search of ``--trials`` synthetic trials (learning rate
log-uniform, batch size log-int, dropout, optimizer; two seeds per point; ``--epochs``
epoch rows each) through the store's own write path, then times ``build_report`` and
opens the page in ``chromium --headless`` (no network). The page records, on ``<body>``,
when Plotly finished drawing its last chart (``data-orch-rendered-ms``, from navigation
start); the benchmark prints that and the wall time of the whole browser run, against the
same browser on a blank page.

    python benchmarks/report_scale.py                 # 10,000 trials, 20 epochs: ~1-2 minutes on 2 cores
    python benchmarks/report_scale.py --trials 1000   # a quick look

Measured 2026-12-03 on the 2-core machine, shared (load average 8-13, so a quiet machine is
several times faster), Chromium 156 with software WebGL:

    trials   build_report   file     last chart drawn   browser run (blank page)   load average
    10,000   15.9 s         7.8 MB   9.3 s              23.7 s (2.8 s)             ~13
       100   15.2 s         4.9 MB   12.8 s             18.0 s (2.1 s)             ~13
    10,000   19.4 s         7.8 MB   11.1 s             29.1 s (2.3 s)             ~26, charts deferred

"Charts deferred": each chart's script runs as its own task after the page is parsed, so
text and tables show first and the page answers input between charts (the longest single
task is the parallel coordinates).

At 10,000 trials the page draws as fast as at 100: what it costs is plotly.js itself (4.8 MB
parsed once) and WebGL start-up, not the data, which is aggregated and sampled (curves:
best 8 configs + a band; clouds and parallel coordinates: 2,000 points or lines). Most of
build_report is fANOVA on its 200-trial sample (scikit-learn's import included). Before the
sampling of parallel coordinates, 10,000 lines took that chart alone to 15.5 s.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from orchestrator.answers import build_report  # noqa: E402
from orchestrator.config import parse_experiment  # noqa: E402
from orchestrator.plan import expand_sweep  # noqa: E402
from orchestrator.store import ParquetResultsStore  # noqa: E402
from orchestrator.trial import EpochRecord, TrialResult, TrialSpec, TrialStatus  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND"]


def experiment(trials: int, epochs: int) -> dict:
    return {"name": "scale", "training": {"epochs": epochs},
            "sweep": {"method": "random", "samples": trials // 2, "seeds": [0, 1], "max_trials": max(trials, 10_000),
                      "space": {"training.learning_rate": {"loguniform": [1e-5, 1e-1]},
                                "training.batch_size": {"int": [32, 1024], "log": True},
                                "model.dropout": {"uniform": [0.0, 0.5]},
                                "training.optimizer": {"choice": ["adam", "sgd", "rmsprop"]}}}}


def synthetic(spec: TrialSpec, index: int) -> TrialResult:
    t, rng = spec.training, random.Random(index)
    level = 0.98 - 0.05 * abs(math.log10(t.learning_rate) + 3) - 0.03 * (t.optimizer == "sgd") - 0.04 * spec.model.dropout
    level = max(0.1, level + rng.gauss(0, 0.005))
    status = TrialStatus.COMPLETED if rng.random() > 0.02 else TrialStatus.FAILED
    seconds = 0.5 + 60.0 / t.batch_size
    records = [EpochRecord(e, 2.3 / (1 + e), level * (1 - 0.6 ** e), 2.4 / (1 + e), level * (1 - 0.62 ** e), seconds)
               for e in range(1, t.epochs + 1)]
    start = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=30 * index)
    train = sum(r.seconds for r in records)
    return TrialResult(trial_id=spec.trial_id, status=status, started_at=start, ended_at=start + timedelta(seconds=train),
                       epochs=records, test_loss=0.1, test_accuracy=level, param_count=61706,
                       global_batch_size=t.batch_size, train_seconds=train, total_seconds=train + 2.0, host="bench",
                       device_kind="CPU", device_count=1, error=None if status is TrialStatus.COMPLETED else "boom")


def open_in_chromium(page: Path) -> tuple[float, str]:
    """Wall seconds of a headless Chromium that loads ``page`` and lets its scripts run
    (up to 60 s of virtual time), and the DOM it ends with."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        start = time.perf_counter()
        done = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=60000",
                               "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True, timeout=600, check=False)
        return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--keep", metavar="HTML", help="also write the report here, to look at")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orch-report-scale-") as root:
        store = ParquetResultsStore(f"{root}/store")
        config = parse_experiment(experiment(args.trials, args.epochs))
        specs = expand_sweep(config)
        store.save_config(config)
        start = time.perf_counter()
        store.append_many([(s, synthetic(s, i)) for i, s in enumerate(specs)])
        store.compact()
        print(f"store: {len(specs):,} trials, {len(specs) * args.epochs:,} epoch rows written in "
              f"{time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        report = build_report(store, ["scale"])
        built = time.perf_counter() - start
        page = Path(root) / "report.html"
        report.save(page)
        if args.keep:
            report.save(args.keep)
        print(f"build_report: {built:.1f} s; file: {page.stat().st_size / 1e6:.1f} MB ({report!r})")
        blank = Path(root) / "blank.html"
        blank.write_text("<!doctype html><html><body>blank</body></html>")
        baseline, _ = open_in_chromium(blank)
        wall, dom = open_in_chromium(page)
        drawn = len(re.findall(r'data-orch-drawn="1"', dom))
        rendered = re.search(r'data-orch-rendered-ms="(\d+)"', dom)
        print(f"chromium: {drawn} of {report.charts} charts drawn; last chart drawn "
              f"{int(rendered.group(1)) / 1000 if rendered else float('nan'):.1f} s after navigation start; "
              f"browser run {wall:.1f} s wall (a blank page: {baseline:.1f} s)")
        times = [f"{m.group(1).removeprefix('orch-')} {int(m.group(2)) / 1000:.1f} s" for m in
                 re.finditer(r'id="([\w-]+)"[^>]*data-orch-drawn="1" data-orch-drawn-ms="(\d+)"', dom)]
        print("each chart drawn at: " + ", ".join(times))
        print(f"trial ids in the page: {sum(1 for s in specs if s.trial_id in dom):,} of {len(specs):,}")


if __name__ == "__main__":
    main()
