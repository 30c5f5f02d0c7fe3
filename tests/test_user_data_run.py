"""The user's own data, trained: colour images of any size through every model (TensorFlow),
and an npz of 32x32x3 images in 3 classes and an image folder through ``orch run`` on a real
local Ray, plus a bad npz refused before any trial with exit code 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from orchestrator.config import MODEL_PARAMS, ModelConfig, load_experiment, resolve_model
from orchestrator.store import ParquetResultsStore

SHAPE = (32, 32, 3)


def write_npz(path: Path, classes: int = 3, n_train: int = 96, n_test: int = 24, **overrides: np.ndarray) -> None:
    """Images whose class is their brightness, so one epoch learns something."""
    rng = np.random.default_rng(0)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % classes
        x = rng.integers(0, 40, (n, *SHAPE)) + (y * 100)[:, None, None, None]
        return x.astype(np.uint8), y

    (x_train, y_train), (x_test, y_test) = split(n_train), split(n_test)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test, **overrides}
    np.savez(path, **arrays)


@pytest.mark.tf
@pytest.mark.parametrize("name", sorted(MODEL_PARAMS))
def test_every_model_trains_on_32x32_colour_with_scaling_and_shifts(cpu_device, name: str) -> None:
    from trainers.builders import build_model

    model = build_model(resolve_model(ModelConfig(name=name)), SHAPE, 3, normalize=True, augment_shift=0.1)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.full((4, *SHAPE), 255, dtype=np.uint8)
    model.fit(x, np.arange(4) % 3, epochs=1, verbose=0)
    assert model.predict(x, verbose=0).shape == (4, 3)
    scaled = model.get_layer("scale_to_unit")(x)
    assert float(np.max(scaled)) == 1.0  # 255 -> 1 on every channel


# --- through orch run on a real local Ray ----------------------------------------------------


@pytest.fixture(scope="module")
def local_ray():
    pytest.importorskip("ray")
    from tests.conftest import private_ray

    with private_ray(2):
        yield


def experiment(directory: Path, dataset: str, epochs: int = 1) -> Path:
    path = directory / "exp.yaml"
    path.write_text(
        f"name: mine\ndataset:\n{dataset}\nmodel:\n  name: stride_conv\n"
        f"training:\n  epochs: {epochs}\n  batch_size: 32\noutputs:\n  tensorboard: false\n  checkpoint_every: 0\n"
    )
    return path


@pytest.mark.ray
def test_npz_of_32x32_colour_three_classes_trains_through_orch_run(local_ray, tmp_path: Path) -> None:
    from orchestrator.cli import main

    write_npz(tmp_path / "data.npz")
    # 72 training images, 3 steps an epoch: six epochs to learn brightness (measured 0.67 test).
    config = experiment(tmp_path, "  name: npz\n  path: data.npz\n  validation: 0.25", epochs=6)  # relative to exp.yaml
    store_dir = tmp_path / "store"
    assert main(["run", str(config), "--store", str(store_dir)]) == 0
    (trial,) = ParquetResultsStore(str(store_dir)).read_trials("mine").to_pylist()
    assert trial["status"] == "completed" and trial["dataset"] == "npz"
    # stride_conv on 32x32x3 with 3 outputs: conv 3->16, conv 16->16, 8*8*16 -> 64 -> 3
    assert trial["param_count"] == (5 * 5 * 3 * 16 + 16) + (5 * 5 * 16 * 16 + 16) + (8 * 8 * 16 * 64 + 64) + (64 * 3 + 3)
    assert trial["test_accuracy"] is not None and trial["test_accuracy"] > 1 / 3  # brightness is easy


@pytest.mark.ray
def test_image_folder_trains_through_run_experiment(local_ray, tmp_path: Path) -> None:
    from orchestrator.driver import run_experiment

    for c, name in enumerate(["dark", "light"]):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(10):
            Image.new("RGB", (12, 10), (c * 200 + i, 0, 0)).save(tmp_path / "imgs" / name / f"{i}.png")
    config = experiment(tmp_path, "  name: image_folder\n  path: imgs\n  image_size: [16, 16]\n  test: 4\n  validation: 2")
    store = ParquetResultsStore(str(tmp_path / "store"))
    summary = run_experiment(load_experiment(config), store)
    assert (summary.completed, summary.failed) == (1, 0)
    (trial,) = store.read_trials("mine").to_pylist()
    assert trial["dataset"] == "image_folder" and trial["image_size"] == [16, 16]


@pytest.mark.ray
def test_bad_npz_is_exit_2_naming_the_file_before_any_trial(local_ray, tmp_path: Path, capsys) -> None:
    from orchestrator.cli import main

    write_npz(tmp_path / "data.npz", y_train=np.arange(96) % 3 + 1)  # labels 1..3: 1-based
    config = experiment(tmp_path, "  name: npz\n  path: data.npz")
    store_dir = tmp_path / "store"
    assert main(["run", str(config), "--store", str(store_dir)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'data.npz'}: labels run to 3" in err and "subtract 1" in err
    assert ParquetResultsStore(str(store_dir)).read_trials().num_rows == 0
    assert not (store_dir / "trials").exists() and not (store_dir / "checkpoints").exists()


LOADER = '''
import os
from pathlib import Path

import numpy as np

Path(__file__).with_name("imported-by").write_text(str(os.getpid()))


def load(n=60):
    y = np.arange(n) % 4
    x = (np.zeros((n, 9, 9)) + y[:, None, None] * 60).astype(np.uint8)  # grey, class = brightness
    return (x[:48], y[:48]), (x[48:], y[48:])
'''


@pytest.mark.ray
def test_loader_is_imported_in_a_worker_not_the_driver(local_ray, tmp_path: Path) -> None:
    import os

    from orchestrator.driver import run_experiment

    (tmp_path / "my_data.py").write_text(LOADER)
    config = experiment(tmp_path, "  loader: my_data.py:load\n  params: {n: 60}")
    store = ParquetResultsStore(str(tmp_path / "store"))
    assert run_experiment(load_experiment(config), store).completed == 1
    assert int((tmp_path / "imported-by").read_text()) != os.getpid()
    (trial,) = store.read_trials("mine").to_pylist()
    assert trial["dataset"] == "loader" and trial["status"] == "completed"
