"""Plots are real PNG files of the expected size with lines, error bars and bands on them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from orchestrator.answers import (
    DPI,
    FIGURE_SIZE,
    plot_curves,
    plot_metric,
    plot_time_vs_batch,
    QueryError,
    Where,
    learning_curves,
    select_trials,
)
from orchestrator.store import InMemoryResultsStore
from tests.conftest import REPO
from tests.test_query import _fill

pytestmark = pytest.mark.unit

PIL = pytest.importorskip("PIL.Image", reason="Pillow comes with matplotlib")
BLUE, ORANGE = (31, 119, 180), (255, 127, 14)  # matplotlib's first two line colours


def _pixels(path) -> np.ndarray:
    image = PIL.open(path)
    assert image.format == "PNG"
    assert image.size == (int(FIGURE_SIZE[0] * DPI), int(FIGURE_SIZE[1] * DPI))
    return np.asarray(image.convert("RGB")).astype(int)


def _count(pixels: np.ndarray, colour, tolerance=12) -> int:
    return int((np.abs(pixels - np.array(colour)).max(axis=2) <= tolerance).sum())


def _assert_drawn(pixels: np.ndarray) -> None:
    assert pixels.std() > 20  # not blank
    assert (pixels.min(axis=2) < 200).mean() > 0.01  # ink on more than 1% of the picture


@pytest.fixture
def store():
    return _fill(InMemoryResultsStore())


def test_metric_by_param_one_line_per_value_of_another(store, tmp_path):
    trials = select_trials(store, Where.of(sweep="a").with_default_status())
    path = plot_metric(trials, "activation", str(tmp_path / "sub" / "acc.png"), line="optimizer")
    pixels = _pixels(path)
    _assert_drawn(pixels)
    assert _count(pixels, BLUE) > 100 and _count(pixels, ORANGE) > 100  # two lines
    assert not list((tmp_path / "sub").glob(".tmp-*"))


def test_numeric_param_on_a_log_axis_without_a_line_param(tmp_path):
    table = pa.table({
        "learning_rate": [1e-4, 1e-4, 1e-3, 1e-3, 1e-2, 1e-2],
        "test_accuracy": [0.95, 0.97, 0.98, 0.99, 0.90, 0.80],
    })
    pixels = _pixels(plot_metric(table, "learning_rate", str(tmp_path / "lr.png")))
    _assert_drawn(pixels)
    assert _count(pixels, BLUE) > 100 and _count(pixels, ORANGE) == 0


def test_learning_curves_with_std_bands(store, tmp_path):
    curves = learning_curves(store, where=Where.of(sweep="a", params={"activation": "relu", "optimizer": "adam"}))
    assert curves.num_rows == 3 * 2  # three seeds, two epochs: one mean line with a band
    pixels = _pixels(plot_curves(curves, str(tmp_path / "curves.png"), metric="val_accuracy"))
    _assert_drawn(pixels)
    assert _count(pixels, BLUE) > 50 and _count(pixels, ORANGE) == 0
    band = tuple(round(0.2 * c + 0.8 * 255) for c in BLUE)  # the line's colour at alpha 0.2 on white
    assert _count(pixels, band, tolerance=6) > 5000  # val_accuracy differs by seed: a wide band

    two = learning_curves(store, where=Where.of(sweep="b", params={"optimizer": ["sgd", "rmsprop"]}))
    pixels = _pixels(plot_curves(two, str(tmp_path / "two.png"), metric="loss"))
    assert _count(pixels, BLUE) > 50 and _count(pixels, ORANGE) > 50


def test_wall_time_against_batch_size(tmp_path):
    table = pa.table({
        "batch_size": [32, 32, 64, 64, 128, 128] * 2,
        "optimizer": ["sgd"] * 6 + ["adam"] * 6,
        "total_seconds": [40.0, 42.0, 25.0, 26.0, 15.0, 15.5, 45.0, 44.0, 27.0, 28.0, 16.0, 17.0],
    })
    pixels = _pixels(plot_time_vs_batch(table, str(tmp_path / "time.png"), line="optimizer"))
    _assert_drawn(pixels)
    assert _count(pixels, BLUE) > 100 and _count(pixels, ORANGE) > 100
    with pytest.raises(QueryError, match="no column 'wall'"):
        plot_time_vs_batch(table, str(tmp_path / "x.png"), seconds="wall")


def test_nothing_to_plot_is_a_clear_error(tmp_path):
    with pytest.raises(QueryError, match="nothing to plot"):
        plot_metric(pa.table({"optimizer": pa.array([], pa.string()), "test_accuracy": pa.array([], pa.float64())}),
                    "optimizer", str(tmp_path / "none.png"))
    assert not (tmp_path / "none.png").exists()


def test_matplotlib_is_imported_only_to_draw():
    code = "import sys, orchestrator.answers; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
