"""Assembling a trial's model: the layers every model shares in front of the built one.

uint8 input -> float (scaled to [0, 1], or the raw 0-255 values) -> random shifts (training
only) -> the built model; and the L1/L2 penalty on its kernels. The built-ins make the shared
seeded layers themselves, through :func:`shared_layers`, at the point in their layer order
where they always did (layers draw their seeds as they are made).

Never imports Ray.
"""

from __future__ import annotations

from collections.abc import Callable

import keras

__all__ = ["assemble", "shared_layers", "regularize_kernels"]


def assemble(
    build: Callable[[], keras.Model],
    input_shape: tuple[int, ...],
    *,
    normalize: bool = True,
    augment_shift: float = 0.0,
    kernel_regularizer: keras.regularizers.Regularizer | None = None,
    regularize: str = "all",
    name: str | None = None,
    input_dtype: str = "uint8",
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
    # uint8 images are cast (and scaled) by the model; other data (float features, int ids)
    # goes in as it is.
    cast = [_to_float(normalize)] if input_dtype == "uint8" else []
    front = [keras.Input(shape=tuple(input_shape), dtype=input_dtype), *cast, *augmentation]
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
