"""`orch results --pareto` and `orch plot search` in-process, on a small store of two
"searches" over learning rates whose accuracies and times are set by hand."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from orchestrator.cli import main
from orchestrator.answers import best_so_far, plot_search, QueryError
from orchestrator.store import ParquetResultsStore
from orchestrator.trial import TrialStatus
from tests.conftest import finished, grid_specs
from tests.test_plots import BLUE, ORANGE, _assert_drawn, _count, _pixels

pytestmark = pytest.mark.unit

LRS = [0.1, 0.03, 0.01, 0.003, 0.001]
# sweep "tpe": (test accuracy, total seconds, status) per learning rate, in the order they ran
TPE = [(0.90, 10.0, "completed"), (0.95, 30.0, "completed"), (0.20, 2.0, "stopped"), (0.97, 40.0, "completed"),
       (0.96, 20.0, "completed")]
RANDOM = [(0.93, 10.0, "completed"), (0.91, 12.0, "completed"), (0.94, 50.0, "completed"), (0.50, 9.0, "failed"),
          (0.92, 5.0, "completed")]


def _fill(store, name, outcomes):
    specs = [s for s in grid_specs(grid={"training.learning_rate": LRS})]
    for i, (spec, (acc, seconds, status)) in enumerate(zip(specs, outcomes)):
        spec = type(spec)(**{**spec.__dict__, "sweep": name})
        result = finished(spec, acc, status=TrialStatus(status), ended_offset=100 * i)
        result.total_seconds = seconds
        result.epochs[-1].val_accuracy = acc - 0.01
        store.append(spec, result)


@pytest.fixture
def store(tmp_path):
    store = ParquetResultsStore(str(tmp_path / "store"))
    _fill(store, "tpe", TPE)
    _fill(store, "random", RANDOM)
    return store


def _run(capsys, store, *argv):
    command, *rest = argv
    code = main([command, *rest, "--store", store.uri])
    out, err = capsys.readouterr()
    return code, out, err


def test_pareto_lists_the_trade_offs_best_first(store, capsys):
    code, out, err = _run(capsys, store, "results", "tpe", "--pareto", "test_accuracy:max,total_seconds:min",
                          "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    # 0.97 in 40 s, 0.96 in 20 s, 0.90 in 10 s; 0.95 in 30 s is beaten by 0.96 in 20 s; the stopped one is not a result.
    assert [(r["test_accuracy"], r["total_seconds"]) for r in rows] == [(0.97, 40.0), (0.96, 20.0), (0.90, 10.0)]
    assert {"trial_id", "learning_rate", "status"} <= set(rows[0])
    code, out, _ = _run(capsys, store, "results", "--pareto", "total_seconds,test_accuracy", "--best", "2",
                        "--format", "json")
    both = json.loads(out)  # every sweep; directions from the names; the 2 fastest of the front
    assert [(r["sweep"], r["total_seconds"]) for r in both] == [("random", 5.0), ("random", 10.0)]
    code, out, _ = _run(capsys, store, "results", "--pareto", "test_accuracy,total_seconds", "--format", "json")
    # tpe's 0.90 in 10 s loses to random's 0.93 in 10 s; random's 0.94 in 50 s to tpe's 0.96 in 20 s
    assert [(r["sweep"], r["test_accuracy"]) for r in json.loads(out)] == [
        ("tpe", 0.97), ("tpe", 0.96), ("random", 0.93), ("random", 0.92)]
    code, out, _ = _run(capsys, store, "results", "random", "--pareto", "test_accuracy:max,total_seconds:min",
                        "--all-params", "--format", "json")
    assert [r["test_accuracy"] for r in json.loads(out)] == [0.94, 0.93, 0.92] and "optimizer" in json.loads(out)[0]


@pytest.mark.parametrize("argv, message", [
    (["results", "tpe", "--pareto", "test_accuracy:max"], "a trade-off needs two or more objectives"),
    (["results", "tpe", "--pareto", "test_accuracy:up,total_seconds:min"], "is not COLUMN:max or COLUMN:min"),
    (["results", "tpe", "--pareto", "test_accuracy:max,total_second:min"], "did you mean 'total_seconds'?"),
    (["results", "tpe", "--pareto", "test_accuracy:max,host:min"], "host holds string values, not numbers"),
    (["results", "tpe", "--pareto", "test_accuracy,total_seconds", "--metric", "val_loss"],
     "--metric does not apply to --pareto; it goes with"),
    (["results", "--pareto", "test_accuracy,total_seconds", "--timing"], "are different views of the results"),
    (["plot", "search", "nope", "-o", "s.png"], "no sweep 'nope' in store"),
    (["plot", "search", "-o", "s.jpg"], "plots are PNG files"),
    (["plot", "search", "tpe", "--metric", "val_acc", "-o", "s.png"], "no column 'val_acc' in the trials table"),
    (["plot", "search", "tpe", "--where", "learning_rate>1", "-o", "s.png"], "nothing to plot"),
])
def test_bad_input_is_one_line_and_exit_2(store, capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, store, *argv)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(f"orch {argv[0]}: error: ") and message in err
    assert not list(tmp_path.glob("*.png"))


def test_best_so_far_counts_trials_in_start_order(store):
    from orchestrator.answers import Where, select_trials

    trials = select_trials(store, Where.of(status=["completed", "stopped", "failed"]))
    table = best_so_far(trials, "test_accuracy")
    tpe = [r for r in table.to_pylist() if r["sweep"] == "tpe"]
    assert [r["trial"] for r in tpe] == [1, 2, 3, 4, 5]
    assert [r["best"] for r in tpe] == [0.90, 0.95, 0.95, 0.97, 0.97]  # the stopped 0.20 is tried, not a result
    random = [r for r in table.to_pylist() if r["sweep"] == "random"]
    assert [r["best"] for r in random] == [0.93, 0.93, 0.94, 0.94, 0.94]  # the failed 0.50 changes nothing
    seconds = best_so_far(trials, "total_seconds")  # a time: smaller is better
    assert [r["best"] for r in seconds.to_pylist() if r["sweep"] == "tpe"] == [10.0, 10.0, 10.0, 10.0, 10.0]
    assert best_so_far(trials, "test_accuracy", goal="min").to_pylist()[5]["best"] == 0.90
    empty = best_so_far(trials.slice(0, 0), "test_accuracy")
    assert empty.num_rows == 0 and empty.column_names == ["sweep", "trial", "trial_id", "status", "value", "best"]


def test_plot_search_draws_one_line_per_sweep(store, capsys, tmp_path):
    pytest.importorskip("PIL.Image", reason="Pillow comes with matplotlib")
    path = tmp_path / "plots" / "best.png"
    code, out, err = _run(capsys, store, "plot", "search", "tpe", "random", "--metric", "test_accuracy", "-o", str(path))
    assert code == 0, err
    assert out.strip() == str(path)
    pixels = _pixels(path)
    _assert_drawn(pixels)
    assert _count(pixels, BLUE) > 200 and _count(pixels, ORANGE) > 200  # two sweeps, two lines
    code, _, err = _run(capsys, store, "plot", "search", "tpe", "-o", str(tmp_path / "one.png"))
    assert code == 0, err
    one = _pixels(tmp_path / "one.png")
    assert _count(one, BLUE) > 200 and _count(one, ORANGE) == 0


def test_plot_search_needs_a_completed_value(tmp_path):
    table = pa.table({"sweep": ["s"], "trial_id": ["t"], "status": ["stopped"],
                      "started_at": pa.array([0], pa.timestamp("us", tz="UTC")), "val_accuracy": [0.5]})
    with pytest.raises(QueryError, match="no completed trial has a val_accuracy"):
        plot_search(table, str(tmp_path / "x.png"))
    assert not (tmp_path / "x.png").exists()
