"""`orch results/plot/sql/compact` in-process, against numbers worked out by hand on the
small store of tests/test_query.py (sweep "a": optimizer x activation x 3 seeds, 2 epochs;
sweep "b": relu only, plus rmsprop, 4 epochs)."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import statistics
import sys
import warnings
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from orchestrator.cli import main
from orchestrator.answers import Where, select_trials, SQL_EXTRA_HINT
from orchestrator.store import ParquetResultsStore
from tests.test_query import ACC_A, ACC_B, _fill

pytestmark = pytest.mark.unit


@pytest.fixture
def store(tmp_path):
    return _fill(ParquetResultsStore(str(tmp_path / "store")))


def _run(capsys, store, *argv):
    """``orch ARGV --store STORE``: exit code, stdout, stderr."""
    command, *rest = argv
    code = main([command, *rest, "--store", store.uri])
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys, store, *argv):
    code, out, err = _run(capsys, store, *argv, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_group_by_gives_hand_computed_statistics_over_every_other_param(store, capsys):
    rows = {r["optimizer"]: r for r in _json(capsys, store, "results", "a", "--group-by", "optimizer")}
    adam = ACC_A[("adam", "relu")] + ACC_A[("adam", "sigmoid")]
    assert rows["adam"]["trials"] == 6
    assert rows["adam"]["mean_test_accuracy"] == pytest.approx(statistics.fmean(adam))
    assert rows["adam"]["std_test_accuracy"] == pytest.approx(statistics.stdev(adam))
    assert (rows["adam"]["min_test_accuracy"], rows["adam"]["max_test_accuracy"]) == (0.95, 0.99)
    sgd = ACC_A[("sgd", "relu")] + ACC_A[("sgd", "sigmoid")][:2]  # completed only: seed 2 of sigmoid stopped
    assert rows["sgd"]["count_test_accuracy"] == 5
    assert rows["sgd"]["mean_test_accuracy"] == pytest.approx(statistics.fmean(sgd))
    # Chosen metrics and stats, two keys, the best group only.
    (top,) = _json(capsys, store, "results", "--group-by", "sweep,optimizer", "--metric", "test_accuracy",
                   "--metric", "total_seconds", "--stats", "mean,count", "--best", "1")
    assert set(top) == {"sweep", "optimizer", "trials", "mean_test_accuracy", "count_test_accuracy",
                        "mean_total_seconds", "count_total_seconds"}
    assert (top["sweep"], top["optimizer"]) == ("b", "adam") and top["mean_test_accuracy"] == pytest.approx(0.98)


def test_per_config_is_over_seeds_and_takes_metrics_and_stats(store, capsys):
    rows = _json(capsys, store, "results", "a", "--per", "config", "--stats", "mean,min")
    assert [(r["optimizer"], r["activation"]) for r in rows][:2] == [("adam", "relu"), ("adam", "sigmoid")]
    assert list(rows[1]) == ["sweep", "activation", "optimizer", "seeds", "mean_test_accuracy", "min_test_accuracy"]
    assert rows[1]["seeds"] == 3 and rows[1]["mean_test_accuracy"] == pytest.approx(statistics.fmean(ACC_A[("adam", "sigmoid")]))
    assert rows[1]["min_test_accuracy"] == 0.95
    # With a status condition, that status is what gets averaged.
    (stopped,) = _json(capsys, store, "results", "a", "--per", "config", "--where", "status=stopped")
    assert stopped["seeds"] == 1 and stopped["mean_test_accuracy"] == pytest.approx(0.12)


def test_where_best_and_all_runs(store, capsys):
    rows = _json(capsys, store, "results", "--where", "optimizer=adam,rmsprop", "--where", "activation!=sigmoid",
                 "--where", "test_accuracy>=0.97", "--best", "3")
    assert [r["test_accuracy"] for r in rows] == [0.99, 0.98, 0.98]
    assert all(r["optimizer"] in ("adam", "rmsprop") for r in rows)
    latest = _json(capsys, store, "results", "a", "--where", "optimizer=adam", "--where", "activation=relu")
    every = _json(capsys, store, "results", "a", "--where", "optimizer=adam", "--where", "activation=relu", "--all-runs")
    assert len(latest) == 3 and "run_id" not in latest[0]
    assert len(every) == 4 and len({r["run_id"] for r in every}) == 4
    assert [r["status"] for r in every].count("failed") == 1
    # --metric adds a column and ranks by it: the lowest loss first.
    ranked = _json(capsys, store, "results", "b", "--metric", "test_loss", "--sort", "epochs_run", "--best", "2")
    assert list(ranked[0])[:5] == ["trial_id", "optimizer", "seed", "status", "test_loss"] and len(ranked) == 2


def test_pivot_contents(store, capsys):
    code, out, _ = _run(capsys, store, "results", "a", "--pivot", "optimizer:activation", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["optimizer", "activation=relu", "activation=sigmoid"]
    cells = {r["optimizer"]: (float(r["activation=relu"]), float(r["activation=sigmoid"])) for r in rows}
    assert cells["adam"] == pytest.approx((0.98, statistics.fmean(ACC_A[("adam", "sigmoid")])))
    assert cells["sgd"] == pytest.approx((0.92, 0.11))
    counts = _json(capsys, store, "results", "--pivot", "sweep,optimizer:activation", "--stat", "count")
    by_row = {(r["sweep"], r["optimizer"]): r for r in counts}
    assert by_row[("b", "rmsprop")] == {"sweep": "b", "optimizer": "rmsprop", "activation=relu": 3, "activation=sigmoid": None}
    assert by_row[("a", "sgd")]["activation=sigmoid"] == 2


def test_compare_prints_deltas_and_what_differs(store, capsys):
    code, out, err = _run(capsys, store, "results", "--compare", "a", "b", "--format", "json")
    assert code == 0
    assert err.strip() == "b against a: the sweeps differ in epochs 2 -> 4; configs matched on every param except seed, epochs"
    rows = json.loads(out)
    assert [(r["optimizer"], r["activation"]) for r in rows[:2]] == [("sgd", "relu"), ("adam", "relu")]
    assert rows[0]["delta"] == pytest.approx(statistics.fmean(ACC_B[("sgd", "relu")]) - statistics.fmean(ACC_A[("sgd", "relu")]))
    assert rows[1]["delta"] == pytest.approx(0.0) and rows[1]["trials_a"] == rows[1]["trials_b"] == 3
    assert {(r["optimizer"], r["activation"]) for r in rows if r["delta"] is None} == {
        ("sgd", "sigmoid"), ("adam", "sigmoid"), ("rmsprop", "relu")}
    (best,) = _json(capsys, store, "results", "--compare", "a", "b", "--best", "1")
    assert best["optimizer"] == "sgd" and best["delta"] == pytest.approx(0.03)
    # Told to ignore nothing, the epochs differ and no config matches.
    code, out, err = _run(capsys, store, "results", "--compare", "a", "b", "--ignore", "none", "--format", "json")
    assert code == 0 and all(r["delta"] is None for r in json.loads(out))
    assert err.strip().endswith("configs matched on every param except seed")


def test_curves_and_timing(store, capsys):
    ids = sorted(select_trials(store, Where.of(sweep="a", params={"optimizer": "adam", "activation": "relu"}))["trial_id"].to_pylist())
    rows = _json(capsys, store, "results", "a", "--curves", ids[0][:8], "--metric", "val_accuracy")
    assert [r["epoch"] for r in rows] == [1, 2] and {r["trial_id"] for r in rows} == {ids[0]}
    assert list(rows[0]) == ["sweep", "trial_id", "run_id", "epoch", "val_accuracy"]
    seed = select_trials(store, Where.of(sweep="a")).filter(pc.field("trial_id") == ids[0])["seed"][0].as_py()
    assert [r["val_accuracy"] for r in rows] == pytest.approx([0.6 + seed / 100, 0.7 + seed / 100])
    timing = {r["sweep"]: r for r in _json(capsys, store, "results", "--timing", "--group-by", "sweep")}
    assert timing["b"]["mean_epoch_seconds"] == pytest.approx(4.0 / 4)
    assert timing["a"]["mean_overhead_seconds"] == pytest.approx(5.0 - 4.0 - 0.5)
    fastest = _json(capsys, store, "results", "a", "--timing", "--best", "3")
    assert [r["epoch_seconds"] for r in fastest] == [1.5, 1.5, 1.5] and {r["optimizer"] for r in fastest} == {"adam"}


def test_outputs_to_files(store, capsys, tmp_path):
    path = tmp_path / "groups.parquet"  # the suffix says parquet
    code, out, err = _run(capsys, store, "results", "a", "--group-by", "optimizer,activation", "-o", str(path))
    assert code == 0 and out == "" and err.strip() == f"wrote 4 rows (parquet) to {path}"
    written = {(r["optimizer"], r["activation"]): r for r in pq.read_table(path).to_pylist()}
    assert set(written) == set(ACC_A)
    for key, accuracies in ACC_A.items():
        done = accuracies[:2] if key == ("sgd", "sigmoid") else accuracies  # completed only: seed 2 stopped
        assert written[key]["count_test_accuracy"] == len(done)
        assert written[key]["mean_test_accuracy"] == pytest.approx(statistics.fmean(done))
        assert written[key]["std_test_accuracy"] == pytest.approx(statistics.stdev(done))
        assert (written[key]["min_test_accuracy"], written[key]["max_test_accuracy"]) == (min(done), max(done))
    csv_path = tmp_path / "trials.txt"
    assert _run(capsys, store, "results", "b", "--format", "csv", "-o", str(csv_path))[0] == 0
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("trial_id,optimizer,seed,status,test_accuracy") and len(lines) == 1 + 9


def test_plot_metric_curves_and_time_write_pngs(store, capsys, tmp_path):
    image = pytest.importorskip("PIL.Image", reason="Pillow comes with matplotlib")
    import numpy as np

    for kind, options in (("metric", ["--x", "activation", "--line", "optimizer"]),
                          ("curves", ["--where", "activation=relu", "--metric", "loss"]),
                          ("time", ["--seconds", "epoch_seconds", "--line", "optimizer"])):
        path = tmp_path / "plots" / f"{kind}.png"
        code, out, err = _run(capsys, store, "plot", kind, "a", *options, "-o", str(path))
        assert code == 0, err
        assert out.strip() == str(path)
        picture = image.open(path)
        assert picture.format == "PNG" and picture.size == (800, 500)
        assert np.asarray(picture.convert("L")).std() > 20  # not blank


needs_duckdb = pytest.mark.skipif(
    importlib.util.find_spec("duckdb") is None, reason=f"DuckDB is not installed ({SQL_EXTRA_HINT})"
)


@needs_duckdb
def test_sql_counts_and_groups(store, capsys):
    assert _json(capsys, store, "sql", "SELECT count(*) AS n FROM latest_trials", "--sweep", "b") == [{"n": 9}]
    assert _json(capsys, store, "sql", "SELECT count(*) AS n FROM trials") == [{"n": 12 + 9 + 1}]
    rows = _json(capsys, store, "sql", "SELECT optimizer, avg(test_accuracy) AS acc FROM latest_trials "
                 "WHERE sweep = 'b' GROUP BY ALL ORDER BY acc DESC")
    assert rows[0]["optimizer"] == "adam" and rows[0]["acc"] == pytest.approx(0.98)


def test_sql_without_duckdb_is_one_line_naming_the_extra(store, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "duckdb", None)  # as if not installed
    code, out, err = _run(capsys, store, "sql", "SELECT 1")
    assert code == 2 and out == ""
    assert err == f"orch sql: error: SQL queries need DuckDB, an optional extra: {SQL_EXTRA_HINT}\n"


def test_compact_leaves_every_answer_unchanged(store, capsys):
    questions = [
        ("results", "--format", "json"),
        ("results", "--all-runs", "--sort", "run_id", "--format", "json"),
        ("results", "--per", "config", "--format", "json"),
        ("results", "--group-by", "optimizer", "--format", "json"),
        ("results", "--pivot", "optimizer:activation", "--format", "json"),
        ("results", "--compare", "a", "b", "--format", "json"),
        ("results", "--curves", "--where", "optimizer=sgd", "--format", "json"),
    ]
    before = [_run(capsys, store, *q) for q in questions]
    trials_dir = store._dir("trials", "a")
    files_before = len(list(Path(trials_dir).glob("*.parquet")))
    code, out, err = _run(capsys, store, "compact", "a")
    assert code == 0 and err.startswith("compacted a: 26 files -> 2 files")  # 13 trial and 13 epoch files
    assert files_before == 13 and len(list(Path(trials_dir).glob("*.parquet"))) == 1
    assert _run(capsys, store, "compact")[0] == 0  # and the rest
    assert [_run(capsys, store, *q) for q in questions] == before


def test_damaged_file_is_one_warning_line_and_the_query_goes_on(store, capsys):
    victim = sorted(Path(store._dir("trials", "b")).glob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:50])
    hook = warnings.showwarning
    code, out, err = _run(capsys, store, "results", "b", "--format", "json")
    assert code == 0 and len(json.loads(out)) == 9 - 1
    (line,) = err.splitlines()
    assert line.startswith(f"orch results: warning: store {store.uri!r}: skipping damaged file ") and victim.name in line
    code, out, err = _run(capsys, store, "results", "--compare", "a", "b", "--format", "json")
    assert code == 0 and sum(r["trials_b"] for r in json.loads(out)) == 9 - 1
    assert err.count("warning:") == 1  # once, though --compare reads sweep b twice
    assert warnings.showwarning is hook  # put back


@pytest.mark.parametrize("argv, message", [
    (["results", "--pivot", "optimizer"], "--pivot 'optimizer': expected ROWS:COLUMN, e.g. optimizer:activation"),
    (["results", "--pivot", "optimizer:activation", "--compare", "a", "b"],
     "--pivot and --compare are different views of the results; give one of them"),
    (["results", "--group-by", "optimizer", "--curves"], "--group-by and --curves are different views"),
    (["results", "a", "--stats", "mean"], "--stats does not apply to --per trial (the default); it goes with --per config"),
    (["results", "a", "--compare", "a", "b"], "SWEEP does not apply to --compare; name the two sweeps after --compare only"),
    (["results", "--ignore", "epochs"], "--ignore does not apply to --per trial (the default); it goes with --compare"),
    (["results", "--pivot", "optimizer:activation", "--metric", "test_accuracy", "--metric", "val_accuracy"],
     "--pivot takes one --metric; got 2"),
    (["results", "--group-by", "optimiser"], "no column 'optimiser' in the results table; did you mean 'optimizer'?"),
    (["results", "--group-by", "optimizer", "--metric", "host"], "host holds string values, not numbers"),
    (["results", "--where", "optimiser=adam"], "did you mean 'optimizer'?"),
    (["results", "--where", "batch_size=big"], "batch_size: 'big' is not a int64 value"),
    (["results", "--format", "parquet"], "--format parquet writes a file: add -o PATH"),
    (["results", "--compare", "a", "c"], "no sweep 'c' in store"),
    (["results", "--compare", "a", "b", "--ignore", "epoch"], "did you mean 'epochs'?"),
    (["results", "--best", "0"], "--best 0: expected how many rows to keep, 1 or more"),
    (["results", "--pivot", "optimizer:activation", "--best", "2"], "say which column with --sort COL"),
    (["results", "--group-by", "optimizer", "--sort", "bogus"], "--sort 'bogus': not a column here; choose one of optimizer,"),
    (["results", "--curves", "ffff"], "trial id 'ffff' matches no trial; give more of the id"),
    (["plot", "metric", "--x", "optimizer", "-o", "acc.jpg"], "plots are PNG files; give a path ending in .png"),
    (["plot", "metric", "--x", "optimiser", "-o", "acc.png"], "did you mean 'optimizer'?"),
    (["plot", "curves", "--metric", "val_acc", "-o", "c.png"], "no column 'val_acc' in the epochs table"),
    (["sql", "SELECT 1", "--sweep", "c"], "no sweep 'c' in store"),
    (["compact", "c"], "no sweep 'c' in store"),
    (["report", "c", "-o", "r.html"], "no sweep 'c' in store"),
    (["report", "a", "-o", "r.pdf"], "a report is an HTML file; give a path ending in .html"),
    (["report", "a", "--metric", "nope", "-o", "r.html"], "no column 'nope' in the trials"),
])
def test_bad_input_is_one_line_and_exit_2(store, capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)  # a plot that wrongly went ahead would land here
    code, out, err = _run(capsys, store, *argv)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(f"orch {argv[0]}: error: ")
    assert message in err
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.jpg"))


@needs_duckdb
def test_bad_sql_is_one_line_and_exit_2(store, capsys):
    code, out, err = _run(capsys, store, "sql", "SELECT nope FROM trials")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert "nope" in err and "(tables: trials, latest_trials, epochs)" in err
