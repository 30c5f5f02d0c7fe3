"""The user's own data: ``dataset.name: npz``, ``image_folder`` and ``loader``; the one
``check_arrays`` gate every loader's arrays pass; paths relative to the experiment file;
trials identified by what the data is.

Unit tier: nothing here imports TensorFlow or Ray (Pillow writes and reads the images).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from orchestrator.config import ConfigError, DatasetConfig, load_experiment, parse_experiment
from orchestrator.plan import expand_sweep
from trainers.datasets import DatasetError, check_arrays, load_dataset

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]


def colour_arrays(n_train: int = 30, n_test: int = 9, shape=(32, 32, 3), classes: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "y_train": np.arange(n_train) % classes,
        "x_test": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "y_test": np.arange(n_test) % classes,
    }


def write_npz(path: Path, **overrides: object) -> Path:
    arrays = {**colour_arrays(), **overrides}
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def npz_config(path: Path, **fields: object) -> DatasetConfig:
    return DatasetConfig(name="npz", path=str(path), validation=fields.pop("validation", 6), **fields)


def write_png(path: Path, size=(8, 8), colour=(255, 0, 0), mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour if mode == "RGB" else colour[0]).save(path)


def write_folder(root: Path, classes=("cat", "dog"), per_class: int = 5, **png: object) -> Path:
    for c, name in enumerate(classes):
        for i in range(per_class):
            write_png(root / name / f"{i}.png", colour=(40 * c, 10 * i, 200), **png)
    return root


# --- npz -----------------------------------------------------------------------------------


def test_npz_of_colour_images_and_three_classes(tmp_path: Path) -> None:
    data = load_dataset(npz_config(write_npz(tmp_path / "d.npz")))
    assert data.input_shape == (32, 32, 3) and data.num_classes == 3
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (24, 6, 9)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.uint8


def test_npz_grey_images_get_a_channel_axis(tmp_path: Path) -> None:
    arrays = colour_arrays(shape=(20, 24))
    data = load_dataset(npz_config(write_npz(tmp_path / "d.npz", **arrays)))
    assert data.input_shape == (20, 24, 1)


def test_npz_with_its_own_validation_split(tmp_path: Path) -> None:
    x_val, y_val = colour_arrays(n_train=4)["x_train"], np.array([0, 1, 2, 0])
    path = write_npz(tmp_path / "d.npz", x_val=x_val, y_val=y_val)
    data = load_dataset(DatasetConfig(name="npz", path=str(path)))
    assert (len(data.x_train), len(data.x_val)) == (30, 4)
    with pytest.raises(DatasetError, match=r"d\.npz has its own validation split.*remove validation"):
        load_dataset(npz_config(path, validation=0.2))


def test_keras_cifar_style_labels_n_by_1_and_float_pixels(tmp_path: Path) -> None:
    arrays = colour_arrays()
    arrays["y_train"] = arrays["y_train"].reshape(-1, 1)
    arrays["x_train"] = arrays["x_train"].astype(np.float32)  # whole 0-255 values: lossless
    data = load_dataset(npz_config(write_npz(tmp_path / "d.npz", **arrays)))
    assert data.y_train.shape == (24,) and data.x_train.dtype == np.uint8


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"y_test": None}, r"missing array y_test .*np\.savez"),
        ({"x_train": np.array([object()] * 30)}, r"object arrays.*must not run code"),
        ({"y_train": np.arange(30) % 3 + np.array([0] * 29 + [4])}, r"y_train has none of class 3.*0\.\.classes-1"),
        ({"y_train": np.arange(30) % 3 + 1, "y_test": np.arange(9) % 3 + 1}, r"none of class 0 \(labels 1\.\.N\? subtract 1\)"),
        ({"y_train": np.arange(30) % 3 - 1}, r"labels include -1"),
        ({"y_train": np.zeros(30, dtype=int), "y_test": np.zeros(9, dtype=int)}, r"one class is nothing to learn"),
        ({"x_train": np.full((30, 32, 32, 3), np.nan, dtype=np.float32)}, r"x_train has 92160 NaN or infinite"),
        ({"x_train": np.zeros((30, 8, 8), dtype=np.int64) + 300}, r"x_train values range over \[300, 300\].*0-255"),
        ({"x_train": np.zeros((30, 8, 8), dtype=bool)}, r"x_train has dtype bool"),
        ({"x_train": np.zeros((30, 8, 8, 5), dtype=np.uint8)}, r"x_train has shape \(30, 8, 8, 5\).*1-4 channels"),
        ({"y_train": np.zeros(29, dtype=int)}, r"x_train has 30 images but y_train 29 labels"),
        ({"x_test": np.zeros((9, 28, 28, 3), dtype=np.uint8)}, r"x_test images are \(28, 28, 3\) but x_train images \(32, 32, 3\)"),
        ({"y_train": np.eye(3, dtype=np.int64)[np.arange(30) % 3]}, r"y_train has shape \(30, 3\).*one-hot\? save y\.argmax"),
        ({"y_train": (np.arange(30) % 3).astype(float)}, r"y_train hold float targets but y_test integer labels"),
    ],
    ids=["missing-key", "object-array", "gap-in-classes", "one-based", "negative", "one-class", "nan",
         "over-255", "bool", "channels", "xy-length", "train-test-shape", "one-hot", "float-labels"],
)
def test_bad_npz_is_one_line_naming_the_file(tmp_path: Path, overrides: dict, match: str) -> None:
    path = tmp_path / "bad.npz"
    try:
        write_npz(path, **overrides)
    except ValueError:  # np.savez refuses nothing here; a guard for numpy versions that might
        pytest.skip("numpy would not save this array")
    with pytest.raises(DatasetError, match=match) as error:
        load_dataset(npz_config(path))
    assert one_line(error).startswith(str(path))


def test_not_an_npz_file(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match=r"d\.npz: not an \.npz file \(np\.savez writes one\)"):
        load_dataset(npz_config(path))


def test_builtin_labels_outside_the_ten_classes(tmp_path: Path) -> None:
    arrays = {**colour_arrays(shape=(28, 28)), "y_train": np.arange(30) % 11}
    (tmp_path / "mnist").mkdir()
    np.savez(tmp_path / "mnist" / "mnist.npz", **arrays)
    with pytest.raises(DatasetError, match=r"mnist\.npz: y_train includes label 10 but this dataset has 10 classes"):
        load_dataset(DatasetConfig(name="mnist", data_dir=str(tmp_path / "mnist")))


def test_check_arrays_is_the_one_gate() -> None:
    out, classes = check_arrays(colour_arrays(), "here")
    assert classes == 3 and out["x_train"].shape == (30, 32, 32, 3)
    with pytest.raises(DatasetError, match=r"^here: y_train includes label 2 but this dataset has 2 classes"):
        check_arrays(colour_arrays(), "here", num_classes=2)
    with pytest.raises(DatasetError, match=r"^here: x_train is a list; expected a numpy array"):
        check_arrays({**colour_arrays(), "x_train": [[0]]}, "here")


# --- image folders -------------------------------------------------------------------------


def folder_config(root: Path, **fields: object) -> DatasetConfig:
    return DatasetConfig(name="image_folder", path=str(root), test=fields.pop("test", 2), validation=2, **fields)


def test_image_folder_classes_sorted_are_the_labels(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "imgs", classes=("zebra", "ant", "moth"), per_class=4)
    write_png(root / "stray.png")  # beside the class folders: ignored, as Keras ignores it
    (root / "ant" / "notes.txt").write_text("not an image: skipped by extension")
    data = load_dataset(folder_config(root))
    assert data.num_classes == 3 and data.input_shape == (8, 8, 3)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (8, 2, 2)
    everything = np.concatenate([data.x_train, data.x_val, data.x_test])
    labels = np.concatenate([data.y_train, data.y_val, data.y_test])
    # Written zebra (red 0), ant (red 40), moth (red 80); sorted, ant=0, moth=1, zebra=2.
    np.testing.assert_array_equal(everything[:, 0, 0, 0], (labels + 1) % 3 * 40)


def test_image_folder_grey_and_resized(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    for c in ("a", "b"):
        for i, size in enumerate([(10, 6), (7, 9), (5, 5)]):
            write_png(root / c / f"{i}.png", size=size, colour=(100,), mode="L")
    data = load_dataset(folder_config(root, image_size=[4, 6], test=0.34))
    assert data.input_shape == (4, 6, 1) and int(data.x_train.max()) == 100
    with pytest.raises(DatasetError, match=r"images have different sizes .*set dataset\.image_size"):
        load_dataset(folder_config(root))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda root: root.mkdir(), r"no class sub-folders; put each class's images"),
        (lambda root: write_folder(root, classes=("only",)), r"only one class sub-folder \(only\); .*at least 2"),
        (lambda root: (write_folder(root), (root / "empty").mkdir()), r"class folder empty holds no .* images"),
        (lambda root: (write_folder(root), (root / "dog" / "9.png").write_bytes(b"no png")), r"dog/9\.png: not a readable image"),
    ],
    ids=["empty-folder", "one-class", "empty-class", "unreadable-image"],
)
def test_bad_image_folder_is_one_line_naming_it(tmp_path: Path, make, match: str) -> None:
    root = tmp_path / "imgs"
    make(root)
    with pytest.raises(DatasetError, match=match) as error:
        load_dataset(folder_config(root))
    assert str(root) in one_line(error)


def test_image_folder_loads_without_tensorflow(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "imgs")
    code = (
        "import sys; from orchestrator.config import DatasetConfig; from trainers.datasets import load_dataset; "
        f"d = load_dataset(DatasetConfig(name='image_folder', path={str(root)!r}, test=2, validation=2)); "
        "assert d.num_classes == 2; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env={"PYTHONPATH": str(REPO)})


# --- loader functions ----------------------------------------------------------------------


LOADER = '''
import numpy as np

def load(n=12, fail=False, kind="dict"):
    if fail:
        raise RuntimeError("the data server is down")
    x = np.zeros((n, 6, 6, 3), dtype=np.uint8) + np.arange(n, dtype=np.uint8)[:, None, None, None]
    y = np.arange(n) % 3
    if kind == "keras":
        return (x, y), (x[:3], y[:3])
    if kind == "list":
        return [x, y]
    if kind == "short":
        return {"x_train": x, "y_train": y[:-1], "x_test": x, "y_test": y}
    return {"x_train": x, "y_train": y, "x_test": x[:3], "y_test": y[:3]}
'''


def loader_config(reference: str, **params: object) -> DatasetConfig:
    return DatasetConfig(name="loader", loader=reference, params=params, validation=3)


@pytest.fixture
def loader_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_data.py"
    path.write_text(LOADER)
    return path


def test_loader_file_with_params(loader_file: Path) -> None:
    data = load_dataset(loader_config(f"{loader_file}:load", n=15))
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (12, 3, 3)
    assert data.input_shape == (6, 6, 3) and data.num_classes == 3
    keras_style = load_dataset(loader_config(f"{loader_file}:load", kind="keras"))
    assert len(keras_style.x_test) == 3


def test_loader_module_function(loader_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(loader_file.parent))
    assert load_dataset(loader_config("my_data:load")).num_classes == 3


@pytest.mark.parametrize(
    ("reference", "params", "match"),
    [
        ("{dir}/nowhere.py:load", {}, r"no such file .*nowhere\.py"),
        ("{dir}/my_data.py:build", {}, r"my_data\.py has no function 'build' \(it defines: load\)"),
        ("{dir}/my_data.py:load", {"fail": True}, r"raised RuntimeError: the data server is down; fix the loader"),
        ("{dir}/my_data.py:load", {"colour": 1}, r"dataset.params.colour: the loader takes no argument 'colour'; it takes: n, fail, kind"),
        ("{dir}/my_data.py:load", {"kind": "list"}, r"returned list; expected a dict with x_train"),
        ("{dir}/my_data.py:load", {"kind": "short"}, r"x_train has 12 images but y_train 11 labels"),
        ("no_such_module_here:load", {}, r"cannot import 'no_such_module_here'"),
    ],
    ids=["file-missing", "function-missing", "raising", "bad-params", "wrong-type", "wrong-shapes", "module-missing"],
)
def test_bad_loader_is_one_line_naming_it(loader_file: Path, reference: str, params: dict, match: str) -> None:
    reference = reference.format(dir=loader_file.parent)
    with pytest.raises(DatasetError, match=match) as error:
        load_dataset(loader_config(reference, **params))
    assert one_line(error).startswith(f"loader {reference}")


def test_example_loader_gives_32x32_colour_shapes() -> None:
    experiment = load_experiment(REPO / "examples" / "data" / "shapes.yaml")
    data = load_dataset(experiment.dataset)
    assert data.input_shape == (32, 32, 3) and data.num_classes == 3
    assert len(expand_sweep(experiment)) == 2


# --- the experiment file: paths and identity -------------------------------------------------


def experiment_file(directory: Path, dataset: str, name: str = "exp.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"dataset:\n{dataset}\ntraining:\n  epochs: 1\n")
    return path


def test_relative_paths_are_relative_to_the_experiment_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # not the file's directory
    config = experiment_file(tmp_path / "exp", "  name: npz\n  path: d.npz")
    write_npz(tmp_path / "exp" / "d.npz")
    assert load_experiment(config).dataset.path == str(tmp_path / "exp" / "d.npz")
    loader = experiment_file(tmp_path / "exp", "  loader: sub/my_data.py:load\n  params: {n: 9}", "loader.yaml")
    e = load_experiment(loader)
    assert (e.dataset.name, e.dataset.loader) == ("loader", f"{tmp_path / 'exp' / 'sub' / 'my_data.py'}:load")
    assert e.dataset.params == {"n": 9}
    # --set values too (as model.builder's): the file is what a relative path is relative to
    e = load_experiment(config, overrides=["dataset.path=other.npz"])
    assert e.dataset.path == str(tmp_path / "exp" / "other.npz")
    # a mapping from Python: relative to the working directory
    assert parse_experiment({"name": "t", "dataset": {"name": "npz", "path": "d.npz"}}).dataset.path == str(tmp_path / "d.npz")


def test_trial_id_follows_the_data_not_its_place(tmp_path: Path) -> None:
    def trial_id(path: Path) -> str:
        (spec,) = expand_sweep(parse_experiment({"name": "t", "dataset": {"name": "npz", "path": str(path)}}))
        return spec.trial_id

    first = trial_id(write_npz(tmp_path / "a.npz"))
    (tmp_path / "moved").mkdir()
    assert trial_id(Path(shutil.copy(tmp_path / "a.npz", tmp_path / "moved" / "b.npz"))) == first
    assert trial_id(write_npz(tmp_path / "c.npz", y_test=np.arange(9) % 2)) != first


def test_trial_id_follows_the_loader_source_and_params(loader_file: Path) -> None:
    def trial_id(**params: object) -> str:
        raw = {"name": "t", "dataset": {"loader": f"{loader_file}:load", "params": params}}
        return expand_sweep(parse_experiment(raw))[0].trial_id

    base = trial_id(n=12)
    assert trial_id(n=12) == base and trial_id(n=15) != base
    loader_file.write_text(LOADER + "\n# an edit\n")
    assert trial_id(n=12) != base


def test_missing_user_data_fails_at_planning(tmp_path: Path) -> None:
    experiment = parse_experiment({"name": "t", "dataset": {"name": "npz", "path": str(tmp_path / "gone.npz")}})
    with pytest.raises(ConfigError, match=r"dataset\.path: .*gone\.npz: no such file"):
        expand_sweep(experiment)


def test_builtin_trial_ids_are_unchanged() -> None:
    # Pinned before user data existed (git 7b326fb): new dataset fields at their defaults
    # stay out of the hash.
    (spec,) = expand_sweep(parse_experiment({"name": "t", "training": {"epochs": 1}}))
    assert spec.trial_id == "626256ebaf1920b3"


@pytest.mark.parametrize(
    ("dataset", "match"),
    [
        ({"name": "npz"}, r"dataset\.path: name: npz needs the data's path"),
        ({"name": "image_folder", "path": "x"}, r"dataset\.test: an image folder has no test split"),
        ({"name": "npz", "path": "x", "test": 0.2}, r"dataset\.test: npz has its own test split"),
        ({"name": "mnist", "path": "x"}, r"dataset\.path: only name: npz or image_folder reads a path"),
        ({"name": "mnist", "loader": "a.py:load"}, r"dataset\.loader: a loader is its own dataset; remove name: mnist"),
        ({"params": {"n": 1}}, r"dataset\.params: are the loader function's arguments"),
        ({"name": "npz", "path": "x", "data_dir": "d"}, r"dataset\.data_dir: is for the built-in datasets"),
        ({"name": "npz", "path": "x", "image_size": [8, 8]}, r"dataset\.image_size: \[height, width\] for name: image_folder"),
        ({"loader": "a.py:load", "params": {"1x": 2}}, r"dataset\.params: parameter name '1x' must be letters, digits and '_'"),
    ],
)
def test_dataset_fields_that_do_not_go_together(dataset: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_experiment({"name": "t", "dataset": dataset})


def test_a_sweep_over_data_files(tmp_path: Path) -> None:
    write_npz(tmp_path / "a.npz")
    write_npz(tmp_path / "b.npz", y_test=np.arange(9) % 2)
    path = tmp_path / "exp.yaml"
    path.write_text("dataset:\n  name: npz\n  path: a.npz\nsweep:\n  grid:\n    dataset.path: [a.npz, b.npz]\n")
    specs = expand_sweep(load_experiment(path))
    assert [s.dataset.path for s in specs] == [str(tmp_path / "a.npz"), str(tmp_path / "b.npz")]
    assert len({s.trial_id for s in specs}) == 2


def test_image_folder_hold_outs_take_every_class_in_proportion(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    for name, count in (("common", 30), ("rare", 10)):
        for i in range(count):
            write_png(root / name / f"{i}.png")
    data = load_dataset(DatasetConfig(name="image_folder", path=str(root), test=8, validation=0.25))
    assert np.bincount(data.y_test).tolist() == [6, 2]
    assert np.bincount(data.y_val).tolist() == [6, 2] and np.bincount(data.y_train).tolist() == [18, 6]
