"""The query API against numbers worked out by hand on a small store."""

from __future__ import annotations

import json
import math
import statistics
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestrator.config import parse_experiment
from orchestrator.answers import (
    QueryError,
    Where,
    aggregate,
    best,
    compare_sweeps,
    curve_stats,
    learning_curves,
    parse_where,
    pivot,
    select_trials,
    sweep_differences,
    timing,
    varying_params,
)
from orchestrator.answers import render_table, write_output
from orchestrator.store import ParquetResultsStore
from orchestrator.plan import expand_sweep
from orchestrator.trial import TrialStatus
from tests.conftest import finished

pytestmark = pytest.mark.unit

# Sweep "a": optimizer x activation x seeds 0-2, test accuracy per seed.
ACC_A = {
    ("sgd", "relu"): [0.90, 0.92, 0.94],
    ("sgd", "sigmoid"): [0.11, 0.11, 0.12],  # seed 2 was stopped early
    ("adam", "relu"): [0.97, 0.98, 0.99],
    ("adam", "sigmoid"): [0.95, 0.96, 0.98],
}
# Sweep "b": 4 epochs instead of 2, relu only, plus rmsprop.
ACC_B = {("sgd", "relu"): [0.93, 0.95, 0.97], ("adam", "relu"): [0.98, 0.98, 0.98], ("rmsprop", "relu"): [0.96, 0.97, 0.98]}


def _specs(name, epochs, optimizers, activations):
    return expand_sweep(parse_experiment({
        "name": name, "training": {"epochs": epochs},
        "sweep": {"grid": {"training.optimizer": optimizers, "model.activation": activations}, "seeds": [0, 1, 2]},
    }))


def _fill(store):
    for i, spec in enumerate(_specs("a", 2, ["sgd", "adam"], ["relu", "sigmoid"])):
        key, seed = (spec.training.optimizer, spec.model.activation), spec.training.seed
        if key == ("adam", "relu") and seed == 0:  # an earlier failed run: the latest run counts
            store.append(spec, finished(spec, 0.0, status=TrialStatus.FAILED, ended_offset=-100))
        status = TrialStatus.STOPPED if key == ("sgd", "sigmoid") and seed == 2 else TrialStatus.COMPLETED
        result = finished(spec, ACC_A[key][seed], epochs=2, status=status, ended_offset=i)
        for record in result.epochs:  # curves differ by seed: val_accuracy = 0.5 + epoch/10 + seed/100
            record.val_accuracy = 0.5 + record.epoch / 10 + seed / 100
        result.eval_seconds = 0.5
        result.steady_epoch_seconds = 1.5 if key[0] == "adam" else None
        store.append(spec, result)
    for i, spec in enumerate(_specs("b", 4, ["sgd", "adam", "rmsprop"], ["relu"])):
        key, seed = (spec.training.optimizer, spec.model.activation), spec.training.seed
        store.append(spec, finished(spec, ACC_B[key][seed], epochs=4, ended_offset=100 + i))
    return store


@pytest.fixture
def store(tmp_path):
    return _fill(ParquetResultsStore(str(tmp_path / "store")))


def _rows(table, *keys):
    return {tuple(r[k] for k in keys): r for r in table.to_pylist()}


def test_select_takes_the_latest_run_and_filters(store):
    everything = select_trials(store)
    assert everything.num_rows == 12 + 9
    assert select_trials(store, latest=False).num_rows == 12 + 9 + 1
    adam_relu_a = select_trials(store, Where.of(sweep="a", params={"optimizer": "adam", "activation": "relu"}))
    assert sorted(adam_relu_a["test_accuracy"].to_pylist()) == [0.97, 0.98, 0.99]  # not the failed run
    assert select_trials(store, Where.of(status="failed")).num_rows == 0  # that run is not the latest
    stopped = select_trials(store, Where.of(status=["stopped"]))
    assert stopped["test_accuracy"].to_pylist() == [0.12]
    good = select_trials(store, Where.of(ranges={"test_accuracy": (0.95, 0.98)}, params={"optimizer": ["adam", "rmsprop"]}))
    assert sorted(good["test_accuracy"].to_pylist()) == [0.95, 0.96, 0.96, 0.97, 0.97, 0.98, 0.98, 0.98, 0.98, 0.98, 0.98]
    start = datetime(2026, 1, 1, 0, 1, 40, tzinfo=timezone.utc)  # sweep b started 100 s in
    assert set(select_trials(store, Where.of(started=(start, None)))["sweep"].to_pylist()) == {"b"}
    assert set(select_trials(store, Where.of(ended=(None, start)))["sweep"].to_pylist()) == {"a"}


def test_where_from_the_command_line(store):
    where = parse_where(["optimizer=adam,rmsprop", "activation!=sigmoid", "test_accuracy>=0.97",
                         "started_at<2026-01-01T00:01:48+00:00", "epochs>2"], sweep="b")
    rows = select_trials(store, where).to_pylist()
    assert sorted((r["optimizer"], r["test_accuracy"]) for r in rows) == [
        ("adam", 0.98), ("adam", 0.98), ("adam", 0.98), ("rmsprop", 0.97)
    ]
    assert select_trials(store, parse_where(["filters=null", "nesterov=false", "status=stopped"])).num_rows == 1
    assert select_trials(store, parse_where(["filters!=null"])).num_rows == 0


@pytest.mark.parametrize("text, message", [
    (["optimiser=adam"], "did you mean 'optimizer'"),
    (["batch_size=big"], "not a int64 value"),
    (["batch_size=1.5"], "not a int64 value"),
    (["nesterov=maybe"], "not a bool value"),
    (["started_at>=yesterday"], "started_at"),
    (["filters=6,16"], "holds lists"),
    (["optimizer"], "expected COLUMN=VALUE"),
])
def test_bad_conditions_are_one_clear_error(text, message):
    with pytest.raises(QueryError, match=message):
        parse_where(text)


def test_aggregate_over_seeds_matches_hand_computed_statistics(store):
    completed = select_trials(store, Where.of(sweep="a").with_default_status())
    table = aggregate(completed)
    assert table.column_names[:4] == ["sweep", "activation", "optimizer", "trials"]
    rows = _rows(table, "optimizer", "activation")
    xs = ACC_A[("adam", "sigmoid")]
    row = rows[("adam", "sigmoid")]
    assert row["trials"] == 3 and row["count_test_accuracy"] == 3
    assert row["mean_test_accuracy"] == pytest.approx(statistics.fmean(xs))
    assert row["std_test_accuracy"] == pytest.approx(statistics.stdev(xs))
    assert row["sem_test_accuracy"] == pytest.approx(statistics.stdev(xs) / math.sqrt(3))
    assert (row["min_test_accuracy"], row["max_test_accuracy"]) == (0.95, 0.98)
    # The stopped run is not averaged in (completed only); two equal values: std 0.
    assert rows[("sgd", "sigmoid")]["trials"] == 2
    assert rows[("sgd", "sigmoid")]["mean_test_accuracy"] == pytest.approx(0.11)
    assert rows[("sgd", "sigmoid")]["std_test_accuracy"] == pytest.approx(0.0)


def test_aggregate_by_chosen_params_is_over_every_other_param(store):
    completed = select_trials(store, Where.of(sweep="a").with_default_status())
    rows = _rows(aggregate(completed, by=["optimizer"], metrics=["test_accuracy", "train_seconds"]), "optimizer")
    adam = ACC_A[("adam", "relu")] + ACC_A[("adam", "sigmoid")]
    assert rows[("adam",)]["trials"] == 6
    assert rows[("adam",)]["mean_test_accuracy"] == pytest.approx(statistics.fmean(adam))
    assert rows[("adam",)]["std_test_accuracy"] == pytest.approx(statistics.stdev(adam))
    assert rows[("adam",)]["mean_train_seconds"] == pytest.approx(4.0)
    sgd = ACC_A[("sgd", "relu")] + ACC_A[("sgd", "sigmoid")][:2]
    assert rows[("sgd",)]["mean_test_accuracy"] == pytest.approx(statistics.fmean(sgd))


def test_nan_counts_as_missing_and_one_value_has_no_std():
    table = pa.table({"sweep": ["s"] * 3, "optimizer": ["a", "a", "b"], "test_accuracy": [0.5, float("nan"), 0.7]})
    rows = _rows(aggregate(table, by=["optimizer"]), "optimizer")
    assert rows[("a",)]["mean_test_accuracy"] == 0.5 and rows[("a",)]["count_test_accuracy"] == 1
    assert rows[("a",)]["trials"] == 2
    assert rows[("b",)]["std_test_accuracy"] is None and rows[("b",)]["sem_test_accuracy"] is None
    with pytest.raises(QueryError, match="no column 'nope'"):
        aggregate(table, by=["nope"])
    with pytest.raises(QueryError, match="unknown statistic 'median'"):
        aggregate(table, by=["optimizer"], stats=["median"])


def test_group_by_a_list_param_works():
    table = pa.table({"filters": pa.array([[6, 16], [6, 16], None], pa.list_(pa.int64())), "test_accuracy": [0.1, 0.3, 0.5]})
    rows = _rows(aggregate(table, by=["filters"]), "filters")
    assert rows[("[6, 16]",)]["mean_test_accuracy"] == pytest.approx(0.2) and rows[(None,)]["trials"] == 1


def test_best_k(store):
    top = best(select_trials(store, Where.of(sweep="a")), "test_accuracy", k=2)
    assert top["test_accuracy"].to_pylist() == [0.99, 0.98]
    table = pa.table({"test_loss": [0.3, float("nan"), None, 0.1]})
    assert best(table, "test_loss", k=None)["test_loss"].to_pylist()[:2] == [0.1, 0.3]  # lower is better
    assert best(table, "test_loss", k=None, descending=True)["test_loss"].to_pylist()[:2] == [0.3, 0.1]  # NaN last
    configs = aggregate(select_trials(store, Where.of(sweep="a").with_default_status()))
    assert [(r["optimizer"], r["activation"]) for r in best(configs, "mean_test_accuracy", k=2).to_pylist()] == [
        ("adam", "relu"), ("adam", "sigmoid")
    ]


def test_pivot_contents(store):
    table = pivot(select_trials(store, Where.of(sweep="a").with_default_status()), "optimizer", "activation")
    assert table.column_names == ["optimizer", "activation=relu", "activation=sigmoid"]
    cells = {r["optimizer"]: (r["activation=relu"], r["activation=sigmoid"]) for r in table.to_pylist()}
    assert cells["adam"] == pytest.approx((0.98, statistics.fmean([0.95, 0.96, 0.98])))
    assert cells["sgd"] == pytest.approx((0.92, 0.11))
    counts = pivot(select_trials(store).filter(pa.compute.field("status") == "completed"), ["sweep", "optimizer"],
                   "activation", stat="count")
    by_row = {(r["sweep"], r["optimizer"]): r for r in counts.to_pylist()}
    assert by_row[("b", "rmsprop")] == {"sweep": "b", "optimizer": "rmsprop", "activation=relu": 3, "activation=sigmoid": None}


def test_compare_two_sweeps_config_by_config(store):
    trials = select_trials(store)
    assert sweep_differences(trials, "a", "b") == {"epochs": (2, 4)}
    table = compare_sweeps(store, "a", "b")
    assert table.column_names == [
        "activation", "optimizer", "trials_a", "mean_test_accuracy_a", "std_test_accuracy_a",
        "trials_b", "mean_test_accuracy_b", "std_test_accuracy_b", "delta",
    ]
    rows = table.to_pylist()
    assert [(r["optimizer"], r["activation"]) for r in rows[:2]] == [("sgd", "relu"), ("adam", "relu")]
    assert rows[0]["delta"] == pytest.approx(0.95 - 0.92) and rows[1]["delta"] == pytest.approx(0.0)
    assert rows[1]["std_test_accuracy_b"] == pytest.approx(0.0) and rows[1]["trials_a"] == 3
    only = {(r["optimizer"], r["activation"]): r for r in rows[2:]}
    assert set(only) == {("sgd", "sigmoid"), ("adam", "sigmoid"), ("rmsprop", "relu")}
    assert all(r["delta"] is None for r in only.values())
    assert only[("rmsprop", "relu")]["trials_a"] == 0 and only[("sgd", "sigmoid")]["trials_a"] == 2
    # Told not to ignore epochs, nothing matches.
    strict = compare_sweeps(store, "a", "b", ignore=[])
    assert all(r["delta"] is None for r in strict.to_pylist()) and "epochs" in strict.column_names
    with pytest.raises(QueryError, match="sweep 'c'"):
        compare_sweeps(store, "a", "c")


def test_learning_curves_and_their_mean_and_std_over_seeds(store):
    adam_relu = select_trials(store, Where.of(sweep="a", params={"optimizer": "adam", "activation": "relu"}))
    ids = sorted(adam_relu["trial_id"].to_pylist())
    curves = learning_curves(store, [ids[0][:8], ids[1]], where=Where.of(sweep="a"), metrics=["val_accuracy"])
    assert curves.column_names == ["sweep", "trial_id", "run_id", "seed", "epoch", "val_accuracy"]
    assert curves.num_rows == 4 and curves["trial_id"].to_pylist() == [ids[0], ids[0], ids[1], ids[1]]
    seed = dict(zip(adam_relu["trial_id"].to_pylist(), adam_relu["seed"].to_pylist()))
    assert curves["val_accuracy"].to_pylist()[:2] == pytest.approx([0.6 + seed[ids[0]] / 100, 0.7 + seed[ids[0]] / 100])
    # Only the latest run's epochs: the failed run of seed 0 had two epochs too.
    assert len(set(curves["run_id"].to_pylist())) == 2

    all_a = learning_curves(store, where=Where.of(sweep="a", params={"activation": "relu"}))
    stats = _rows(curve_stats(all_a, "val_accuracy"), "optimizer", "epoch")
    assert stats[("sgd", 2)]["mean_val_accuracy"] == pytest.approx(0.7 + statistics.fmean([0, 1, 2]) / 100)
    assert stats[("sgd", 2)]["std_val_accuracy"] == pytest.approx(statistics.stdev([0.70, 0.71, 0.72]))
    assert stats[("adam", 1)]["count_val_accuracy"] == 3
    with pytest.raises(QueryError, match="matches no trial"):
        learning_curves(store, ["ffff"])
    with pytest.raises(QueryError, match="no column 'val_acc'"):
        learning_curves(store, [ids[0]], metrics=["val_acc"])


def test_timing_table(store):
    table = timing(select_trials(store, Where.of(sweep="a")))
    assert {"epoch_seconds", "overhead_seconds", "replicas", "device_kind", "images_per_second"} <= set(table.column_names)
    rows = table.to_pylist()
    sgd = next(r for r in rows if r["optimizer"] == "sgd")
    adam = next(r for r in rows if r["optimizer"] == "adam")
    assert sgd["overhead_seconds"] == pytest.approx(5.0 - 4.0 - 0.5)  # total - train - eval
    assert sgd["epoch_seconds"] == pytest.approx(4.0 / 2)  # no steady-state figure: train / epochs
    assert adam["epoch_seconds"] == pytest.approx(1.5)
    assert sgd["replicas"] == 1 and sgd["device_kind"] == "CPU"
    grouped = _rows(timing(select_trials(store), by=["sweep"]), "sweep")
    assert grouped[("b",)]["mean_epoch_seconds"] == pytest.approx(1.0)  # 4 s over 4 epochs
    assert grouped[("a",)]["mean_overhead_seconds"] == pytest.approx(0.5)


def test_varying_params(store):
    assert varying_params(select_trials(store, Where.of(sweep="a"))) == ["activation", "optimizer", "seed"]
    assert varying_params(select_trials(store)) == ["activation", "optimizer", "epochs", "seed"]


def _every_answer(store):
    """Every query's answer, as plain data."""
    done = Where().with_default_status()
    trials = select_trials(store)
    ids = sorted(trials["trial_id"].to_pylist())[:3]
    answers = [
        select_trials(store).sort_by([("sweep", "ascending"), ("trial_id", "ascending")]),
        select_trials(store, latest=False).sort_by("run_id"),
        aggregate(select_trials(store, done)),
        aggregate(select_trials(store, done), by=["optimizer"], metrics=["test_accuracy", "total_seconds"]),
        best(select_trials(store, done), k=5),
        pivot(select_trials(store, done), "optimizer", "activation"),
        compare_sweeps(store, "a", "b"),
        learning_curves(store, ids),
        learning_curves(store, where=Where.of(sweep="a")),
        timing(select_trials(store)).sort_by("trial_id"),
    ]
    return [a.to_pylist() for a in answers]


def test_every_query_gives_the_same_answer_after_compaction(store):
    before = _every_answer(store)
    report = store.compact()
    assert report.files_before == 2 * (13 + 9) and report.files_after == 4
    assert _every_answer(store) == before
    assert _every_answer(ParquetResultsStore(store.uri)) == before


def test_outputs_as_text_and_files(store, tmp_path):
    table = pivot(select_trials(store, Where.of(sweep="a").with_default_status()), "optimizer", "activation")
    assert json.loads(render_table(table, "json"))[0]["optimizer"] == "adam"
    assert render_table(table, "csv").splitlines()[0] == "optimizer,activation=relu,activation=sigmoid"
    assert render_table(table, "markdown").splitlines()[2].startswith("| adam | 0.9800 |")
    text = render_table(table, "table").splitlines()
    assert text[0].split() == ["optimizer", "activation=relu", "activation=sigmoid"] and text[2].split()[1] == "0.9800"
    path = tmp_path / "out.parquet"
    assert write_output(table, "parquet", str(path)) is None
    assert pq.read_table(path).equals(table)
    write_output(table, "csv", str(tmp_path / "out.csv"))
    assert (tmp_path / "out.csv").read_text().startswith("optimizer,")
    assert not list(tmp_path.glob(".tmp-*"))
    with pytest.raises(ValueError, match="needs a file path"):
        write_output(table, "parquet")
    assert [line.strip() for line in render_table(pa.table({"learning_rate": [1e-5, 1e-3]}), "table").splitlines()[2:]] == ["1e-05", "0.0010"]
