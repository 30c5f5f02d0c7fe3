"""One contract suite, run against every store backend (Optuna's StorageTestCase habit)."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestrator.config import parse_experiment
from orchestrator.store import EPOCHS_SCHEMA, TRIALS_SCHEMA, InMemoryResultsStore, ParquetResultsStore, StoreError
from orchestrator.trial import TrialStatus
from tests.conftest import finished, grid_specs

pytestmark = pytest.mark.unit


@pytest.fixture(params=["memory", "parquet"])
def store(request, tmp_path):
    if request.param == "memory":
        return InMemoryResultsStore()
    return ParquetResultsStore(str(tmp_path / "store"))


def test_round_trip_keeps_params_metrics_and_epochs_typed(store):
    specs = grid_specs(grid={"training.learning_rate": [1e-3, 1e-4]})
    for i, spec in enumerate(specs):
        store.append(spec, finished(spec, test_accuracy=0.9 + i / 100, epochs=3))
    trials = store.read_trials("t")
    assert trials.schema.equals(TRIALS_SCHEMA, check_metadata=False)
    rows = sorted(trials.to_pylist(), key=lambda r: r["learning_rate"])
    assert [r["learning_rate"] for r in rows] == [1e-4, 1e-3]
    assert rows[1]["test_accuracy"] == pytest.approx(0.90)
    assert rows[1]["val_accuracy"] == pytest.approx(0.75)  # the last epoch's
    assert rows[0]["epochs_run"] == 3 and rows[0]["param_count"] == 61706
    assert rows[0]["started_at"].tzinfo is not None
    epochs = store.read_epochs("t")
    assert epochs.num_rows == 6
    assert sorted(set(epochs["trial_id"].to_pylist())) == sorted(s.trial_id for s in specs)
    assert trials.schema.field("nesterov").type == pa.bool_()
    assert trials.schema.field("batch_size").type == pa.int64()


def test_finished_ids_count_completed_only(store):
    a, b = grid_specs(seeds=[0, 1])
    store.append(a, finished(a))
    store.append(b, finished(b, status=TrialStatus.FAILED))
    assert store.finished_trial_ids("t") == {a.trial_id}
    assert store.finished_trial_ids("other") == set()


def test_sweeps_are_kept_apart(store):
    (a,) = grid_specs()
    store.append(a, finished(a))
    other = type(a)(**{**a.__dict__, "sweep": "u"})
    store.append(other, finished(other))
    assert store.sweeps() == ["t", "u"]
    assert store.read_trials("u").num_rows == 1
    assert store.read_trials().num_rows == 2


def test_empty_store_reads_empty_tables(store):
    assert store.read_trials().num_rows == 0
    assert store.read_epochs("t").num_rows == 0
    assert store.sweeps() == []


def test_nan_metrics_survive(store):
    (a,) = grid_specs()
    result = finished(a)
    result.test_loss = float("nan")
    store.append(a, result)
    assert math.isnan(store.read_trials("t")["test_loss"][0].as_py())


def test_parquet_files_are_plain_and_carry_schema_version(tmp_path):
    store = ParquetResultsStore(str(tmp_path))
    (a,) = grid_specs()
    store.append(a, finished(a))
    files = list((tmp_path / "trials" / "t").glob("*.parquet"))
    assert len(files) == 1
    table = pq.read_table(files[0])
    assert table.schema.metadata[b"orch.schema_version"] == b"1"
    assert pq.read_table(next((tmp_path / "epochs" / "t").glob("*.parquet"))).schema.equals(
        EPOCHS_SCHEMA, check_metadata=False
    )
    # No temporary files left behind.
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]


def test_epochs_without_a_trial_row_are_invisible(tmp_path):
    """A driver killed between the two writes leaves epoch rows that must not count."""
    store = ParquetResultsStore(str(tmp_path))
    a, b = grid_specs(seeds=[0, 1])
    store.append(a, finished(a))
    store.append(b, finished(b))
    next((tmp_path / "trials" / "t").glob(f"{b.trial_id}-*.parquet")).unlink()
    assert store.read_epochs("t")["trial_id"].to_pylist() == [a.trial_id] * 2
    assert store.finished_trial_ids("t") == {a.trial_id}


def test_failed_write_leaves_no_trial(tmp_path, monkeypatch):
    store = ParquetResultsStore(str(tmp_path))
    (a,) = grid_specs()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError):
        store.append(a, finished(a))
    monkeypatch.undo()
    assert store.read_trials().num_rows == 0
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_config_saved_once_per_distinct_config(tmp_path):
    store = ParquetResultsStore(str(tmp_path))
    e = parse_experiment({"name": "t", "training": {"epochs": 2}})
    first = store.save_config(e)
    assert store.save_config(e) == first
    store.save_config(parse_experiment({"name": "t", "training": {"epochs": 3}}))
    saved = sorted((tmp_path / "configs" / "t").glob("*.yaml"))
    assert len(saved) == 2
    assert "epochs: 2" in saved[0].read_text() or "epochs: 2" in saved[1].read_text()


def test_store_path_that_is_a_file_is_rejected(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    with pytest.raises(StoreError, match="is a file, not a directory"):
        ParquetResultsStore(str(path))


def test_filesystem_uris_are_accepted(tmp_path):
    store = ParquetResultsStore(f"file://{tmp_path}/via-uri")
    (a,) = grid_specs()
    store.append(a, finished(a))
    assert (tmp_path / "via-uri" / "trials" / "t").is_dir()
    assert ParquetResultsStore(str(tmp_path / "via-uri")).read_trials("t").num_rows == 1
    with pytest.raises(StoreError, match="cannot open"):
        ParquetResultsStore("nosuchscheme://bucket/x")
