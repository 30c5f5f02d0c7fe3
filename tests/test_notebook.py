"""The notebook example, executed by a real Jupyter kernel (nbclient): a model defined in a
cell reaches the Ray workers (cloudpickle, by value), a 2-trial sweep runs, the results read
back. The kernel is this interpreter, through a kernel spec written for the test."""

from __future__ import annotations

import json
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from orchestrator.store import ParquetResultsStore  # noqa: E402
from tests.conftest import REPO  # noqa: E402

pytestmark = pytest.mark.ray


def test_the_example_notebook_runs_a_sweep_of_a_model_defined_in_it(tmp_path, monkeypatch):
    # A kernel spec naming this interpreter: the venv's python, whatever is on PATH.
    spec_dir = tmp_path / "jupyter" / "kernels" / "orch-test"
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "orch test", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PYTHONPATH", f"{REPO}:{__import__('os').environ.get('PYTHONPATH', '')}")

    notebook = nbformat.read(REPO / "examples" / "notebook.ipynb", as_version=4)
    client = nbclient.NotebookClient(notebook, kernel_name="orch-test", timeout=600,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError with the cell's traceback on any error

    rows = ParquetResultsStore(str(tmp_path / "orch-results")).read_trials("notebook-mlp").to_pylist()
    assert sorted(r["model_units"] for r in rows) == [32, 64]
    assert all(r["status"] == "completed" and r["builder"] == "__main__:build" for r in rows)
    shown = notebook.cells[3].outputs[0]["data"]["text/plain"]  # the last cell read them back
    assert "'model_units': 32" in shown and "'model_units': 64" in shown
