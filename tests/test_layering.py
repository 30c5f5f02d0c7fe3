"""DESIGN.md's dependency direction and the house's shape (issue 15), enforced.

The shape is read statically, from the source: every import statement, those inside
functions too (a circle hidden in a function is still a circle)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.unit

PACKAGES = ("orchestrator", "trainers", "cluster")
MAX_LINES = 450
MAX_TOP_LEVEL_MODULES = 8


def _imported(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the three packages."""
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _core_modules() -> list[str]:
    return sorted(m for m in _modules() if m.split(".")[0] == "orchestrator" and not m.endswith("__main__"))


@pytest.mark.parametrize("module", _core_modules())
def test_orchestrator_core_imports_neither_tensorflow_nor_ray(module):
    loaded = _imported(module)
    assert not loaded & {"tensorflow", "ray", "keras", "cluster", "trainers"}


def test_trainers_never_import_ray():
    for path in (REPO / "trainers").rglob("*.py"):
        text = path.read_text()
        assert "import ray" not in text and "from ray" not in text, path


def _exports(init: Path, package: str) -> dict[str, str]:
    """Name -> the module a package's ``__init__`` takes it from (its re-exports)."""
    names = {}
    for node in ast.walk(ast.parse(init.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(package + "."):
            for alias in node.names:
                names[alias.asname or alias.name] = node.module
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports. ``from package import name`` counts as an
    import of the module that defines ``name`` (a package's face only hands names on)."""
    modules = _modules()
    exports = {m: _exports(p, m) for m, p in modules.items() if p.name == "__init__.py"}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    if sub in modules:
                        targets.append(sub)
                    else:
                        targets.append(exports.get(node.module, {}).get(alias.name, node.module))
            graph[module] |= {t for t in targets if t in modules and t != module}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_circle_finder_finds_a_circle():
    # The check below means something only if this one can fail.
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle():
    assert _circles(import_graph()) == []


def test_the_graph_sees_imports_inside_functions_and_through_package_faces():
    graph = import_graph()
    assert "cluster.executor" in graph["orchestrator.driver._runner"]  # imported inside run_experiment
    assert "orchestrator.plan._fusion" in graph["trainers.fused"]  # `from orchestrator.plan import fusion_key`


@pytest.mark.parametrize("module", sorted(_modules()))
def test_no_module_is_too_long_to_read_whole(module):
    lines = len(_modules()[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines; split it by responsibility"


def test_orchestrator_top_level_is_a_few_modules_beside_concept_packages():
    top = sorted(p.name for p in (REPO / "orchestrator").glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
    packages = {p.name for p in (REPO / "orchestrator").iterdir() if (p / "__init__.py").is_file()}
    assert packages == {"config", "search", "plan", "driver", "progress", "store", "answers", "cli"}


def test_plan_stays_light_for_the_trainers_that_import_it():
    # Every trainer process imports orchestrator.plan (fusion keys, stopping rules): the store's
    # pyarrow.dataset alone brings pandas (~0.2 s of start-up per trainer).
    assert not _imported("orchestrator.plan") & {"pyarrow", "pandas", "optuna", "scipy"}
