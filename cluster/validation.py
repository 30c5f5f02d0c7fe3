"""One check of the user's models before any trial starts: each distinct model of a sweep
(a builder's; a built-in's on the user's data or with a chosen loss or metrics) is built once,
in a Ray worker, on the dataset it will train on, and run on a sample batch, and the trial's
loss and metrics are run on its output and the real labels. A builder that is missing, raises,
returns no ``keras.Model``; an output that does not fit the labels and the loss (probabilities
without ``from_logits``, the wrong width); labels of the wrong kind for the loss (class ids for
``mse``, float targets for a sparse loss); a loss or metric that raises or returns the wrong
shape: each stops the sweep with one line (InputError), before trainers run trials and before
anything is stored. So does a ``model.params`` key that no builder of the sweep reads while it
builds (a typo such as ``filter`` for ``filters``), with a "did you mean".

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

__all__ = ["ModelChecks", "submit_model_checks", "validate_models"]

# Images in the sample batch the model is run on.
_SAMPLE = 2


# num_cpus=0, like the dataset load: the trainers started beside it hold every CPU.
@ray.remote(num_cpus=0)
def _check_models(models: list[tuple[Any, Any, Any, str | None]], data: Any) -> list[tuple[str | None, set[str] | None]]:
    """For each (model config, dataset config, training config, builder code): (None, or
    what is wrong; the ``model.params`` keys the builder read, None when it took the whole
    mapping)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from trainers import import_keras_lean

    import_keras_lean()  # this worker imports TensorFlow alongside the starting trainers: the less, the better
    return [_check_one(model, dataset, training, code, data) for model, dataset, training, code in models]


def _check_one(model: Any, dataset: Any, training: Any, code: str | None, data: Any) -> tuple[str | None, set[str] | None]:
    from trainers.builders import ParamReads

    reads = ParamReads()
    problem = _check_build(model, dataset, training, code, data, reads)
    return problem, (None if reads.everything else {k for k in reads.read if isinstance(k, str)})


def _check_build(model: Any, dataset: Any, training: Any, code: str | None, data: Any, reads: Any) -> str | None:
    import keras
    import numpy as np

    from trainers.builders import BuilderError, build_model

    keras.backend.clear_session()
    problem = _labels_fit_loss(training, data)
    if problem is not None:
        return problem
    try:
        built = build_model(model, data.input_shape, data.num_classes, normalize=dataset.normalize, builder_code=code,
                            reads=reads, input_dtype=str(data.x_train.dtype))
    except BuilderError as e:
        return str(e)
    label = _label(model)
    try:
        out = np.asarray(built(data.x_train[:_SAMPLE], training=False))
    except Exception as e:  # noqa: BLE001 - the user's model failed on real images: their error, one line
        return f"{label}: the model fails on {tuple(data.input_shape)} inputs: {_first_line(e)}"
    return _output_fits(label, out, training, data, dataset) or _objective_runs(training, data, out)


def _first_line(e: BaseException) -> str:
    line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return f"{type(e).__name__}: {line}"[:300]


def _labels_fit_loss(training: Any, data: Any) -> str | None:
    """Integer class labels for a classification loss, float targets for a regression one."""
    from orchestrator.config import is_user_function, loss_label, loss_name
    from orchestrator.config._objectives import REGRESSION_LOSSES, SPARSE_LOSSES

    weights = training.class_weight
    if weights is not None and not data.classification:
        return (f"training.class_weight: {'balanced' if weights == 'balanced' else 'a class weight'} needs classes, "
                "but the labels are float targets (a regression); remove class_weight")
    if isinstance(weights, dict) and (missing := sorted(c for c in weights if c >= data.num_classes)):
        return (f"training.class_weight: class {missing[0]} does not exist; the labels are classes "
                f"0..{data.num_classes - 1}")
    if is_user_function(training.loss):
        return None
    name = loss_name(training.loss)
    if data.classification and name in REGRESSION_LOSSES:
        return (f"training.loss: {loss_label(training.loss)} compares values, but the labels are integer class ids; "
                "give float targets (y.astype('float32')) for a regression, or a classification loss "
                "(sparse_categorical_crossentropy, binary_crossentropy)")
    if not data.classification and name in SPARSE_LOSSES:
        return (f"training.loss: {name} takes integer class ids, but the labels are float targets (a regression); "
                "use a regression loss (mse, mae, huber) or save the labels as integers")
    return None


def _output_fits(label: str, out: Any, training: Any, data: Any, dataset: Any) -> str | None:
    """The model's output per example fits the labels and the loss."""
    import numpy as np

    from orchestrator.config import from_logits, is_user_function, loss_name

    shape = tuple(out.shape[1:])
    name = None if is_user_function(training.loss) else loss_name(training.loss)
    if not data.classification:
        want = data.label_shape or (1,)
        if shape != want and shape != data.label_shape:
            return (f"{label}: the model's output has shape {shape} per example, but the targets {want}; "
                    f"end it with keras.layers.Dense({want[-1] if want else 1}) (no activation, for a regression)")
        return None
    binary = data.num_classes == 2 and shape == (1,)
    if shape != (data.num_classes,) and not binary:
        return (f"{label}: the model's output has shape {shape} per example, expected ({data.num_classes},), one "
                f"value per class of {dataset.name}; end it with keras.layers.Dense(num_classes, activation='softmax')"
                + (" (or Dense(1, activation='sigmoid') with loss: binary_crossentropy)" if data.num_classes == 2 else ""))
    logits = from_logits(training.loss)
    if name == "sparse_categorical_crossentropy" and binary:
        return (f"{label}: one output per example is a binary classifier; use loss: binary_crossentropy, "
                "or end the model with Dense(2, activation='softmax')")
    if name == "binary_crossentropy" and not binary:
        return (f"{label}: loss binary_crossentropy takes one output per example (Dense(1, activation='sigmoid')) "
                f"for 2 classes; for {data.num_classes} classes use sparse_categorical_crossentropy")
    if name == "sparse_categorical_crossentropy" and not logits and not (
            np.all(out >= 0) and np.allclose(out.sum(axis=1), 1.0, atol=1e-3)):
        return (f"{label}: the model's outputs are not probabilities (they do not sum to 1); end it with "
                "activation='softmax', or say they are logits: loss: {name: sparse_categorical_crossentropy, "
                "from_logits: true}")
    if name == "binary_crossentropy" and not logits and not (np.all(out >= 0) and np.all(out <= 1)):
        return (f"{label}: the model's outputs are not probabilities in [0, 1]; end it with activation='sigmoid', "
                "or say they are logits: loss: {name: binary_crossentropy, from_logits: true}")
    return None


def _objective_runs(training: Any, data: Any, out: Any) -> str | None:
    """The loss and each metric, run on the sample batch: they must not raise, and give one
    finite value per example (or their mean)."""
    import numpy as np
    import tensorflow as tf

    from orchestrator.config import loss_label, metric_label
    from trainers.builders import BuilderError
    from trainers.objectives import objective_for

    try:
        objective = objective_for(training, data.classification, data.y_train, data.num_classes)
    except BuilderError as e:
        return str(e)
    y = tf.constant(data.y_train[: len(out)])
    pred = tf.constant(out)
    checks = [(f"training.loss {loss_label(training.loss)}", training.loss, objective.loss)]
    checks += [(f"training.metrics {metric_label(m)}", m, fn) for m, (_, fn) in zip(training.metrics, objective.metrics)]
    for what, given, fn in checks:
        problem = _targets_fit(what, given, data, out)
        if problem is not None:
            return problem
        try:
            values = np.asarray(fn(y, pred))
        except Exception as e:  # noqa: BLE001 - the user's function (or a Keras one on unfit data): one line
            return f"{what}: fails on a sample batch (labels {tuple(y.shape)} {y.dtype.name}, outputs {tuple(pred.shape)}): {_first_line(e)}"
        if values.ndim > 0 and values.shape[0] != len(out):
            return (f"{what}: returns shape {values.shape} for a batch of {len(out)}; return one value per "
                    "example (batch,) or their mean (a scalar)")
        if values.ndim == 0 and fn is objective.loss and objective.class_weights is not None:
            return (f"{what}: returns one value for the batch, but training.class_weight weighs each example's loss; "
                    "return one value per example (batch,)")
        if not np.all(np.isfinite(values)):
            return f"{what}: returns NaN or infinite values on a sample batch; check the function"
    return None


def _targets_fit(what: str, given: Any, data: Any, out: Any) -> str | None:
    """A Keras function other than a sparse one compares the targets with the output value by
    value: with class ids as labels and several outputs per example it would compare a class
    number with each class's score (no error, a meaningless number)."""
    from orchestrator.config import is_user_function, loss_name

    if is_user_function(given) or not data.classification or out.shape[-1] == 1:
        return None
    name = loss_name(given)
    if name.startswith("sparse_"):
        return None
    return (f"{what}: compares targets shaped like the output ({out.shape[-1]} values per example), but the labels "
            "are class ids, one per example; use a sparse_ one (sparse_categorical_accuracy, "
            "sparse_top_k_categorical_accuracy, sparse_categorical_crossentropy) or your own function")


def _label(model: Any) -> str:
    from orchestrator.usercode import builder_label

    if model.builder is None:
        return f"model {model.name}"
    return f"model.builder {builder_label(model.builder)}"


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

    from orchestrator.usercode import builder_label

    given: dict[str, str] = {}
    read: set[str] = set()
    for model, keys in checked:
        for key in model.params:
            given.setdefault(key, builder_label(model.builder))
        read |= set(model.params) if keys is None else keys
    for key, label in given.items():
        if key not in read:
            close = difflib.get_close_matches(key, sorted(read - set(given)), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputError(f"model.params.{key}: the builder {label} never reads it; {hint}remove it, "
                             "or read it in the builder (params[" + repr(key) + "])")


def _needs_check(spec: TrialSpec) -> bool:
    """User models; built-ins on the user's data or with a loss or metrics of the user's
    choosing (a built-in on its own MNIST-like data with its own loss is orch's to get right)."""
    from orchestrator.config import BUILTIN_DATASETS, TrainingConfig

    default = TrainingConfig()
    return (spec.model.builder is not None or spec.dataset.name not in BUILTIN_DATASETS
            or spec.training.loss != default.loss or spec.training.metrics != default.metrics)


def submit_model_checks(specs: list[TrialSpec], datasets: dict[str, ray.ObjectRef], dataset_key: Any) -> ModelChecks:
    """Start the checks of :func:`validate_models` without waiting for them."""
    groups: dict[str, dict[str, tuple[Any, Any, Any, str | None]]] = {}
    for spec in specs:
        if not _needs_check(spec):
            continue
        key = dataset_key(spec.dataset)
        what = repr((spec.model, spec.builder_code, spec.training.loss, spec.training.metrics))
        groups.setdefault(key, {}).setdefault(what, (spec.model, spec.dataset, spec.training, spec.builder_code))
    refs, checked = [], []
    for key, models in groups.items():
        try:
            refs.append(_check_models.remote(list(models.values()), datasets[key]))
            checked.append([model for model, _, _, _ in models.values()])
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            builder = next(iter(models.values()))[0].builder
            raise InputError(
                f"model.builder: {getattr(builder, '__qualname__', builder)!r} cannot be sent to the Ray workers "
                f"({type(e).__name__}: {e}); put it in a file and give builder: 'file.py:function'"
            ) from e
    return ModelChecks(refs, checked)
