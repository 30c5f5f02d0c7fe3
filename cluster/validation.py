"""One check of the user's models before any trial starts: each distinct builder model of a
sweep is built once, in a Ray worker, on the dataset it will train on, and run on a sample
batch. A builder that is missing, raises, returns no ``keras.Model``, or a model whose output
does not fit the class count stops the sweep with one line (InputError), before trainers run
trials and before anything is stored. So does a ``model.params`` key that no builder of the
sweep reads while it builds (a typo such as ``filter`` for ``filters``), with a "did you mean".

The driver never imports user code (DESIGN.md): this task is the one place outside the
trainers where it is imported.
"""

from __future__ import annotations

import pickle
from typing import Any

import ray
from ray.exceptions import RayTaskError

from orchestrator.errors import InputError
from orchestrator.trial import TrialSpec

__all__ = ["validate_models", "submit_model_checks", "ModelChecks"]

# Images in the sample batch the model is run on.
_SAMPLE = 2


# num_cpus=0, like the dataset load: the trainers started beside it hold every CPU.
@ray.remote(num_cpus=0)
def _check_models(models: list[tuple[Any, Any, str | None]], data: Any) -> list[tuple[str | None, set[str] | None]]:
    """For each (model config, dataset config, builder code): (None, or what is wrong; the
    ``model.params`` keys the builder read, None when it took the whole mapping)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from trainers import import_keras_lean

    import_keras_lean()  # this worker imports TensorFlow alongside the starting trainers: the less, the better
    return [_check_one(model, dataset, code, data) for model, dataset, code in models]


def _check_one(model: Any, dataset: Any, code: str | None, data: Any) -> tuple[str | None, set[str] | None]:
    from trainers.builders import ParamReads

    reads = ParamReads()
    problem = _check_build(model, dataset, code, data, reads)
    return problem, (None if reads.everything else {k for k in reads.read if isinstance(k, str)})


def _check_build(model: Any, dataset: Any, code: str | None, data: Any, reads: Any) -> str | None:
    import keras
    import numpy as np

    from trainers.builders import BuilderError, build_model

    keras.backend.clear_session()
    try:
        built = build_model(model, data.input_shape, data.num_classes, normalize=dataset.normalize, builder_code=code,
                            reads=reads)
    except BuilderError as e:
        return str(e)
    label = _label(model)
    try:
        out = np.asarray(built(data.x_train[:_SAMPLE], training=False))
    except Exception as e:  # noqa: BLE001 - the user's model failed on real images: their error, one line
        line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return (f"model.builder {label}: the model fails on {tuple(data.input_shape)} images: "
                f"{type(e).__name__}: {line}")
    want = (min(_SAMPLE, len(data.x_train)), data.num_classes)
    if out.shape != want:
        return (f"model.builder {label}: the model's output has shape {tuple(out.shape[1:])} per image, expected "
                f"({data.num_classes},), one probability per class of {dataset.name}; end it with "
                "keras.layers.Dense(num_classes, activation='softmax')")
    if not (np.all(out >= 0) and np.allclose(out.sum(axis=1), 1.0, atol=1e-3)):
        return (f"model.builder {label}: the model's outputs are not probabilities (they do not sum to 1); "
                "end it with activation='softmax' (orch's loss takes probabilities, not logits)")
    return None


def _label(model: Any) -> str:
    from orchestrator.usercode import builder_label

    return builder_label(model.builder)


def validate_models(specs: list[TrialSpec], datasets: dict[str, ray.ObjectRef], dataset_key: Any) -> None:
    """Build every distinct user model of ``specs`` once on its dataset (``datasets``: the
    object-store refs by ``dataset_key(spec.dataset)``); InputError with the first problem.
    Built-in models are not checked: they are orch's own."""
    submit_model_checks(specs, datasets, dataset_key).result()


class ModelChecks:
    """Checks submitted to Ray and not yet collected: the executor starts them while the
    trainers import TensorFlow, and collects them once the trainers are ready."""

    def __init__(self, refs: list[ray.ObjectRef], models: list[list[Any]] | None = None) -> None:
        self._refs = refs
        self._models = models or [[] for _ in refs]  # the model configs each ref checks, in order

    def result(self) -> None:
        """Wait for the checks; InputError with the first problem found."""
        if not self._refs:
            return
        try:
            results = ray.get(self._refs)
        except RayTaskError as e:
            cause = e.cause if e.cause is not None else e
            raise InputError(f"model.builder: cannot be checked in a Ray worker: {type(cause).__name__}: {cause}"[:500]) from e
        for checks in results:
            for problem, _ in checks:
                if problem is not None:
                    raise InputError(problem)
        _refuse_unread_params(
            [(model, read) for checks, models in zip(results, self._models) for (_, read), model in zip(checks, models)]
        )


def _refuse_unread_params(checked: list[tuple[Any, set[str] | None]]) -> None:
    """A ``model.params`` key that no checked model's builder read is refused: it changes the
    trial ids and the results columns but not the model (``--set model.params.filter=3``
    for ``filters`` would otherwise run as if nothing was said). A key read for some values of
    the sweep but not others is used; a builder that took the whole mapping reads every key."""
    import difflib

    given: dict[str, str] = {}
    read: set[str] = set()
    for model, keys in checked:
        for key in model.params:
            given.setdefault(key, _label(model))
        read |= set(model.params) if keys is None else keys
    for key, label in given.items():
        if key not in read:
            close = difflib.get_close_matches(key, sorted(read - set(given)), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputError(f"model.params.{key}: the builder {label} never reads it; {hint}remove it, "
                             "or read it in the builder (params[" + repr(key) + "])")


def submit_model_checks(specs: list[TrialSpec], datasets: dict[str, ray.ObjectRef], dataset_key: Any) -> ModelChecks:
    """Start the checks of :func:`validate_models` without waiting for them."""
    groups: dict[str, dict[str, tuple[Any, Any, str | None]]] = {}
    for spec in specs:
        if spec.model.builder is None:
            continue
        key = dataset_key(spec.dataset)
        groups.setdefault(key, {}).setdefault(repr((spec.model, spec.builder_code)), (spec.model, spec.dataset, spec.builder_code))
    refs, checked = [], []
    for key, models in groups.items():
        try:
            refs.append(_check_models.remote(list(models.values()), datasets[key]))
            checked.append([model for model, _, _ in models.values()])
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            builder = next(iter(models.values()))[0].builder
            raise InputError(
                f"model.builder: {getattr(builder, '__qualname__', builder)!r} cannot be sent to the Ray workers "
                f"({type(e).__name__}: {e}); put it in a file and give builder: 'file.py:function'"
            ) from e
    return ModelChecks(refs, checked)
