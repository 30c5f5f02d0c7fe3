"""The user's own data as arrays: ``dataset.name: npz`` (a Keras-layout ``.npz`` file) and
``dataset.name: loader`` (a function of the user's, imported here, in the Ray worker that
loads data, never in the driver).

The loader contract: ``function(**dataset.params)`` returns either a mapping with
``x_train, y_train, x_test, y_test`` (and optionally ``x_val, y_val``) or Keras'
``load_data()`` shape ``((x_train, y_train), (x_test, y_test))``, as numpy arrays; images
``(N, H, W)`` or ``(N, H, W, C)`` of 0-255 pixels, labels integers ``0..classes-1``.
Everything it returns goes through :func:`check_arrays`, as every other dataset does.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from orchestrator.config import DatasetConfig
from orchestrator.data_identity import split_loader
from orchestrator.errors import ConfigError
from trainers.data._arrays import DatasetArrays, DatasetError, with_validation_tail
from trainers.data._idx import read_keras_npz

__all__ = ["load_npz", "load_from_loader", "resolve_loader"]


def load_npz(config: DatasetConfig) -> DatasetArrays:
    path = Path(config.path or "")
    if not path.is_file():
        raise DatasetError(f"{path}: no such file; dataset.path names an .npz with x_train, y_train, x_test, y_test")
    return with_validation_tail(config, read_keras_npz(path), None, str(path))


def load_from_loader(config: DatasetConfig) -> DatasetArrays:
    reference = config.loader or ""
    function = resolve_loader(reference)
    _refuse_unknown_params(function, config.params, reference)
    try:
        returned = function(**config.params)
    except Exception as e:  # the user's code can fail in any way; say where and how
        raise DatasetError(
            f"loader {reference}: raised {type(e).__name__}: {_first_line(e)}; fix the loader "
            f"(it is called as {function.__name__}(**dataset.params) with params {config.params})"
        ) from e
    return with_validation_tail(config, _as_mapping(returned, reference), None, f"loader {reference}")


def _refuse_unknown_params(function: Callable[..., Any], params: Mapping[str, Any], reference: str) -> None:
    """A ``dataset.params`` key the loader has no argument for is refused, with a "did you
    mean" (a typo would otherwise surface as a TypeError, or change the trial ids and
    nothing else). A loader with ``**kwargs`` takes any key."""
    import difflib
    import inspect

    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin or C function: Python's own call check
        return
    arguments = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in arguments.values()):
        return
    names = [n for n, p in arguments.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in params:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise DatasetError(f"loader {reference}: dataset.params.{key}: the loader takes no argument {key!r}; "
                               f"{hint}it takes: {', '.join(names) or 'nothing'}")


def resolve_loader(reference: str) -> Callable[..., Any]:
    """Import ``"file.py:function"`` or ``"module:function"`` and return the function.
    A file is imported under a name of its own (its path's digest), with its directory
    first on ``sys.path`` meanwhile, so that it can import modules beside it."""
    try:
        target, name, is_file = split_loader(reference)
    except ConfigError as e:
        raise DatasetError(str(e)) from e
    where = f"loader {reference}"
    try:
        if is_file:
            path = Path(target)
            if not path.is_file():
                raise DatasetError(f"{where}: no such file {path}; check dataset.loader (relative to the experiment file)")
            module = _import_file(path)
        else:
            module = importlib.import_module(target)
    except DatasetError:
        raise
    except ModuleNotFoundError as e:
        raise DatasetError(f"{where}: cannot import {e.name!r}; install it or give the loader's file: \"path/to/file.py:{name}\"") from e
    except Exception as e:  # importing runs the user's module code
        raise DatasetError(f"{where}: importing it raised {type(e).__name__}: {_first_line(e)}; fix the file") from e
    function = getattr(module, name, None)
    if not callable(function):
        defined = ", ".join(sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))[:8])
        listed = f" (it defines: {defined})" if defined else ""
        raise DatasetError(f"{where}: {target} has no function {name!r}{listed}; fix dataset.loader")
    return function


def _import_file(path: Path) -> Any:
    name = "orch_user_loader_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DatasetError(f"{path}: not a Python file; dataset.loader names FILE.py:FUNCTION")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def _as_mapping(returned: Any, reference: str) -> Mapping[str, Any]:
    if isinstance(returned, Mapping):
        return returned
    if isinstance(returned, (tuple, list)) and len(returned) == 2 and all(
        isinstance(pair, (tuple, list)) and len(pair) == 2 for pair in returned
    ):
        (x_train, y_train), (x_test, y_test) = returned
        return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    raise DatasetError(
        f"loader {reference}: returned {type(returned).__name__}; expected a dict with x_train, y_train, "
        "x_test, y_test (optionally x_val, y_val) or ((x_train, y_train), (x_test, y_test)) as Keras' load_data()"
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "(no message)"
