"""`orch run` step by step: a progress line before every step that may be slow, so the terminal
is never silent; --rerun reaching the trainer (orchestrator/driver/)."""

from __future__ import annotations

import io
import time

import pytest

from orchestrator.config import parse_experiment
from orchestrator.driver import run_experiment
from orchestrator.progress import LiveProgress, LogProgress, SweepProgress
from orchestrator.store import InMemoryResultsStore
from orchestrator.plan import expand_sweep
from tests.conftest import finished

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
