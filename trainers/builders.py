"""From a model config to a compiled-ready Keras model, one path for every model.

resolve the builder -> call it -> wrap it:

- :func:`resolve_builder`: a built-in model's builder (trainers/models.py ``BUILDERS``), or the
  user's function, imported here (in a trainer or the validation task, never in the driver's
  core) from its file, its module, or as the function object itself.
- the builder is called as ``build(params, input_shape, num_classes)`` and returns an
  uncompiled ``keras.Model`` for float images in [0, 1] (or 0-255 with ``normalize: false``)
  of ``input_shape``, whose output is a softmax over ``num_classes``.
- :func:`assemble` puts the layers every model shares in front of it (uint8 input, scaling,
  random shifts) and the L1/L2 penalty on its kernels; the trainer compiles the result.

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
from orchestrator.usercode import builder_code, parse_builder

__all__ = ["BuilderError", "Builder", "resolve_builder", "builder_params", "call_builder", "assemble", "regularize_kernels"]

Builder = Callable[[dict[str, Any], tuple[int, ...], int], keras.Model]


class BuilderError(ValueError):
    """The user's builder cannot be used: one line saying why and how to fix it."""


def builder_params(config: ModelConfig) -> dict[str, Any]:
    """What the builder receives as ``params``: a copy of ``model.params`` for a user
    builder; for a built-in, its fields (defaults filled by sweep expansion)."""
    if config.builder is not None:
        return {k: list(v) if isinstance(v, list) else v for k, v in config.params.items()}
    from trainers.models import builtin_params

    return builtin_params(config)


def resolve_builder(config: ModelConfig, code: str | None = None) -> Builder:
    """The function that builds ``config``'s model. ``code``: the builder's source hash the
    trial id was made from; the code imported must be that code (an edit since the sweep was
    planned would otherwise run under the old trial id)."""
    if config.builder is None:
        from trainers.models import BUILDERS

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


def assemble(
    build: Callable[[], keras.Model],
    input_shape: tuple[int, ...],
    *,
    normalize: bool = True,
    augment_shift: float = 0.0,
    kernel_regularizer: keras.regularizers.Regularizer | None = None,
    regularize: str = "all",
    name: str | None = None,
) -> keras.Model:
    """The trial's model: uint8 input -> float (scaled to [0, 1] when ``normalize``) ->
    random shifts (``augment_shift`` > 0, training only) -> the built model.

    Every layer draws its seed from the trial's global seed when it is made, so the order in
    which layers are made is part of a trial's result. The random-shift layer is made after
    the builder's own layers (a built-in makes it, through :func:`shared_layers`, just before
    its output layer, as it always did: its weights, and so its results, are unchanged). A
    ``Sequential`` model's
    layers are spliced in (a flat model, as the built-ins always were); any other model is
    one layer. ``kernel_regularizer`` goes on the kernels of the Conv and Dense layers per
    ``regularize`` ("all", "conv", "dense"), the user's layers included."""
    if regularize not in ("all", "conv", "dense"):
        raise ValueError(f"regularize: expected 'all', 'conv' or 'dense', got {regularize!r}")
    _SHARED[:] = [_Shared(augment_shift)]
    try:
        built = build()
        augmentation = shared_layers()  # made now if the builder did not ask (user builders)
    finally:
        _SHARED.clear()
    front = [keras.Input(shape=tuple(input_shape), dtype="uint8"), _to_float(normalize), *augmentation]
    body = list(built.layers) if isinstance(built, keras.Sequential) else [built]
    model = keras.Sequential([*front, *body], name=name or built.name)
    if kernel_regularizer is not None:
        regularize_kernels(model, kernel_regularizer, regularize)
    return model


class _Shared:
    """The shared seeded layers of the model being assembled, made once, when first asked."""

    def __init__(self, shift: float) -> None:
        self._shift = shift
        self._layers: list[keras.layers.Layer] | None = None

    def layers(self) -> list[keras.layers.Layer]:
        if self._layers is None:
            self._layers = _augmentation(self._shift)
        return self._layers


# The model being assembled in this process (one at a time: a trainer builds one model at once).
_SHARED: list[_Shared] = []


def shared_layers() -> list[keras.layers.Layer]:
    """The shared seeded layers (random shifts) of the model being assembled, made on the
    first call: the built-ins call this just before making their output layer, so that the
    layers are made in the order they always were. [] outside :func:`assemble`."""
    return _SHARED[0].layers() if _SHARED else []


def regularize_kernels(model: keras.Model, penalty: keras.regularizers.Regularizer, which: str) -> None:
    """Add ``penalty`` of every Conv (``which`` "conv" or "all") and Dense ("dense" or
    "all") kernel to the model's loss, nested models included; biases never. Keras 3 sums
    the regularizers of a model's variables into its losses, so setting one on a built
    kernel is the same as passing ``kernel_regularizer`` to the layer."""
    kinds: tuple[type, ...] = ()
    if which in ("all", "conv"):
        kinds += (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
                  keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D, keras.layers.Conv2DTranspose)
    if which in ("all", "dense"):
        kinds += (keras.layers.Dense,)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, kinds) and getattr(layer, "kernel", None) is not None:
            layer.kernel.regularizer = penalty
            layer.kernel_regularizer = penalty  # what the layer's config (and a saved model) says


def _augmentation(shift: float) -> list[keras.layers.Layer]:
    """Random shifts of the training images, filled with 0 (the background of MNIST-like
    images, scaled or not). Seeded by the trial's global seed."""
    if not shift:
        return []
    return [keras.layers.RandomTranslation(shift, shift, fill_mode="constant", fill_value=0.0, name="random_shift")]


def _to_float(normalize: bool) -> keras.layers.Rescaling:
    """The uint8 -> float32 input layer: scaled to [0, 1], or the raw 0-255 values.

    Unscaled is ``Rescaling(1.0)``, i.e. a bare cast: Keras' autocasting converts only float
    inputs, and a built-in layer keeps saved models loadable without this module (a Lambda
    or custom cast layer would need it, or unsafe deserialisation).
    """
    if normalize:
        return keras.layers.Rescaling(1.0 / 255, name="scale_to_unit")
    return keras.layers.Rescaling(1.0, name="cast_to_float")


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


def _load_file(location: str, name: str, code: str | None) -> Any:
    path = Path(location).expanduser()
    candidates = _candidates(path)
    chosen = next((p for p in candidates if code is None or _digest(p, name) == code), None)
    if chosen is None:
        if candidates:
            raise BuilderError(
                f"model.builder: {path} changed since the sweep was planned; run the same command again "
                "(trials already stored are kept)"
            )
        raise BuilderError(
            f"model.builder: {path} is not on this node ({'shipped copy not found; ' if code else ''}"
            "run through `orch run --address` or `orch submit`, which ship it, or put it on a shared file system)"
        )
    key = code or _digest(chosen, name)
    if key not in _LOADED:
        module_name = f"orch_user_{key.replace(':', '_')}"
        spec = importlib.util.spec_from_file_location(module_name, chosen)
        if spec is None or spec.loader is None:
            raise BuilderError(f"model.builder: cannot import {chosen} (not a Python file?)")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # pickling by reference, dataclasses and typing need it there
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # noqa: BLE001 - the user's module failed at import
            del sys.modules[module_name]
            raise BuilderError(f"model.builder: importing {chosen} raised {type(e).__name__}: {_one_line(e)}") from e
        _LOADED[key] = module
    return _LOADED[key]


def _load_module(name: str, builder: str, code: str | None) -> Any:
    try:
        module = importlib.import_module(name)
        if code is not None and builder_code(builder) != code and name in sys.modules:
            module = importlib.reload(module)  # this long-lived process imported an older version
    except Exception as e:  # noqa: BLE001 - the user's module failed at import
        raise BuilderError(f"model.builder: importing {name} raised {type(e).__name__}: {_one_line(e)}") from e
    return module
