"""The notebook example, executed by a real Jupyter kernel (nbclient): a model defined in a
cell reaches the Ray workers (cloudpickle, by value), a 2-trial sweep runs, the results read
back, the report shows inline. The sweep's cell shows one display updated in place (no line
per epoch, none of Ray's or TensorFlow's start-up output). The kernel is this interpreter,
through a kernel spec written for the test."""

from __future__ import annotations

import json
import re
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

    define, sweep = notebook.cells[1], notebook.cells[2]
    assert define.outputs == []  # defining the builder loads no TensorFlow here: no chatter
    displays = [o for o in sweep.outputs if o["output_type"] == "display_data"]
    streams = "".join(o.get("text", "") for o in sweep.outputs if o["output_type"] == "stream")
    assert len(displays) == 1, sweep.outputs  # one display, updated in place
    assert "2/2 trials, done" in displays[0]["data"]["text/plain"] and "<table" in displays[0]["data"]["text/html"]
    lines = sum(len((o.get("text") or o.get("data", {}).get("text/plain", "")).splitlines()) for o in sweep.outputs)
    assert lines <= 8, sweep.outputs  # headline, the trials, the summary: not a line per epoch
    assert not streams, streams  # no Ray / TensorFlow / tqdm start-up output
    summary = sweep.outputs[-1]["data"]["text/plain"]
    wall, of_sweep = (float(re.search(rf"{k}=([\d.]+)", summary).group(1)) for k in ("wall_seconds", "sweep_seconds"))
    assert wall > of_sweep > 0  # the wait includes Ray and the trainers starting
    report = notebook.cells[4].outputs[0]["data"]
    assert report["text/html"].startswith("<iframe srcdoc=") and "notebook-mlp" in report["text/plain"]

    rows = ParquetResultsStore(str(tmp_path / "orch-results")).read_trials("notebook-mlp").to_pylist()
    assert sorted(r["model_units"] for r in rows) == [32, 64]
    assert all(r["status"] == "completed" and r["builder"] == "__main__:build" for r in rows)
    shown = notebook.cells[3].outputs[0]["data"]["text/plain"]  # the last cell read them back
    assert "'model_units': 32" in shown and "'model_units': 64" in shown
