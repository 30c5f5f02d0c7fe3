"""SQL over the store with DuckDB (the optional [sql] extra; CI installs it)."""

from __future__ import annotations

import importlib.util
import statistics
import sys

import pytest

from orchestrator.answers import SQL_EXTRA_HINT, SqlError, run_sql
from orchestrator.store import ParquetResultsStore
from tests.test_query import ACC_A, _fill

pytestmark = pytest.mark.unit


@pytest.fixture
def store(tmp_path):
    return _fill(ParquetResultsStore(str(tmp_path / "store")))


def test_missing_duckdb_is_one_line_naming_the_extra(store, monkeypatch):
    monkeypatch.setitem(sys.modules, "duckdb", None)  # as if not installed
    with pytest.raises(SqlError) as info:
        run_sql(store, "SELECT 1")
    assert str(info.value) == f"SQL queries need DuckDB, an optional extra: {SQL_EXTRA_HINT}"
    assert SQL_EXTRA_HINT == 'pip install "tf-orchestrator[sql]"'


def test_the_extra_name_is_the_projects():
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+")
    from tests.conftest import REPO

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert f'"{project["name"]}[sql]"' in SQL_EXTRA_HINT
    assert any(d.startswith("duckdb") for d in project["optional-dependencies"]["sql"])


needs_duckdb = pytest.mark.skipif(
    importlib.util.find_spec("duckdb") is None, reason=f"DuckDB is not installed ({SQL_EXTRA_HINT})"
)


@needs_duckdb
def test_select_over_trials_and_latest_trials(store):
    table = run_sql(store, """
        SELECT optimizer, activation, count(*) AS n, avg(test_accuracy) AS mean, stddev_samp(test_accuracy) AS std
        FROM latest_trials WHERE sweep = 'a' AND status = 'completed' GROUP BY ALL ORDER BY ALL""")
    rows = {(r["optimizer"], r["activation"]): r for r in table.to_pylist()}
    assert rows[("adam", "sigmoid")]["n"] == 3
    assert rows[("adam", "sigmoid")]["mean"] == pytest.approx(statistics.fmean(ACC_A[("adam", "sigmoid")]))
    assert rows[("adam", "sigmoid")]["std"] == pytest.approx(statistics.stdev(ACC_A[("adam", "sigmoid")]))
    assert rows[("sgd", "sigmoid")]["n"] == 2  # the stopped run is not completed
    every_run = run_sql(store, "SELECT count(*) AS n FROM trials").to_pylist()
    assert every_run == [{"n": 12 + 9 + 1}]  # the failed earlier run is in trials, not in latest_trials
    assert run_sql(store, "SELECT count(*) AS n FROM latest_trials", sweep="b").to_pylist() == [{"n": 9}]


@needs_duckdb
def test_epochs_join_trials(store):
    table = run_sql(store, """
        SELECT t.optimizer, e.epoch, avg(e.val_accuracy) AS v FROM epochs e JOIN latest_trials t USING (run_id)
        WHERE t.sweep = 'a' AND t.activation = 'relu' GROUP BY ALL ORDER BY ALL""")
    assert table.to_pylist()[0] == {"optimizer": "adam", "epoch": 1, "v": pytest.approx(0.6 + 0.01)}
    assert table.num_rows == 4


@needs_duckdb
def test_bad_sql_is_one_clear_error_and_nothing_writes(store, tmp_path):
    with pytest.raises(SqlError, match="tables: trials, latest_trials, epochs"):
        run_sql(store, "SELECT nope FROM trials")
    with pytest.raises(SqlError, match="disabled"):
        run_sql(store, f"COPY trials TO '{tmp_path / 'out.csv'}'")
    assert not (tmp_path / "out.csv").exists()
