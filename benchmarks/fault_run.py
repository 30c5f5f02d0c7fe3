"""Fault run: a sweep whose trainers are SIGKILLed mid-trial and whose driver is SIGKILLed
mid-sweep, then resumed. Prints trials, kills, completed, retries, duplicates and lost.

1. `orch run` starts as a subprocess (its own embedded Ray);
2. every --interval seconds one busy trainer process of that driver gets SIGKILL;
3. once --driver-kill-after trials are stored, the driver itself gets SIGKILL;
4. the same command runs again (trainers still being killed) until the sweep is complete.

Then the store must hold every trial exactly once (duplicates 0), all completed (lost 0).

    python benchmarks/fault_run.py                       # quickstart data, 12 trials
    python benchmarks/fault_run.py --kills 6 --interval 5
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from orchestrator.store import ParquetResultsStore  # noqa: E402

SWEEP = "fault-run"


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def busy_trainers_of(driver: int) -> list[int]:
    """Trainer processes (``ray::_Trainer.run_trial``) that descend from ``driver``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if not (proc / "cmdline").read_bytes().startswith(b"ray::_Trainer.run_trial"):
                continue
        except OSError:
            continue
        pid = int(proc.name)
        while pid > 1:
            pid = _parent(pid)
            if pid == driver:
                found.append(int(proc.name))
                break
    return found


class TrainerKiller(threading.Thread):
    """Kills one busy trainer of the current driver every ``interval`` seconds, ``kills`` times."""

    def __init__(self, kills: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.remaining, self.interval = kills, interval
        self.driver: int | None = None
        self.killed: list[int] = []
        self._stop = threading.Event()

    def run(self) -> None:
        rng = random.Random(0)
        while self.remaining and not self._stop.wait(self.interval):
            busy = busy_trainers_of(self.driver) if self.driver else []
            if busy:
                pid = rng.choice(busy)
                os.kill(pid, signal.SIGKILL)
                self.killed.append(pid)
                self.remaining -= 1

    def stop(self) -> None:
        self._stop.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the 4-config quickstart grid")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--kills", type=int, default=4, help="trainer processes to SIGKILL")
    parser.add_argument("--interval", type=float, default=6.0, help="seconds between trainer kills")
    parser.add_argument("--driver-kill-after", type=int, default=3, help="stored trials before the driver is killed")
    args = parser.parse_args()
    trials = 4 * args.seeds

    with tempfile.TemporaryDirectory() as store_dir:
        cmd = [
            sys.executable, "-m", "orchestrator.cli", "run", "configs/quickstart.yaml", "--store", store_dir,
            "--name", SWEEP, "--set", f"training.epochs={args.epochs}",
            "--set", f"sweep.seeds={list(range(args.seeds))}",
            # Enough retries that every kill is survivable: the run measures loss, not the limit.
            "--set", f"resources.max_retries={args.kills + 1}",
        ]
        store = ParquetResultsStore(store_dir)
        killer = TrainerKiller(args.kills, args.interval)
        killer.start()
        t0 = time.perf_counter()
        driver_killed = False
        runs = 0
        while True:
            runs += 1
            driver = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            killer.driver = driver.pid
            while driver.poll() is None:
                if not driver_killed and store.read_trials(SWEEP).num_rows >= args.driver_kill_after:
                    driver.kill()
                    driver_killed = True
                time.sleep(0.2)
            stderr = driver.stderr.read()
            if driver.returncode == 0:
                break
            if driver.returncode != -signal.SIGKILL:
                sys.exit(f"orch run failed ({driver.returncode}):\n{stderr[-3000:]}")
            if runs > 5:
                sys.exit("the sweep did not complete in 5 runs")
        killer.stop()
        wall = time.perf_counter() - t0

        rows = store.read_trials(SWEEP).to_pylist()
        ids = [r["trial_id"] for r in rows]
        completed = {r["trial_id"] for r in rows if r["status"] == "completed"}
        print(f"fault run: quickstart grid x {args.seeds} seeds, {args.epochs} epochs, {os.cpu_count()} cores")
        print(f"{'trials':>7}{'trainer kills':>15}{'driver kills':>14}{'runs':>6}{'completed':>11}"
              f"{'retries':>9}{'resumed':>9}{'duplicates':>12}{'lost':>6}{'wall s':>8}")
        print(f"{trials:>7}{len(killer.killed):>15}{int(driver_killed):>14}{runs:>6}{len(completed):>11}"
              f"{sum(r['attempts'] - 1 for r in rows):>9}{sum(r['resumed_epochs'] > 0 for r in rows):>9}"
              f"{len(ids) - len(set(ids)):>12}{trials - len(completed):>6}{wall:>8.1f}")
        print("\nretries: trial re-runs after a trainer died; resumed: trials that went on from a checkpoint")


if __name__ == "__main__":
    main()
