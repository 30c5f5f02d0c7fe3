"""`orch run` step by step: a progress line before every step that may be slow, so the terminal
is never silent; with --verbose, one line per start-up phase with its seconds; --rerun reaching
the trainer (orchestrator/driver/)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.config import parse_experiment
from orchestrator.driver import run_experiment
from orchestrator.progress import LiveProgress, LogProgress, SweepProgress
from orchestrator.store import InMemoryResultsStore
from orchestrator.plan import expand_sweep
from tests.conftest import REPO, finished

pytestmark = pytest.mark.unit


class Recorder(SweepProgress):
    note_after_seconds = 0  # every step noted, however quick

    def __init__(self) -> None:
        self.events: list[str] = []

    def note(self, text: str) -> None:
        self.events.append(f"note {text}")

    def start(self, sweep, to_run, skipped, trainers) -> None:
        self.events.append(f"start {to_run}")


def test_the_first_line_comes_before_planning():
    experiment = parse_experiment({"name": "done", "sweep": {"seeds": [0, 1]}})
    store = InMemoryResultsStore()
    for spec in expand_sweep(experiment):
        store.append(spec, finished(spec))
    recorder = Recorder()
    run_experiment(experiment, store, progress=recorder)
    assert recorder.events == ["note planning sweep done...", "start 0"]


def test_a_step_is_announced_only_once_it_lasts():
    out = io.StringIO()
    progress = LogProgress(out)
    progress.note_after_seconds = 0.05
    with progress.step("quick..."):
        pass
    with progress.step("slow..."):
        time.sleep(0.5)
    time.sleep(0.1)  # a cancelled timer must not fire late
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith("slow...")


@pytest.mark.parametrize("kind", [LogProgress, LiveProgress])
def test_notes_are_shown_at_once_as_one_line(kind):
    out = io.StringIO()
    progress = kind(out)
    progress.note("starting Ray...")
    assert out.getvalue().strip().endswith("starting Ray...") and out.getvalue().count("\n") == 1


def test_rerun_reaches_the_trainer_as_a_fresh_start():
    from orchestrator.driver import specs_for_run

    specs = expand_sweep(parse_experiment({"name": "r", "sweep": {"seeds": [0, 1]}}))
    assert all(s.fresh_start and s.artifacts_root == "/s" for s in specs_for_run(specs, "/s", rerun=True))
    plain = specs_for_run(specs, "/s", rerun=False)
    assert not any(s.fresh_start for s in plain)
    assert [s.trial_id for s in plain] == [s.trial_id for s in specs]  # not part of identity


class _Clock:
    """A clock the test moves by hand: phase lengths are then exact, not measured."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_start_up_phase_is_one_line_with_its_seconds_as_it_ends():
    from orchestrator.progress import StartupPhases

    clock, shown = _Clock(), []
    phases = StartupPhases(shown.append, origin=99.0, clock=clock)  # counting from 1 s ago
    with phases.phase("starting Ray"):
        clock.now += 2.5
    phases.record("loading the data", 0.25, alongside="2 trainers starting")
    with pytest.raises(ValueError), phases.phase("checking user models"):
        clock.now += 0.5
        raise ValueError("a builder that cannot build")  # the phase is still reported
    clock.now += 0.25
    phases.finish()
    phases.finish()  # later launches say nothing more
    assert shown == [
        "start-up: starting Ray 2.50s",
        "start-up: loading the data 0.25s (alongside 2 trainers starting)",
        "start-up: checking user models 0.50s",
        # 1 s before the first phase + 2.5 + 0.5 + 0.25 (the recorded 0.25 s overlapped, no clock time)
        "start-up: 4.25s in all, to the first trial launch",
    ]
    assert [p.name for p in phases.phases] == ["starting Ray", "loading the data", "checking user models"]


def test_start_up_phases_are_kept_quiet_without_verbose():
    from orchestrator.progress import StartupPhases

    phases = StartupPhases()  # what the driver makes when not verbose: nothing shown
    with phases.phase("planning"):
        pass
    phases.finish()
    assert [p.name for p in phases.phases] == ["planning"]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_the_cli_counts_its_start_up_from_the_process_start():
    # A real process that waits 0.6 s before asking: its age includes the interpreter's start
    # and the wait; the kernel counts in 10-ms ticks.
    code = ("import time; time.sleep(0.6); from orchestrator.progress import StartupPhases; "
            "p = StartupPhases.from_process_start(); print(p.phases[0].name, '|', p.phases[0].seconds)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    name, seconds = out.stdout.split("|")
    assert name.strip() == "python and orch imports"
    assert 0.59 <= float(seconds) < 30.0


def test_verbose_shows_the_planning_phase_of_a_sweep_with_nothing_to_run():
    experiment = parse_experiment({"name": "done", "sweep": {"seeds": [0, 1]}})
    store = InMemoryResultsStore()
    for spec in expand_sweep(experiment):
        store.append(spec, finished(spec))
    out = io.StringIO()
    run_experiment(experiment, store, progress=LogProgress(out), verbose=True)
    assert re.search(r"^\[orch +\d+\.\ds\] start-up: planning \d+\.\d\ds$", out.getvalue(), re.MULTILINE), out.getvalue()
    quiet = io.StringIO()
    run_experiment(experiment, store, progress=LogProgress(quiet))
    assert "start-up:" not in quiet.getvalue()
