"""Benchmark: where `orch run`'s start-up goes, phase by phase (issue 19: the quickstart's
first trial within 5 s of `orch run`).

Runs ``orch run CONFIG --verbose`` (a subprocess, as a user runs it) ``--repeat`` times into
fresh stores, reads its ``start-up: ...`` lines (one per phase, counted from the process's
start: see orchestrator/progress/_startup.py), stops each run once its first trial has
launched (Ctrl-C: what is stored is kept, the rest is not this benchmark's business), and
prints each phase's median and range over the runs. Phases marked "alongside" overlap others:
their seconds are not to be added up; the last line is the total to the first trial launch.

    python benchmarks/startup.py                           # the quickstart, 3 runs
    python benchmarks/startup.py --repeat 5
    python benchmarks/startup.py --checkout . --checkout .,RAY_enable_worker_prestart=0   # a Ray setting
    python benchmarks/startup.py --checkout /tmp/orch-main --checkout .   # two versions of orch, same venv

The machine this was measured on is shared: runs vary by seconds. Compare versions side by
side in one invocation each, with the same ``--repeat``, and read medians.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_PHASE = re.compile(r"start-up: (?P<name>.+?) (?P<seconds>[0-9.]+)s(?P<rest>.*)$")
_TOTAL = re.compile(r"start-up: (?P<seconds>[0-9.]+)s in all, to the first trial launch")
TOTAL = "TOTAL to the first trial launch"


def run_once(config: Path, checkout: Path, env: dict[str, str], timeout: float) -> list[tuple[str, float]]:
    """The phases of one ``orch run --verbose``, in the order they ended; the total last."""
    with tempfile.TemporaryDirectory(prefix="orch-startup-") as tmp:
        cmd = [sys.executable, "-c", "import sys; from orchestrator.cli import main; sys.exit(main())",
               "run", str(config), "--verbose", "--name", "startup", "--store", str(Path(tmp) / "store")]
        full_env = {**os.environ, **env, "PYTHONPATH": str(checkout)}
        proc = subprocess.Popen(cmd, cwd=checkout, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        phases: list[tuple[str, float]] = []
        deadline = time.monotonic() + timeout
        assert proc.stderr is not None
        for line in proc.stderr:
            total = _TOTAL.search(line)
            if total is not None:
                phases.append((TOTAL, float(total["seconds"])))
                break
            m = _PHASE.search(line.rstrip())
            if m is not None:
                phases.append(((m["name"] + " " + m["rest"].strip()).strip(), float(m["seconds"])))
            if time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGINT)  # the sweep is not measured: stop it as a user would
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return phases


def _variant(text: str) -> tuple[str, Path, dict[str, str]]:
    """``PATH[,KEY=VALUE...]``: an orch source tree and environment settings for it."""
    path, *settings = text.split(",")
    return text, Path(path).resolve(), dict(item.split("=", 1) for item in settings)


def _table(label: str, runs: list[list[tuple[str, float]]]) -> None:
    names: list[str] = []
    for phases in runs:
        names += [name for name, _ in phases if name not in names]
    names.sort(key=lambda n: n == TOTAL)  # stable: the order the phases ended, the total last
    print(f"\n{label} ({len(runs)} runs)\n{'phase':<78} {'median':>7} {'min':>6} {'max':>6}")
    for name in names:
        values = [dict(phases)[name] for phases in runs if name in dict(phases)]
        print(f"{name:<78} {statistics.median(values):7.2f} {min(values):6.2f} {max(values):6.2f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=REPO / "configs" / "quickstart.yaml")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--checkout", action="append", default=[], metavar="PATH[,KEY=VALUE...]",
                   help="an orch source tree to run, with environment settings (default: this one); several are "
                        "run in turn, round by round, so that the machine's load falls on each alike")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="set in every run's environment")
    p.add_argument("--timeout", type=float, default=180.0)
    args = p.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    variants = [_variant(text) for text in (args.checkout or [str(REPO)])]
    runs: dict[str, list[list[tuple[str, float]]]] = {label: [] for label, _, _ in variants}
    for i in range(args.repeat):
        for label, checkout, settings in variants:
            phases = run_once(args.config.resolve(), checkout, {**env, **settings}, args.timeout)
            total = dict(phases).get(TOTAL)
            seen = f"{total:.2f}s to the first trial launch" if total else "no first trial launch seen"
            print(f"round {i + 1}, {label}: {seen}", flush=True)
            runs[label].append(phases)
    for label, phase_runs in runs.items():
        _table(label + (f" [{' '.join(args.env)}]" if args.env else ""), phase_runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
