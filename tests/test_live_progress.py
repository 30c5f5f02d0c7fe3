"""The live terminal view with many trainers: bars for the first few running trials only, the
rest counted on the overall bar, and every finished trial still one line."""

from __future__ import annotations

import io
import re

import pytest

from orchestrator.progress import LiveProgress
from tests.conftest import finished, grid_specs

pytestmark = pytest.mark.unit


def _bars(progress: LiveProgress) -> list[str]:
    return [t.description.strip() for t in progress._progress.tasks]


def _overall_info(progress: LiveProgress) -> str:
    return progress._progress.tasks[0].fields["info"]


def test_running_trials_beyond_the_bar_limit_are_counted_not_drawn_and_all_are_reported_when_done():
    out = io.StringIO()
    progress = LiveProgress(out)
    progress.max_bars = 2
    specs = grid_specs(seeds=[0, 1, 2, 3, 4])
    progress.start("t", to_run=5, skipped=0, trainers=5)
    for spec in specs:
        progress.trial_started(spec, attempt=1)
    assert len(_bars(progress)) == 1 + 2  # the overall bar and two trials'
    assert re.search(r"\b3 more running\b", _overall_info(progress))
    progress.trial_finished(specs[4], finished(specs[4]), retrying=False)  # one without a bar
    assert len(_bars(progress)) == 3 and re.search(r"\b2 more running\b", _overall_info(progress))
    progress.trial_finished(specs[0], finished(specs[0]), retrying=False)  # one with a bar
    assert len(_bars(progress)) == 2 and re.search(r"\b2 more running\b", _overall_info(progress))
    for spec in specs[1:4]:
        progress.trial_finished(spec, finished(spec), retrying=False)
    assert len(_bars(progress)) == 1 and "more running" not in _overall_info(progress)
    assert progress._progress.tasks[0].completed == 5
    progress.close()
    text = out.getvalue()
    assert all(text.count(spec.trial_id) == 1 for spec in specs)  # one line per finished trial


def test_the_best_so_far_and_the_count_of_unbarred_trials_share_the_overall_bar():
    progress = LiveProgress(io.StringIO())
    progress.max_bars = 1
    specs = grid_specs(seeds=[0, 1])
    progress.start("t", to_run=2, skipped=3, trainers=2)
    for spec in specs:
        progress.trial_started(spec, attempt=1)
    progress.best_so_far("val_accuracy", 0.875, specs[0])
    info = _overall_info(progress)
    assert info == "3 already stored, 2 trainers, best val_accuracy 0.8750, 1 more running"
    progress.close()
