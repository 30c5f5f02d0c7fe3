"""A user's model through a real local Ray: the example sweep, re-runs after an edit, and
every bad builder refused in one line (exit 2) before any trial runs, nothing stored."""

from __future__ import annotations

import re

import shutil
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from orchestrator.cli import main  # noqa: E402
from orchestrator.store import ParquetResultsStore  # noqa: E402
from tests.conftest import REPO, run_summary  # noqa: E402

pytestmark = pytest.mark.ray

# Quick trials: the sample's 3,600 training images in a few large batches.
FAST = ["--set", "training.batch_size=512", "--set", "model.params.blocks=0"]


@pytest.fixture(scope="module")
def local_ray():
    """One small Ray for the module: the bad-builder cases then share one validation worker,
    which imports TensorFlow once."""
    from tests.conftest import private_ray

    with private_ray(1):
        yield


def _trials(store: Path, sweep: str) -> list[dict]:
    return ParquetResultsStore(str(store)).read_trials(sweep).to_pylist()


def test_the_example_runs_and_an_edit_reruns_exactly_its_trials(local_ray, tmp_path, capsys):
    example = tmp_path / "example"
    shutil.copytree(REPO / "examples", example, ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
    store = tmp_path / "store"
    argv = ["run", str(example / "residual_cnn.yaml"), "--store", str(store), *FAST]
    assert main(argv) == 0
    first = {r["trial_id"]: r["model_width"] for r in _trials(store, "residual-cnn")}
    assert sorted(first.values()) == [8, 16]

    capsys.readouterr()
    assert main(argv) == 0  # unchanged: nothing runs
    assert run_summary(capsys.readouterr().err) == dict(completed=0, stopped=0, failed=0, stored=2, retries=0)
    assert len(_trials(store, "residual-cnn")) == 2

    builder = example / "residual_cnn.py"
    builder.write_text(builder.read_text().replace("layers.MaxPooling2D(2)(x)\n    x = layers.Flatten",
                                                   "layers.AveragePooling2D(2)(x)\n    x = layers.Flatten"))
    assert main(argv) == 0
    rows = _trials(store, "residual-cnn")
    rerun = {r["trial_id"]: r["model_width"] for r in rows if r["trial_id"] not in first}
    assert sorted(rerun.values()) == [8, 16] and len(rows) == 4

    assert main(["results", "residual-cnn", "--store", str(store)]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "model_width" in header


_SOFTMAX = "keras.layers.Dense(num_classes, activation='softmax')"


def _model(body: str) -> str:
    return ("import keras\n\ndef build(params, input_shape, num_classes):\n"
            f"    inputs = keras.Input(shape=input_shape)\n    x = keras.layers.Flatten()(inputs)\n{body}\n")


@pytest.mark.parametrize(("source", "message"), [
    ("def build(params, input_shape, num_classes):\n    raise ValueError('width must be even')\n",
     "raised ValueError: width must be even"),
    ("def build(params, input_shape, num_classes):\n    return 42\n", "returned int, expected a keras.Model"),
    ("build = 3\n", "is not a function (it is int 3)"),
    ("import no_such_module_anywhere\ndef build(params, input_shape, num_classes):\n    pass\n",
     "raised ModuleNotFoundError: No module named 'no_such_module_anywhere'"),
    (_model("    return keras.Model(inputs, keras.layers.Dense(3, activation='softmax')(x))"),
     "output has shape (3,) per example, expected (10,)"),
    (_model("    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))"), "are not probabilities"),
    (_model(f"    return keras.Sequential([keras.layers.Dense(5, input_shape=(3,)), {_SOFTMAX}])"),
     "the model fails on (28, 28, 1) inputs"),
], ids=["raises", "not-a-model", "not-a-function", "import-fails", "wrong-class-count", "logits", "wrong-input-shape"])
def test_a_bad_builder_is_one_line_before_any_trial(local_ray, tmp_path, capsys, source, message):
    (tmp_path / "bad.py").write_text(source)
    config = tmp_path / "exp.yaml"
    config.write_text("model:\n  builder: bad.py:build\ntraining:\n  epochs: 1\n")
    store = tmp_path / "store"
    assert main(["run", str(config), "--store", str(store)]) == 2
    # One error line; the progress lines before it say what was being checked (issue 11).
    (line,) = [text for text in capsys.readouterr().err.strip().splitlines() if not text.startswith("[orch ")]
    assert line.startswith("orch run: error: model.builder") and message in line, line
    assert ParquetResultsStore(str(store)).read_trials().num_rows == 0


_READS_WIDTH = _model("    x = keras.layers.Dense(params['width'] if 'deep' not in params or params['deep'] else 4)(x)\n"
                      "    units = params.get('filters', 8)\n"
                      f"    return keras.Model(inputs, {_SOFTMAX}(keras.layers.Dense(units)(x)))")


@pytest.mark.parametrize(("params", "refused"), [
    ("{width: 8, filter: 3}", "model.params.filter: the builder \\S*bad.py:build never reads it; did you mean 'filters'\\?"),
    ("{width: 8, filters: 3, deep: true}", None),  # read through [], .get and `in`
], ids=["typo", "all-read"])
def test_a_model_param_the_builder_never_reads_is_refused_before_any_trial(local_ray, tmp_path, capsys, params,
                                                                           refused):
    (tmp_path / "bad.py").write_text(_READS_WIDTH)
    config = tmp_path / "exp.yaml"
    config.write_text(f"model:\n  builder: bad.py:build\n  params: {params}\ndataset: {{name: mnist_sample}}\n"
                      "training:\n  epochs: 1\n")
    store = tmp_path / "store"
    code = main(["run", str(config), "--store", str(store)])
    err = capsys.readouterr().err
    if refused is None:
        assert code == 0, err[-2000:]
        return
    assert code == 2
    (line,) = [text for text in err.strip().splitlines() if not text.startswith("[orch ")]
    assert re.match(f"orch run: error: {refused}", line), line
    assert ParquetResultsStore(str(store)).read_trials().num_rows == 0


def test_a_param_read_for_some_values_of_the_sweep_is_not_refused(local_ray, tmp_path, capsys):
    # `width` is read only where `deep` is true: one of the two points reads it, so it is used.
    (tmp_path / "bad.py").write_text(_model(
        "    if params['deep']:\n        x = keras.layers.Dense(params['width'])(x)\n"
        f"    return keras.Model(inputs, {_SOFTMAX}(x))"))
    config = tmp_path / "exp.yaml"
    config.write_text("model:\n  builder: bad.py:build\n  params: {width: 8}\ndataset: {name: mnist_sample}\n"
                      "training:\n  epochs: 1\nsweep:\n  grid:\n    model.params.deep: [true, false]\n")
    assert main(["run", str(config), "--store", str(tmp_path / "store")]) == 0, capsys.readouterr().err[-2000:]


# Each start-up phase of a sweep with a user model, in the order they end (with --verbose).
_PHASES = [
    r"python and orch imports", r"checking the experiment file", r"planning", r"importing Ray", r"starting Ray",
    r"cluster checks", r"loading the data", r"starting \d+ trainers? \(TensorFlow loads in each\)",
    r"checking user models, after the trainers were ready", r"store: config and claims",
]


def test_verbose_shows_each_start_up_phase_once_with_its_seconds_before_the_first_trial(local_ray, tmp_path, capsys):
    (tmp_path / "tiny.py").write_text(_model(f"    return keras.Model(inputs, {_SOFTMAX}(x))"))
    config = tmp_path / "exp.yaml"
    config.write_text("model:\n  builder: tiny.py:build\ndataset: {name: mnist_sample}\n"
                      "training:\n  epochs: 1\n  batch_size: 512\n")
    assert main(["run", str(config), "--store", str(tmp_path / "store"), "--verbose"]) == 0
    lines = capsys.readouterr().err.splitlines()
    phase = re.compile(r"^\[orch +\d+\.\ds\] start-up: (.+) (\d+\.\d\d)s( \(alongside .+\))?$")
    seen = [m.group(1) for m in map(phase.match, lines) if m]
    assert len(seen) == len(_PHASES), seen
    for name, pattern in zip(seen, _PHASES):
        assert re.fullmatch(pattern, name), (name, pattern)
    totals = [i for i, line in enumerate(lines) if re.search(r"\] start-up: \d+\.\d\ds in all, to the first trial launch$", line)]
    first_trial = next(i for i, line in enumerate(lines) if re.match(r"^\[orch +\d+\.\ds\] start  ", line))
    assert len(totals) == 1 and totals[0] < first_trial, lines
