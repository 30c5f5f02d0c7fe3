"""The user's own model: ``model.builder`` + ``model.params``, from the config to the results.

Unit tier: the schema, the trial ids (stored ids never change; an edit re-runs), the
``model_<key>`` columns. TF tier: the builder path every model takes. Ray tier: a whole sweep
of the example, and every bad builder refused in one line before any trial runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import ConfigError, load_experiment, parse_experiment
from orchestrator.store import InMemoryResultsStore, ParquetResultsStore
from orchestrator.plan import expand_sweep
from tests.conftest import REPO, finished

EXAMPLE = REPO / "examples" / "residual_cnn.yaml"
BUILD = "def build(params, input_shape, num_classes):\n    return None\n"


def _builder(tmp_path: Path, text: str = BUILD, name: str = "models.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _experiment(tmp_path: Path, model: str, sweep: str = "", name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(f"model:\n{model}\n{sweep}")
    return path


# ---- the schema --------------------------------------------------------------------------


@pytest.mark.unit
def test_builder_path_is_read_from_the_experiment_files_directory(tmp_path, monkeypatch):
    (tmp_path / "exp").mkdir()
    _builder(tmp_path / "exp")
    config = _experiment(tmp_path / "exp", "  builder: models.py:build\n  params: {width: 32, sizes: [1, 2]}",
                         "sweep:\n  grid:\n    model.params.depth: [1, 2]\n")
    monkeypatch.chdir(tmp_path)  # elsewhere: the path is the file's, not the shell's
    e = load_experiment(config, overrides=["model.params.width=64"])
    assert e.model.builder == f"{tmp_path / 'exp' / 'models.py'}:build"
    assert e.model.name is None and e.model.params == {"width": 64, "sizes": [1, 2]}
    specs = expand_sweep(e)
    assert [s.model.params for s in specs] == [{"width": 64, "sizes": [1, 2], "depth": d} for d in (1, 2)]
    assert [s.params()["model_depth"] for s in specs] == [1, 2]
    assert specs[0].params()["builder"] == e.model.builder


@pytest.mark.unit
@pytest.mark.parametrize(("model", "sweep", "message"), [
    ("  builder: nowhere.py:build", "", "nowhere.py: no such file"),
    ("  builder: models.py:buidl", "", "defines no function 'buidl'; did you mean 'build'?"),
    ("  builder: no_such_module_here:build", "", "cannot find module 'no_such_module_here'"),
    ("  builder: models.py", "", "expected 'file.py:function' or 'package.module:function'"),
    ("  name: lenet5\n  builder: models.py:build", "", "name: lenet5 and builder: both given"),
    ("  builder: models.py:build\n  dropout: 0.5", "", "model.dropout: applies to the built-in models"),
    ("  builder: models.py:build\n  params: {w: {a: 1}}", "", "model.params.w: expected a YAML scalar"),
    ("  builder: models.py:build\n  params: {w: [1, {a: 1}]}", "", "model.params.w[1]: expected a YAML scalar"),
    ("  builder: models.py:build\n  params: {w: .nan}", "", "model.params.w: expected a finite number"),
    ("  builder: models.py:build\n  params: {2w: 1}", "", "parameter name '2w' must be letters"),
    ("  builder: models.py:build\n  params: 3", "", "model.params: expected a mapping"),
    ("  name: lenet5\n  params: {w: 1}", "", "model.params: only a builder takes params"),
    ("  builder: models.py:build", "sweep:\n  grid:\n    model.params.w: [1, {a: 1}]\n",
     "sweep.grid.model.params.w: expected a YAML scalar"),
    ("  builder: models.py:build", "sweep:\n  grid:\n    model.builder: [a.py:b]\n", "run one sweep per builder"),
    ("  name: lenet5", "sweep:\n  grid:\n    model.params.w: [1, 2]\n", "only a builder takes params"),
])
def test_bad_builder_config_is_one_line_naming_the_key(tmp_path, model, sweep, message):
    _builder(tmp_path)
    with pytest.raises(ConfigError) as error:
        load_experiment(_experiment(tmp_path, model, sweep))
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.unit
def test_a_syntax_error_in_the_builder_file_is_found_without_running_it(tmp_path):
    _builder(tmp_path, "raise SystemExit('ran')\ndef build(:\n")
    with pytest.raises(ConfigError, match="invalid Python at line 2"):
        load_experiment(_experiment(tmp_path, "  builder: models.py:build"))


@pytest.mark.unit
def test_a_function_whose_source_cannot_be_read_is_refused():
    unreadable = eval("lambda params, input_shape, num_classes: None")  # noqa: S307 - no source file
    with pytest.raises(ConfigError, match="put it in a file and give builder: 'file.py:function'"):
        parse_experiment({"name": "x", "model": {"builder": unreadable}})


# ---- identity ----------------------------------------------------------------------------


# The trial ids of every experiment file in configs/ and examples/ as stored before (hashed,
# per file; written down from the code before builders existed, and for the examples and the
# tpe files from the code before the layout of issue 15): no change may orphan a stored result.
# A tpe sweep asks its points as it runs, so its ids are those of one fixed point: each
# dimension of its space at its low end (a choice: its first value).
STORED_IDS = {  # sha256 of each file's trial ids in sweep order, first 12 hex digits
    "configs/conv-pool-relu-adam.yaml": "5aa8b1beee46",
    "configs/keras-lenet-early-stopping.yaml": "477a524c2321",
    "configs/lenet5-avgpool-dropout.yaml": "bd5e68179512",
    "configs/lenet5-grid.yaml": "a1cfff68acbc",
    "configs/lenet5-relu-adam.yaml": "15cc81fcd830",
    "configs/lenet5-relu-sgd.yaml": "6c7145430522",
    "configs/lenet5-search.yaml": "03a212cdac7a",
    "configs/lenet5-sigmoid-sgd.yaml": "e8e5f3534b3f",
    "configs/lenet5-wide-momentum.yaml": "e6615ac0501e",
    "configs/notmnist-stride-conv.yaml": "f4363acd9c98",
    "configs/quickstart.yaml": "62a027aeecaa",
    "examples/residual_cnn.yaml": "2f3a5ac1ceff",
    "examples/search.yaml": "606e8ece1a39",
    "examples/data/shapes.yaml": "3e1651f3898f",
    # Issue 16 (written when the files were added): a user loss and metric, a regression.
    "examples/tabular/classify.yaml": "a36a6c6f0af3",
    "examples/tabular/regress.yaml": "4fe3a61ba09f",
}


@pytest.mark.unit
def test_every_experiment_file_has_its_stored_ids():
    import yaml

    found = {str(p.relative_to(REPO)) for folder in ("configs", "examples") for p in (REPO / folder).rglob("*.yaml")
             # Kubernetes manifests (examples/kuberay) are YAML too, but not experiments.
             if "apiVersion" not in (yaml.safe_load(p.read_text()) or {})}
    assert found == set(STORED_IDS), "a new experiment file: add its ids to STORED_IDS"


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(STORED_IDS))
def test_existing_trial_ids_are_unchanged(name):
    import hashlib

    from orchestrator.plan import specs_for_point

    experiment = load_experiment(REPO / name)
    if experiment.sweep.method == "tpe":
        point = {path: d.choices[0] if hasattr(d, "choices") else d.low for path, d in experiment.sweep.space.items()}
        specs = specs_for_point(experiment, point)
    else:
        specs = expand_sweep(experiment)
    ids = [s.trial_id for s in specs]
    assert ids, name
    assert hashlib.sha256(" ".join(ids).encode()).hexdigest()[:12] == STORED_IDS[name]


@pytest.mark.unit
def test_the_trial_id_covers_the_builders_source_not_its_path(tmp_path):
    def ids(directory: Path) -> list[str]:
        return [s.trial_id for s in expand_sweep(load_experiment(directory / "exp.yaml"))]

    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        _builder(tmp_path / d)
        _experiment(tmp_path / d, "  builder: models.py:build", "sweep:\n  grid:\n    model.params.w: [1, 2]\n")
    first = ids(tmp_path / "a")
    assert len(set(first)) == 2
    assert ids(tmp_path / "a") == first  # unchanged file: same ids, stored results kept
    assert ids(tmp_path / "b") == first  # the same code elsewhere: the same trials
    _builder(tmp_path / "a", BUILD + "# an edit\n")
    edited = ids(tmp_path / "a")
    assert not set(edited) & set(first)  # an edit re-runs every trial of the builder


@pytest.mark.unit
def test_a_function_builders_id_is_its_source(tmp_path):
    namespace: dict = {}
    source = tmp_path / "nb.py"
    source.write_text(BUILD + "\nWIDTH = 3  # outside the function: in the file's hash, not the function's\n")
    exec(compile(source.read_text(), str(source), "exec"), namespace)  # noqa: S102 - a notebook cell, in effect
    e = parse_experiment({"name": "x", "model": {"builder": namespace["build"], "params": {"w": 1}}})
    from_file = parse_experiment({"name": "x", "model": {"builder": f"{source}:build", "params": {"w": 1}}})
    (spec,) = expand_sweep(e)
    assert spec.params()["builder"].endswith(":build")
    assert spec.trial_id != expand_sweep(from_file)[0].trial_id  # a function hashes itself, a file all of it
    assert spec.trial_id == expand_sweep(e)[0].trial_id


# ---- params columns ----------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("make_store", [InMemoryResultsStore, lambda: None], ids=["memory", "parquet"])
def test_each_param_is_a_typed_column_and_older_rows_read_null(tmp_path, make_store):
    import pyarrow as pa

    store = make_store() or ParquetResultsStore(str(tmp_path / "store"))
    _builder(tmp_path)
    config = _experiment(tmp_path, "  builder: models.py:build\n  params: {name: wide}",
                         "sweep:\n  grid:\n    model.params.width: [8, 16]\n    model.params.rate: [1, 0.5]\n")
    for spec in expand_sweep(load_experiment(config, name="s")):
        store.append(spec, finished(spec))
    builtin = expand_sweep(parse_experiment({"name": "s"}))[0]
    store.append(builtin, finished(builtin))
    trials = store.read_trials("s")
    assert trials.schema.field("model_width").type == pa.int64()
    assert trials.schema.field("model_rate").type == pa.float64()  # 1 and 0.5: one float column
    assert trials.schema.field("model_name").type == pa.string()  # "name" clashes with nothing
    rows = {r["trial_id"]: r for r in trials.to_pylist()}
    assert rows[builtin.trial_id]["model_width"] is None and rows[builtin.trial_id]["model"] == "lenet5"
    assert sorted(r["model_width"] for r in rows.values() if r["model_width"]) == [8, 8, 16, 16]
    if isinstance(store, ParquetResultsStore):
        store.compact("s")
        assert ParquetResultsStore(store.uri).read_trials("s", columns=["trial_id", "model_width"]).num_rows == 5

    from orchestrator.answers import QueryError, parse_where, select_trials
    from orchestrator.answers import result_rows

    columns, _ = result_rows(store, "s")
    assert {"model_width", "model_rate"} <= set(columns)  # the axes are shown
    chosen = select_trials(store, parse_where(["model_width=16", "model_rate<1"], sweep="s"))
    assert chosen["model_width"].to_pylist() == [16] and chosen["model_rate"].to_pylist() == [0.5]
    with pytest.raises(QueryError, match="did you mean 'model_width'"):
        select_trials(store, parse_where(["model_widht=16"]))


# ---- the build path (TensorFlow) ---------------------------------------------------------


@pytest.mark.tf
def test_a_builder_gets_the_shared_layers_and_the_penalty(tmp_path, cpu_device):
    import keras

    from trainers.builders import build_model

    e = load_experiment(EXAMPLE)
    model = build_model(e.model, (28, 28, 1), 10, kernel_regularizer=keras.regularizers.L2(1e-3),
                        augment_shift=0.1)
    assert [type(layer).__name__ for layer in model.layers[:2]] == ["Rescaling", "RandomTranslation"]
    assert model.inputs[0].dtype == "uint8"
    convs_and_dense = [layer for layer in model.layers[-1].layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    assert len(model.losses) == len(convs_and_dense) == 4  # 3 convs and the output
