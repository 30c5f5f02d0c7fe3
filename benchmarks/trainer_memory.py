"""Benchmark: resident memory over a long sweep of tiny trials, per process kind.

Runs ``orch run`` (the installed CLI's code, in a subprocess, as a user would) on N tiny trials
(a 4-unit builder on a 200-image npz written to a temp dir, ``method: random`` over the
learning rate, one epoch each, default resources and outputs) and samples, from outside, the
resident memory (RSS, /proc) of every process of that run:

- driver: the ``orch run`` process itself;
- trainers: its descendants whose command line is ``ray::_Trainer...`` (the trainer actors;
  summed, since a replaced trainer's successor takes its place);
- ray: every other descendant (GCS, raylet, log monitor, the progress queue actor, idle
  workers): Ray's own.

It prints, per kind, RSS after 100 trials and at the end (the last sample with trainers alive), the slope in MiB
per 100 trials (least squares over the samples from trial 100 on), and the peak (while
trainers run); then the Done-when check of
issue 23: the summed RSS of Ray's worker processes (every ``ray::`` process) late in the run
(85-95% of its trials) against early (20-30%).

    python benchmarks/trainer_memory.py                 # 2,000 trials (about 25 min on 2 cores)
    python benchmarks/trainer_memory.py --trials 400    # the Done-when run
    python benchmarks/trainer_memory.py --trials 300 --set resources.trials_per_trainer=null

Linux only (reads /proc). The 16-config peak-memory comparison with plain Keras and Ray Tune
named in the issue is not part of this script (see README "Memory on long sweeps").
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
PAGE = os.sysconf("SC_PAGE_SIZE")
KINDS = ("driver", "trainers", "ray", "workers")

BUILDER = '''import keras


def build(params, input_shape, num_classes):
    return keras.Sequential([
        keras.layers.Flatten(),
        keras.layers.Dense(4, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])
'''

EXPERIMENT = """name: memory
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
  space:
    training.learning_rate: {{loguniform: [1.0e-4, 1.0e-1]}}
"""


def write_inputs(directory: Path, trials: int) -> Path:
    """200 8x8 grey images in 4 classes (class = brightness), the builder and the experiment."""
    rng = np.random.default_rng(0)
    y = np.arange(200) % 4
    x = (rng.integers(0, 40, (200, 8, 8, 1)) + (y * 60)[:, None, None, None]).astype(np.uint8)
    np.savez(directory / "data.npz", x_train=x[:160], y_train=y[:160], x_test=x[160:], y_test=y[160:])
    (directory / "tiny.py").write_text(BUILDER)
    path = directory / "memory.yaml"
    path.write_text(EXPERIMENT.format(trials=trials))
    return path


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command line, RSS MiB) of every process we can read."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{entry}/statm") as f:
                rss = int(f.read().split()[1]) * PAGE / 2**20
        except OSError:
            continue  # gone meanwhile
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        found[int(entry)] = (ppid, cmdline, rss)
    return found


def sample(driver: int) -> dict[str, float]:
    """RSS MiB per kind, over the driver and all its descendants."""
    procs = _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    totals = dict.fromkeys(KINDS, 0.0)
    totals["trainer_count"] = 0
    stack = [driver]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        if pid not in procs:
            continue
        _, cmdline, rss = procs[pid]
        if pid == driver:
            totals["driver"] += rss
            continue
        if cmdline.startswith("ray::"):
            totals["workers"] += rss
        if cmdline.startswith("ray::_Trainer"):
            totals["trainers"] += rss
            totals["trainer_count"] += 1
        else:
            totals["ray"] += rss
    return totals


def run(trials: int, overrides: list[str], interval: float) -> tuple[list[tuple[int, dict[str, float]]], str]:
    """Run the sweep; samples as (trials done, RSS per kind), one per finished trial and one
    every ``interval`` seconds; and the driver's log lines about trainer replacements."""
    samples: list[tuple[int, dict[str, float]]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = write_inputs(Path(tmp), trials)
        cmd = [sys.executable, "-m", "orchestrator.cli", "run", str(config), "--store", str(Path(tmp) / "store")]
        for item in overrides:
            cmd += ["--set", item]
        env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
        done = 0
        lock = threading.Lock()
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(interval):
                with lock:
                    samples.append((done, sample(proc.pid)))

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        assert proc.stdout is not None
        for line in proc.stdout:
            if re.search(r"\] done ", line):
                with lock:
                    done += 1
                    samples.append((done, sample(proc.pid)))
                if done % 100 == 0:
                    print(f"  {done} trials, trainers {samples[-1][1]['trainers']:.0f} MiB", flush=True)
            elif "replac" in line:
                notes.append(line.strip())
        stop.set()
        proc.wait()
        if proc.returncode != 0:
            raise SystemExit(f"orch run exited with {proc.returncode}")
    return samples, "\n".join(notes)


def at(samples: list[tuple[int, dict[str, float]]], trial: int, kind: str) -> float:
    """The kind's RSS at the first sample taken once ``trial`` trials were done."""
    return next(s[kind] for done, s in samples if done >= trial)


def window(samples: list[tuple[int, dict[str, float]]], lo: float, hi: float, kind: str, trials: int) -> float:
    """Mean RSS of the samples taken while lo..hi (fractions) of the trials were done."""
    values = [s[kind] for done, s in samples if lo * trials <= done <= hi * trials]
    return float(np.mean(values))


def slope(samples: list[tuple[int, dict[str, float]]], kind: str, start: int) -> float:
    """MiB per 100 trials, least squares over the per-trial samples from ``start`` on."""
    points = [(done, s[kind]) for done, s in samples if done >= start]
    if len(points) < 2 or points[-1][0] == points[0][0]:
        return float("nan")
    x, y = np.array(points, dtype=float).T
    return float(np.polyfit(x, y, 1)[0] * 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=2000, help="tiny trials to run (default 2000)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="passed to orch run --set (e.g. resources.trials_per_trainer=null)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between timed samples")
    parser.add_argument("--samples", metavar="FILE.json", help="also write every sample there")
    args = parser.parse_args()
    if not Path("/proc/self/statm").exists():
        raise SystemExit("trainer_memory.py reads /proc: Linux only")
    t0 = time.monotonic()
    samples, notes = run(args.trials, args.set, args.interval)
    wall = time.monotonic() - t0
    if args.samples:
        Path(args.samples).write_text(json.dumps(samples))
    first = min(100, args.trials)
    print(f"\n{args.trials} tiny trials in {wall:.0f} s; RSS in MiB ({' '.join(args.set) or 'default settings'})")
    print(f"{'process kind':<14} {f'after {first}':>10} {'end':>8} {'MiB/100 trials':>15} {'peak':>8}")
    for s in (s for _, s in samples):
        s["per trainer"] = s["trainers"] / s["trainer_count"] if s["trainer_count"] else 0.0
    running = [(done, s) for done, s in samples if s["trainer_count"]]  # not Ray's start or shut-down
    for kind, label in (("driver", "driver"), ("trainers", "trainers (sum)"), ("per trainer", "per trainer"),
                        ("ray", "Ray's own"), ("workers", "ray:: workers")):
        peak = max(s[kind] for _, s in running)
        print(f"{label:<14} {at(running, first, kind):>10.0f} {running[-1][1][kind]:>8.0f} "
              f"{slope(running, kind, first):>15.1f} {peak:>8.0f}")
    counts = sorted({int(s['trainer_count']) for _, s in samples if s['trainer_count']})
    print(f"trainer processes alive at once: {counts}")
    early = window(running, 0.20, 0.30, "workers", args.trials)
    late = window(running, 0.85, 0.95, "workers", args.trials)
    print(f"ray:: workers summed: early (20-30% of trials) {early:.0f} MiB, late (85-95%) {late:.0f} MiB: "
          f"{100 * (late / early - 1):+.1f}% (issue 23: at most +10%)")
    t_early = window(running, 0.20, 0.30, "trainers", args.trials)
    t_late = window(running, 0.85, 0.95, "trainers", args.trials)
    print(f"trainers summed: early {t_early:.0f} MiB, late {t_late:.0f} MiB: {100 * (t_late / t_early - 1):+.1f}%")
    if notes:
        print(f"trainer replacements ({len(notes.splitlines())}):\n{notes}")


if __name__ == "__main__":
    main()
