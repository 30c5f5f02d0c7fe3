from __future__ import annotations

import json
import statistics

import pytest

from orchestrator.cli import main
from orchestrator.answers import render, result_rows
from orchestrator.store import InMemoryResultsStore, ParquetResultsStore
from orchestrator.trial import TrialStatus
from tests.conftest import finished, grid_specs

pytestmark = pytest.mark.unit


@pytest.fixture
def filled(tmp_path):
    store = ParquetResultsStore(str(tmp_path))
    specs = grid_specs(grid={"training.optimizer": ["sgd", "adam"]}, seeds=[0, 1])
    accuracy = {("sgd", 0): 0.90, ("sgd", 1): 0.92, ("adam", 0): 0.97, ("adam", 1): 0.99}
    for spec in specs:
        store.append(spec, finished(spec, accuracy[spec.training.optimizer, spec.training.seed]))
    return store, specs


def test_rows_per_trial_show_varying_params_sorted_best_first(filled):
    store, _ = filled
    columns, rows = result_rows(store, "t")
    assert "optimizer" in columns and "seed" in columns
    assert "activation" not in columns  # the same in every row
    assert [r["test_accuracy"] for r in rows] == [0.99, 0.97, 0.92, 0.90]


def test_rows_per_config_average_over_seeds(filled):
    store, _ = filled
    columns, rows = result_rows(store, "t", per="config")
    assert "seed" not in columns
    best, worst = rows
    assert best["optimizer"] == "adam" and best["seeds"] == 2
    assert best["mean_test_accuracy"] == pytest.approx(0.98)
    assert best["std_test_accuracy"] == pytest.approx(statistics.stdev([0.97, 0.99]))
    assert worst["mean_test_accuracy"] == pytest.approx(0.91)


def test_latest_run_of_a_trial_wins():
    store = InMemoryResultsStore()
    (a,) = grid_specs()
    store.append(a, finished(a, status=TrialStatus.FAILED))
    store.append(a, finished(a, 0.95, ended_offset=60))
    _, rows = result_rows(store, "t")
    assert len(rows) == 1 and rows[0]["status"] == "completed"


def test_formats():
    columns = ["name", "acc"]
    rows = [{"name": "a", "acc": 0.5}, {"name": "b", "acc": None}]
    assert json.loads(render(columns, rows, "json")) == rows
    assert render(columns, rows, "csv").splitlines() == ["name,acc", "a,0.5", "b,"]
    md = render(columns, rows, "markdown").splitlines()
    assert md[0] == "| name | acc |" and md[2] == "| a | 0.5000 |"
    table = render(columns, rows, "table").splitlines()
    assert table[0].split() == ["name", "acc"] and table[2].split() == ["a", "0.5000"]


def test_cli_results_json(filled, capsys):
    store, specs = filled
    assert main(["results", "t", "--store", store.uri, "--format", "json", "--per", "config"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["optimizer"] for r in rows] == ["adam", "sgd"]


def test_cli_results_unknown_sweep_and_column_exit_2(filled, capsys):
    store, _ = filled
    assert main(["results", "nope", "--store", store.uri]) == 2
    assert "no sweep 'nope'" in capsys.readouterr().err
    assert main(["results", "t", "--store", store.uri, "--sort", "bogus"]) == 2
    assert "--sort 'bogus'" in capsys.readouterr().err


def test_cli_run_bad_config_exits_2_before_anything_runs(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("training:\n  optimiser: adam\n")
    assert main(["run", str(path), "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'optimizer'" in err
    assert not (tmp_path / "s").exists()


def test_cli_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["results", "--format", "xml"])
    assert info.value.code == 2
    assert "Try 'orch results --help'" in capsys.readouterr().err


def test_results_into_a_closed_pipe_exit_quietly(filled, monkeypatch):
    """`orch results | head`: the reader goes away mid-output; that is not an error."""
    import os

    import sys

    import orchestrator.cli._common as cli_output

    store, _ = filled
    read_end, write_end = os.pipe()
    os.close(read_end)
    closed = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stdout", closed)
    monkeypatch.setattr(cli_output, "write_output", lambda *a: "x" * 1_000_000)  # more than any pipe buffer
    assert main(["results", "t", "--store", store.uri]) == 0
