"""DESIGN.md's dependency direction, enforced."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.unit


def _imported(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", ["orchestrator", "orchestrator.cli", "orchestrator.store", "orchestrator.runner",
                                    "orchestrator.query", "orchestrator.plots", "orchestrator.sql",
                                    "orchestrator.api", "orchestrator.usercode"])
def test_orchestrator_core_imports_neither_tensorflow_nor_ray(module):
    loaded = _imported(module)
    assert not loaded & {"tensorflow", "ray", "keras", "cluster", "trainers"}


def test_trainers_never_import_ray():
    for path in (REPO / "trainers").rglob("*.py"):
        text = path.read_text()
        assert "import ray" not in text and "from ray" not in text, path
