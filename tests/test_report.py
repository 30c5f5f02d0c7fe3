"""``orch report`` as a person meets it: the page opened in a real headless Chromium, with no
network, shows its charts drawn, the params by name, the importance section and every
trial id; a screenshot is not blank. Plus the page's contents, bad input, and imports."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
import sys

import numpy as np
import pytest

from orchestrator.answers import Report, build_report, param_importance, select_trials, Where
from orchestrator.cli import main
from orchestrator.store import ParquetResultsStore
from tests.browser import dump_dom, screenshot
from tests.conftest import REPO
from tests.report_fixtures import GRID, SEARCH, fill

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store")
    store = ParquetResultsStore(str(path))
    specs = fill(store, GRID, SEARCH)
    return store, specs


@pytest.fixture(scope="module")
def grid_page(store, tmp_path_factory):
    results, _ = store
    return build_report(results, ["grid"]).save(tmp_path_factory.mktemp("page") / "grid.html")


def test_the_page_in_chromium_shows_charts_params_importance_and_every_trial(store, grid_page):
    _, specs = store
    dom = dump_dom(grid_page)
    assert len(re.findall(r'data-orch-drawn="1"', dom)) >= 4  # Plotly finished drawing each chart
    assert re.search(r'data-orch-rendered-ms="\d+"', dom)  # ... every one of them
    assert dom.count("<svg") >= 4 and "<canvas" in dom  # SVG charts and the WebGL parallel coordinates
    for word in ("optimizer", "activation", "importance", "fANOVA"):
        assert word in dom
    ids = [s.trial_id for s in specs["grid"]]
    assert len(ids) == 8 and all(i in dom for i in ids)
    assert "8 completed trials" in dom  # what the importance rests on


def test_a_screenshot_of_the_page_is_not_blank(grid_page, tmp_path):
    from PIL import Image

    pixels = np.asarray(Image.open(screenshot(grid_page, tmp_path / "shot.png")).convert("RGB")).astype(int)
    assert pixels.shape == (3000, 1400, 3)
    ink = pixels.min(axis=2) < 200
    assert ink.mean() > 0.02  # text, tables and charts: measured ~5 %
    rows = ink.reshape(10, 300, 1400).mean(axis=(1, 2))
    assert (rows > 0.005).sum() >= 8  # drawn all the way down, not one block at the top
    colours = {tuple(p) for p in pixels[::7, ::7].reshape(-1, 3) if p.max() - p.min() > 60}
    assert len(colours) > 50  # coloured lines and markers, not only black text


def test_the_page_is_self_contained(grid_page):
    text = Path(grid_page).read_text(encoding="utf-8")
    assert text.count("<script") >= 5 and not re.search(r"<script[^>]+src=", text)
    assert not re.search(r"<link[^>]+href=", text) and not re.search(r"<img[^>]+src=\"?http", text)
    assert text.count("Plotly.newPlot") >= 4 and text.count("plotly.js v") == 1  # the library once
    assert text.count("<script>setTimeout(function(){") == 5  # each chart drawn in its own task, after parsing


def test_several_sweeps_are_compared(store, tmp_path):
    results, specs = store
    report = build_report(results, ["grid", "search"])
    assert report.sweeps == ("grid", "search") and report.trials == 32
    assert "Sweeps compared" in report.html and "search against grid" in report.html
    assert all(s.trial_id in report.html for s in specs["search"])


def test_the_sweep_comparison_keeps_to_the_where_conditions(store):
    from orchestrator.answers import parse_where
    from orchestrator.answers._report_data import gather_report

    results, _ = store
    data = gather_report(results, ["grid", "search"], where=parse_where(["activation=relu"]))
    (_, _, _, table), = data.comparisons
    # The grid has relu and sigmoid configs (2 of its 4 are sigmoid); the search is all relu.
    assert "sigmoid" not in str(table.to_pylist())
    assert sum(table["trials_a"].to_pylist()) == 4  # grid: relu x {sgd, adam} x 2 seeds


def test_list_params_and_a_single_trial_are_reported():
    from orchestrator.store import InMemoryResultsStore

    store = InMemoryResultsStore()
    fill(store, {"name": "lists", "model": {"name": "lenet5_wide"}, "training": {"epochs": 2},
                 "sweep": {"grid": {"model.filters": [[8, 16], [16, 32]]}, "seeds": [0, 1]}},
         {"name": "one", "training": {"epochs": 1}})
    lists = build_report(store, ["lists"])
    assert lists.charts == 5 and "[8, 16]" in lists.html and "[16, 32]" in lists.html
    one = build_report(store, ["one"])
    assert "Nothing varied" in one.html and "no importance: fewer than 3 completed trials" in one.html


def test_the_search_report_uses_a_log_axis_and_short_numbers(store):
    results, _ = store
    html = build_report(results, ["search"]).html
    # log: the two the space draws log-uniformly; dropout (uniform) stays linear though it spans decades
    assert "learning rate (log)" in html and "batch size (log)" in html and "dropout (log)" not in html
    assert re.search(r"<td>learning_rate</td><td>12 values from [0-9.e-]+ to [0-9.e-]+ \(log scale\)</td>", html)
    assert re.search(r"<td>dropout</td><td>12 values from [0-9.]+ to [0-9.]+</td>", html)
    assert "0.0018107254066631083" not in html


def test_importance_names_the_param_that_matters(store):
    results, _ = store
    trials = select_trials(results, Where.of(sweep="search").with_default_status())
    importance = param_importance(trials, ["learning_rate", "batch_size", "dropout"], "test_accuracy",
                                  log_params={"learning_rate", "batch_size"})
    assert list(importance.values)[0] == "learning_rate"  # the fixture's accuracy hangs on it
    assert abs(sum(importance.values.values()) - 1) < 1e-6
    assert importance.describe() == "fANOVA (Optuna) over 24 completed trials"
    sampled = param_importance(trials, ["learning_rate"], "test_accuracy", limit=10)
    assert sampled.used == 10 and "a random sample of 10 of 24 completed trials" in sampled.describe()


def test_in_a_notebook_the_report_shows_itself(store):
    results, _ = store
    report = build_report(results, ["grid"])
    assert isinstance(report, Report) and report._repr_html_().startswith("<iframe srcdoc=")
    assert repr(report) == "Report(grid: 8 trials, 5 charts)"


@pytest.mark.parametrize("argv, message", [
    (["nope"], "no sweep 'nope' in store"),
    (["grid", "--where", "status=failed"], "sweep 'grid' has no completed trial with a val_accuracy"),
    (["grid", "-o", "/proc/no/r.html"], "-o '/proc/no/r.html': no directory"),
    (["grid", "-o", "r.png"], "a report is an HTML file"),
    (["grid", "-o", "/proc/r.html"], "cannot write the report to '/proc/r.html'"),
])
def test_bad_input_is_one_line_and_exit_2(store, tmp_path, capsys, argv, message):
    results, _ = store
    if "-o" not in argv:
        argv = [*argv, "-o", str(tmp_path / "r.html")]
    assert main(["report", *argv, "--store", results.uri]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()


def test_the_cli_writes_the_page(store, tmp_path, capsys):
    results, _ = store
    assert main(["report", "grid", "--store", results.uri, "-o", str(tmp_path / "r.html")]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "r.html").stat().st_size > 4_000_000


def test_plotly_and_optuna_are_imported_only_to_make_a_report():
    code = "import sys, orchestrator, orchestrator.answers, orchestrator.cli; print([m for m in ('plotly', 'optuna') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
