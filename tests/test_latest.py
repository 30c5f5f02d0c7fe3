"""Reads never hide a result: a trial's completed (or stopped) run is what every view shows,
even when a failed run of it ended later (another driver's crash, a --rerun that failed)."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.answers import Where, run_sql, select_trials
from orchestrator.store import ParquetResultsStore, latest_per_trial
from orchestrator.trial import TrialStatus
from tests.conftest import finished, grid_specs

pytestmark = pytest.mark.unit


@pytest.fixture
def store(tmp_path):
    """Trial a: completed, then a later failed run. Trial b: failed, then a later completed
    run. Trial c: stopped, then completed later (a --rerun): the latest final run."""
    store = ParquetResultsStore(str(tmp_path))
    a, b, c = grid_specs(grid={"training.learning_rate": [0.1, 0.01, 0.001]})
    store.append(a, finished(a, 0.91, ended_offset=0))
    store.append(a, finished(a, status=TrialStatus.FAILED, ended_offset=100))
    store.append(b, finished(b, status=TrialStatus.FAILED, ended_offset=0))
    store.append(b, finished(b, 0.92, ended_offset=100))
    store.append(c, finished(c, 0.5, status=TrialStatus.STOPPED, ended_offset=0))
    store.append(c, finished(c, 0.93, ended_offset=100))
    return store, {a.trial_id: "a", b.trial_id: "b", c.trial_id: "c"}


def test_a_finished_run_wins_over_a_later_failure(store):
    store, names = store
    shown = {names[r["trial_id"]]: (r["status"], r["test_accuracy"]) for r in latest_per_trial(store.read_trials()).to_pylist()}
    assert shown == {"a": ("completed", 0.91), "b": ("completed", 0.92), "c": ("completed", 0.93)}


def test_queries_and_sql_show_the_same_runs(store):
    pytest.importorskip("duckdb", reason="SQL needs the [sql] extra")
    store, names = store
    queried = {names[r["trial_id"]]: r["run_id"] for r in select_trials(store, Where()).to_pylist()}
    sql = {names[r["trial_id"]]: r["run_id"] for r in run_sql(store, "SELECT trial_id, run_id FROM latest_trials").to_pylist()}
    assert queried == sql
    assert {names[r["trial_id"]] for r in select_trials(store, Where.of(status="failed")).to_pylist()} == set()


def test_among_failed_runs_alone_the_latest_is_shown(tmp_path):
    store = ParquetResultsStore(str(tmp_path))
    (a,) = grid_specs(grid={})
    store.append(a, dataclasses.replace(finished(a, status=TrialStatus.FAILED, ended_offset=0), error="first"))
    store.append(a, dataclasses.replace(finished(a, status=TrialStatus.FAILED, ended_offset=100), error="second"))
    (row,) = latest_per_trial(store.read_trials()).to_pylist()
    assert row["error"] == "second"
