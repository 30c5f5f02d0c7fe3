"""From a model config to a compiled-ready Keras model, one path for every model.

resolve the builder -> call it -> wrap it:

- :func:`resolve_builder`: a built-in model's builder (trainers/models.py ``BUILDERS``), or the
  user's function, imported here (in a trainer or the validation task, never in the driver's
  core) from its file, its module, or as the function object itself.
- the builder is called as ``build(params, input_shape, num_classes)`` and returns an
  uncompiled ``keras.Model`` for float images in [0, 1] (or 0-255 with ``normalize: false``)
  of ``input_shape``, whose output is a softmax over ``num_classes``.
- :func:`trainers.assembly.assemble` puts the layers every model shares in front of it (uint8
  input, scaling, random shifts) and the L1/L2 penalty on its kernels.

:func:`build_model` does all three; the trainer compiles the result.

Never imports Ray.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from orchestrator.config import ModelConfig
from orchestrator.usercode import builder_code, builder_label, parse_builder
from trainers.assembly import assemble
from trainers.models import BUILDERS, Regularize, builtin_params

__all__ = ["BuilderError", "Builder", "build_model", "resolve_builder", "builder_params", "call_builder", "load_function"]

Builder = Callable[[dict[str, Any], tuple[int, ...], int], keras.Model]


class BuilderError(ValueError):
    """The user's builder cannot be used: one line saying why and how to fix it."""


class ParamReads:
    """Which ``model.params`` keys a builder looked at while it built (``read``; keys it asked
    for but was not given are there too), or ``everything`` when it iterated or copied the
    whole mapping. A key given that no build read is a typo or a leftover (see
    cluster/validation.py)."""

    def __init__(self) -> None:
        self.read: set[str] = set()
        self.everything = False


class _RecordingParams(dict):
    """``params`` as the builder gets it during the model check, noting each key it reads."""

    def __init__(self, data: dict[str, Any], reads: ParamReads) -> None:
        super().__init__(data)
        self._reads = reads

    def __getitem__(self, key: Any) -> Any:
        self._reads.read.add(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._reads.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: Any) -> bool:
        self._reads.read.add(key)
        return super().__contains__(key)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._reads.read.add(key)
        return super().setdefault(key, default)

    def pop(self, key: Any, *default: Any) -> Any:
        self._reads.read.add(key)
        return super().pop(key, *default)

    # Whole-mapping uses (``**params``, loops, copies): every key counts as read.
    def _all(self) -> None:
        self._reads.everything = True

    def __iter__(self):  # type: ignore[no-untyped-def]
        self._all()
        return super().__iter__()

    def keys(self):  # type: ignore[no-untyped-def]
        self._all()
        return super().keys()

    def items(self):  # type: ignore[no-untyped-def]
        self._all()
        return super().items()

    def values(self):  # type: ignore[no-untyped-def]
        self._all()
        return super().values()

    def copy(self) -> dict[str, Any]:
        self._all()
        return dict(super().items())


def builder_params(config: ModelConfig) -> dict[str, Any]:
    """What the builder receives as ``params``: a copy of ``model.params`` for a user
    builder; for a built-in, its fields (defaults filled by sweep expansion)."""
    if config.builder is not None:
        return {k: list(v) if isinstance(v, list) else v for k, v in config.params.items()}
    return builtin_params(config)


def resolve_builder(config: ModelConfig, code: str | None = None) -> Builder:
    """The function that builds ``config``'s model. ``code``: the builder's source hash the
    trial id was made from; the code imported must be that code (an edit since the sweep was
    planned would otherwise run under the old trial id)."""
    if config.builder is None:
        builder = BUILDERS.get(config.name)
        if builder is None:
            raise BuilderError(f"unknown model {config.name!r}; choose one of {', '.join(BUILDERS)}")
        return builder
    ref = parse_builder(config.builder)
    if ref.kind == "function":
        return ref.function
    if ref.kind == "file":
        module = _load_file(ref.location, ref.name, code)
    else:
        module = _load_module(ref.location, config.builder, code)
    function = getattr(module, ref.name, None)
    if function is None:
        raise BuilderError(f"model.builder: {ref.location} has no function {ref.name!r}")
    if not callable(function):
        raise BuilderError(f"model.builder: {ref.location}:{ref.name} is not a function (it is {type(function).__name__} "
                           f"{_short(function)}); name a def in the file")
    return function


def load_function(value: str, key: str) -> Any:
    """The user's function behind a reference ``'file.py:fn'`` / ``'module:fn'`` (a loss, a
    metric), found as builders are (shipped copies first); BuilderError naming ``key``."""
    ref = parse_builder(value)
    module = _load_file(ref.location, ref.name, None, key) if ref.kind == "file" else _load_module(ref.location, value, None, key)
    function = getattr(module, ref.name, None)
    if not callable(function):
        raise BuilderError(f"{key}: {ref.location} has no function {ref.name!r}")
    return function


def call_builder(builder: Builder, params: dict[str, Any], input_shape: tuple[int, ...], num_classes: int,
                 label: str) -> keras.Model:
    """Call the builder; anything it raises or returns other than a ``keras.Model`` is a
    :class:`BuilderError` naming the builder and the cause."""
    try:
        model = builder(params, tuple(input_shape), num_classes)
    except Exception as e:  # noqa: BLE001 - the user's code: any error is theirs to see, in one line
        raise BuilderError(f"model.builder {label} raised {type(e).__name__}: {_one_line(e)}") from e
    if not isinstance(model, keras.Model):
        raise BuilderError(
            f"model.builder {label} returned {type(model).__name__}, expected a keras.Model "
            "(e.g. return keras.Sequential([...]) or keras.Model(inputs, outputs))"
        )
    return model


def build_model(
    config: ModelConfig,
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    normalize: bool = True,
    kernel_regularizer: keras.regularizers.Regularizer | None = None,
    regularize: Regularize = "all",
    augment_shift: float = 0.0,
    builder_code: str | None = None,
    reads: ParamReads | None = None,
    input_dtype: str = "uint8",
) -> keras.Model:
    """Build ``config``'s model (a built-in ``config.name`` or the user's ``config.builder``)
    for uint8 images of ``input_shape`` and ``num_classes`` classes.

    The model's first layer converts the images to float32 and, when ``normalize``, scales
    them to [0, 1]; otherwise the raw 0-255 values go in, as some references did. The
    built-ins end with a softmax over ``num_classes``; a builder's model must too.
    ``kernel_regularizer`` is applied to the kernels of the conv layers, the dense layers
    (output included) or ``"all"``, per ``regularize``. ``augment_shift`` > 0 adds a random
    translation by up to that fraction of the image size, active in training only (Keras
    skips it in evaluate and predict); it has no weights, so the parameter count is the
    architecture's. ``builder_code``: the source hash the trial id was made from.
    ``reads``: note which ``model.params`` keys a user builder reads (the model check).

    Raises ValueError for an unknown model, an unknown ``regularize``, or a ``filters`` /
    ``hidden_units`` list of the wrong length for the model; ``BuilderError`` (a ValueError)
    for a user builder that cannot be imported, raises, or returns no keras.Model. Call
    inside ``strategy.scope()`` so the variables are placed by the strategy.
    """
    builder = resolve_builder(config, builder_code)
    if not num_classes and config.builder is None:
        raise BuilderError(f"model: the built-in {config.name} is a classifier, and these labels are float "
                           "regression targets; give your own model (model.builder: 'file.py:function') or integer class labels")
    # A regression's builder gets num_classes None: its output is the targets' shape.
    num_classes = num_classes or None  # type: ignore[assignment]
    params = builder_params(config)
    if reads is not None and config.builder is not None:
        params = _RecordingParams(params, reads)
    if config.builder is None:
        def build() -> keras.Model:
            return builder(params, tuple(input_shape), num_classes)
    else:
        label = builder_label(config.builder)

        def build() -> keras.Model:
            return call_builder(builder, params, input_shape, num_classes, label)

    def assembled() -> keras.Model:
        return assemble(
            build, input_shape, normalize=normalize, augment_shift=augment_shift,
            kernel_regularizer=kernel_regularizer, regularize=regularize, name=config.name,
            input_dtype=input_dtype,
        )

    if config.builder is None:
        return assembled()
    try:
        return assembled()
    except BuilderError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's model does not connect to the images
        raise BuilderError(f"model.builder {label}: the model fails on {tuple(input_shape)} inputs: "
                           f"{type(e).__name__}: {_one_line(e)}") from e


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _one_line(error: BaseException) -> str:
    """The first non-empty line of an error message (Keras' run to many lines)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _digest(path: Path, name: str) -> str:
    return f"{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}:{name}"


def _candidates(path: Path) -> list[Path]:
    """Where a builder file may be on this node: copies Ray's runtime environment shipped
    (``py_modules`` and a job's ``working_dir`` are directories on ``sys.path``, holding the
    file or the experiment's directory), then the path itself. The caller picks the one whose
    source is the code the trial id was made from."""
    tails = [Path(*path.parts[-k:]) for k in range(1, min(len(path.parts), 4))]
    found = [Path(entry or ".") / tail for entry in [*sys.path, str(Path.cwd())] for tail in tails]
    return [*dict.fromkeys(p for p in [*found, path] if p.is_file())]


_LOADED: dict[str, Any] = {}  # code -> module: a file is executed once per version per process


def _load_file(location: str, name: str, code: str | None, what: str = "model.builder") -> Any:
    path = Path(location).expanduser()
    candidates = _candidates(path)
    chosen = next((p for p in candidates if code is None or _digest(p, name) == code), None)
    if chosen is None:
        if candidates:
            raise BuilderError(
                f"{what}: {path} changed since the sweep was planned; run the same command again "
                "(trials already stored are kept)"
            )
        raise BuilderError(
            f"{what}: {path} is not on this node ({'shipped copy not found; ' if code else ''}"
            "run through `orch run --address` or `orch submit`, which ship it, or put it on a shared file system)"
        )
    key = code or _digest(chosen, name)
    if key not in _LOADED:
        module_name = f"orch_user_{key.replace(':', '_')}"
        spec = importlib.util.spec_from_file_location(module_name, chosen)
        if spec is None or spec.loader is None:
            raise BuilderError(f"{what}: cannot import {chosen} (not a Python file?)")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # pickling by reference, dataclasses and typing need it there
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # noqa: BLE001 - the user's module failed at import
            del sys.modules[module_name]
            raise BuilderError(f"{what}: importing {chosen} raised {type(e).__name__}: {_one_line(e)}") from e
        _LOADED[key] = module
    return _LOADED[key]


def _load_module(name: str, builder: str, code: str | None, what: str = "model.builder") -> Any:
    try:
        module = importlib.import_module(name)
        if code is not None and builder_code(builder) != code and name in sys.modules:
            module = importlib.reload(module)  # this long-lived process imported an older version
    except Exception as e:  # noqa: BLE001 - the user's module failed at import
        raise BuilderError(f"{what}: importing {name} raised {type(e).__name__}: {_one_line(e)}") from e
    return module
