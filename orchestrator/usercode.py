"""The user's model builder as the core sees it: a reference, its source, its identity.

``model.builder`` is ``"path/to/file.py:function"``, ``"package.module:function"`` or (from
the Python API) a function object. The core never imports user code: it reads the file's
bytes (or the function's source text) to check that the function is there and to hash it
into every trial id, so that editing the model re-runs its trials and an unchanged file keeps
its stored results. The code is imported only where trainers run (trainers/builders.py) and in
one validation task before any trial starts (cluster/validation.py).

Pure Python: imports neither TensorFlow nor Ray.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "BuilderRef", "parse_builder", "absolute_builder", "builder_problem", "builder_code", "builder_label",
    "builder_source_file", "files_to_ship",
]


@dataclass(frozen=True)
class BuilderRef:
    """Where a builder is: ``kind`` "file" (``location`` a path), "module" (a dotted module
    name) or "function" (``function`` is the object itself)."""

    kind: Literal["file", "module", "function"]
    location: str
    name: str
    function: Callable[..., Any] | None = None


def parse_builder(value: str | Callable[..., Any]) -> BuilderRef:
    """Split a builder reference (already checked for form by the config loader)."""
    if callable(value):
        return BuilderRef("function", getattr(value, "__module__", "") or "", getattr(value, "__qualname__", repr(value)), value)
    location, _, name = value.rpartition(":")
    is_file = location.endswith(".py") or "/" in location or os.sep in location
    return BuilderRef("file" if is_file else "module", location, name)


def absolute_builder(value: Any, base_dir: str | Path) -> Any:
    """``value`` with a relative file path made absolute against ``base_dir`` (the
    experiment file's directory); modules, functions and absolute paths are left as they are."""
    if not isinstance(value, str) or ":" not in value:
        return value
    ref = parse_builder(value)
    if ref.kind != "file" or os.path.isabs(os.path.expanduser(ref.location)):
        return value
    return f"{(Path(base_dir) / ref.location).resolve()}:{ref.name}"


def builder_problem(value: Any) -> str | None:
    """What is wrong with a builder reference that can be told without importing it (file
    missing, no such function in it, module not found, source not readable), or None.
    Cached per file version: the rules ask once per distinct sweep point."""
    if not isinstance(value, str):
        return _problem(value)
    try:
        stat = builder_source_file(value).stat()
    except (LookupError, OSError):
        return _problem(value)
    key = (value, stat.st_mtime_ns, stat.st_size)
    if key not in _PROBLEMS:
        _PROBLEMS[key] = _problem(value)
    return _PROBLEMS[key]


_PROBLEMS: dict[tuple[str, int, int], str | None] = {}


def _problem(value: Any) -> str | None:
    ref = parse_builder(value)
    if ref.kind == "function":
        try:
            _function_source(ref.function)
        except (OSError, TypeError):
            return (f"cannot read the source of {ref.name!r} (defined in an interactive session?), so it "
                    "cannot be part of the trial id; put it in a file and give builder: 'file.py:function'")
        return None
    try:
        path = builder_source_file(value)
    except LookupError as e:
        return str(e)
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as e:
        return f"{path}: invalid Python at line {e.lineno}: {e.msg}; fix the file"
    except OSError as e:
        return f"cannot read {path}: {e.strerror or e}"
    names = _top_level_names(tree)
    if ref.name in names or "*" in names:
        return None
    close = difflib.get_close_matches(ref.name, sorted(n for n in names if n != "*"), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "; define it at the top level of the file"
    return f"{path} defines no function {ref.name!r}{hint}"


def builder_source_file(value: Any) -> Path:
    """The file that holds the builder's code (for a file reference the file itself, for a
    module the module's source file), found without importing anything. LookupError with
    the fix when there is none."""
    ref = parse_builder(value)
    if ref.kind == "function":
        raise LookupError(f"builder {ref.name!r} is a Python function, not a file")
    if ref.kind == "file":
        path = Path(os.path.expanduser(ref.location))
        if not path.is_file():
            what = "a directory" if path.is_dir() else "no such file"
            raise LookupError(f"{path}: {what}; give the path of a Python file (relative to the experiment file)")
        return path
    path = _module_file(ref.location)
    if path is None:
        raise LookupError(
            f"cannot find module {ref.location!r} on the Python path; install it, or give a file "
            f"path instead: builder: 'path/to/{ref.location.rsplit('.', 1)[-1]}.py:{ref.name}'"
        )
    return path


def builder_code(value: Any) -> str:
    """The builder's identity in trial ids: a hash of its file's (or module's) source, or
    of the function's own source, and the function's name. Cached per file version."""
    ref = parse_builder(value)
    if ref.kind == "function":
        source = _function_source(ref.function).encode()
    else:
        path = builder_source_file(value)
        stat = path.stat()
        return _file_code(str(path.resolve()), stat.st_mtime_ns, stat.st_size, ref.name)
    return f"{hashlib.sha256(source).hexdigest()[:16]}:{ref.name}"


_FILE_CODES: dict[tuple[str, int, int, str], str] = {}


def _file_code(path: str, mtime_ns: int, size: int, name: str) -> str:
    key = (path, mtime_ns, size, name)
    if key not in _FILE_CODES:
        _FILE_CODES[key] = f"{hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]}:{name}"
    return _FILE_CODES[key]


def builder_label(value: Any) -> str:
    """How the results tables name a builder: the reference as resolved, or
    ``module:function`` for a function object."""
    ref = parse_builder(value)
    return f"{ref.location}:{ref.name}" if ref.kind == "function" else value


def _function_source(function: Any) -> str:
    source = inspect.getsource(function)
    if not source.strip():
        raise OSError("empty source")
    return source


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.If, ast.Try)):  # definitions under a guard count too
            names.update(_top_level_names(ast.Module(body=[*node.body, *getattr(node, "orelse", [])], type_ignores=[])))
    return names


def _module_file(module: str) -> Path | None:
    """The source file of ``module`` without running it: the top-level package is found by
    the import system's finders (which do not execute code), submodules by their paths."""
    top, *rest = module.split(".")
    if top in sys.modules and getattr(sys.modules[top], "__spec__", None) is not None:
        spec = sys.modules[top].__spec__
    else:
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return None
    if spec is None:
        return None
    if not rest:
        return Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None
    for location in spec.submodule_search_locations or ():
        base = Path(location).joinpath(*rest)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def files_to_ship(builder: Any) -> list[str]:
    """The user files a cluster's nodes need for this builder: its file, for a file
    reference (a module must be installed on the nodes; a function travels pickled)."""
    if builder is None or parse_builder(builder).kind != "file":
        return []
    return [str(builder_source_file(builder).resolve())]
