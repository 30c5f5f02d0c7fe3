"""The experiment's sections as frozen dataclasses: every field with its type, default and,
for numbers, its declared range (checked in ``_fields.coerce_field``, for files, sweep axes
and ``--set`` alike). Rules that span several fields live in ``_rules.py``.

Field names and defaults are part of every trial's id (see orchestrator/trial.py): renaming a
field or changing a default orphans stored results.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from orchestrator.config._fields import Builder, ParamValue, in_range
from orchestrator.config._models import ModelName
from orchestrator.config._objectives import DEFAULT_LOSS, ClassWeight, LossSpec, MetricSpec

__all__ = [
    "DatasetName", "Activation", "OptimizerName", "BatchScope", "Schedule", "Monitor",
    "DatasetConfig", "ModelConfig", "TrainingConfig", "ResourcesConfig", "OutputsConfig",
    "StoppingConfig", "SweepConfig", "Experiment", "SECTIONS", "DEFAULT_MAX_TRIALS", "MAX_SEED", "BUILTIN_DATASETS",
]

# Built-in datasets, then the user's own: an .npz file, a folder of images, a loader function.
DatasetName = Literal["mnist", "fashion_mnist", "notmnist", "mnist_sample", "npz", "image_folder", "loader"]
BUILTIN_DATASETS = ("mnist", "fashion_mnist", "notmnist", "mnist_sample")
Activation = Literal["sigmoid", "relu", "tanh"]
OptimizerName = Literal["sgd", "adam", "rmsprop"]
BatchScope = Literal["global", "per_replica"]
Schedule = Literal["constant", "exponential", "step"]
# loss, accuracy, a training.metrics name, each with val_ for the validation split (_rules).
Monitor = str

# NumPy's seeding (which keras.utils.set_random_seed calls) takes 0 <= seed < 2**32.
MAX_SEED = 2**32 - 1
# A grid larger than this is refused before it is expanded (sweep.max_trials raises it).
DEFAULT_MAX_TRIALS = 10_000
_FRACTION_OR_COUNT = in_range(0, low_open=True, meaning="a fraction in (0, 1) or a whole count >= 1")


@dataclass(frozen=True)
class DatasetConfig:
    """Which data a trial trains on. ``data_dir`` says where files are, not what they are,
    so it is not part of a trial's identity."""

    name: DatasetName = "mnist_sample"
    # Directory holding the dataset's IDX .gz files (or Keras' <name>.npz; notMNIST.pickle).
    # None: $ORCH_DATA_DIR/<name> (for mnist also $ORCH_DATA_DIR), then the download cache.
    data_dir: str | None = None
    # Held out from the *end* of the training images: a fraction (< 1) or a count (>= 1).
    # MNIST's customary 55,000/5,000 split is validation: 5000.
    validation: float = field(default=0.1, metadata=_FRACTION_OR_COUNT)
    # For data that comes without a test split (the notMNIST IDX test set alone): held out
    # from the end as test, fraction or count, before validation is taken. null: the
    # dataset's own test split.
    test: float | None = field(default=None, metadata=_FRACTION_OR_COUNT)
    # Scale pixels to [0, 1]; false feeds raw 0-255 values, as some references did.
    normalize: bool = True
    # notMNIST as the course's pickle file: unpickling runs code, so it needs this flag.
    allow_pickle: bool = False
    # --- the user's own data (see docs/user-data.md). A trial is identified by what the
    # data is (a digest of the file's / folder's bytes, of the loader's source and params),
    # not by these locations, so moving the data keeps stored results.
    # name: npz -> the .npz file (x_train, y_train, x_test, y_test[, x_val, y_val]);
    # name: image_folder -> a directory with one sub-directory of images per class.
    # Relative paths are relative to the experiment file's directory.
    path: str | None = None
    # image_folder: every image resized to [height, width]; null: the images' own size
    # (then all must have the same).
    image_size: list[int] | None = field(default=None, metadata=in_range(1, 65536, note="or null (as stored)"))
    # name: loader -> "file.py:function" (relative to the experiment file's directory) or
    # "module:function"; called as function(**params) in the Ray worker that loads data.
    loader: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture: a built-in model (``name``) or the user's own (``builder``), never both.
    A built-in's ``null`` parameters take the model's own default (the reference's);
    MODEL_PARAMS lists which parameters each model has. A builder takes ``params`` only
    (see orchestrator/usercode.py for the contract)."""

    # A built-in model; null when ``builder`` names the user's own.
    name: ModelName | None = "lenet5"
    activation: Activation = "relu"
    filters: list[int] | None = field(default=None, metadata=in_range(1, 65536))  # per conv layer (keras_lenet: per block)
    kernel_size: int | None = field(default=None, metadata=in_range(1, 1024))
    hidden_units: list[int] | None = field(default=None, metadata=in_range(1, 2**20))  # hidden dense layers
    pooling: Literal["max", "avg"] | None = None
    padding: Literal["same", "valid"] | None = None
    # keras_lenet: pooling window (the Keras example's NUM_POOL; its NUM_CONV, the conv
    # kernel size, is kernel_size here).
    pool_size: int | None = field(default=None, metadata=in_range(1, 1024))
    # Keras' rate: the fraction *dropped*. TF1 references give keep_prob (0.75 -> 0.25).
    dropout: float = field(default=0.0, metadata=in_range(0, 1, high_open=True, meaning="the fraction dropped"))
    # "keras": Keras defaults (Glorot uniform, zero bias). "truncated_normal": weights from a
    # truncated normal with init_stddev and constant bias_init, as the TF1 references did.
    initializer: Literal["keras", "truncated_normal"] = "keras"
    init_stddev: float = field(default=0.1, metadata=in_range(0, low_open=True))
    bias_init: float = field(default=0.1, metadata=in_range())
    # The user's model: "file.py:function" (a relative path is read from the experiment
    # file's directory), "package.module:function", or (Python API) the function itself.
    # Called as function(params, input_shape, num_classes) -> an uncompiled keras.Model.
    builder: Builder | None = None
    # The builder's settings, passed to it as a dict: YAML scalars and lists. Each key is
    # sweepable as model.params.<key> and stored as the column model_<key>.
    params: dict[str, ParamValue] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingConfig:
    optimizer: OptimizerName = "adam"
    learning_rate: float = field(default=1e-3, metadata=in_range(0, low_open=True))
    # SGD with momentum > 0 is SGD+momentum; nesterov needs sgd and momentum > 0.
    # RMSprop accepts a momentum too; Adam does not.
    momentum: float = field(default=0.0, metadata=in_range(0, 1, high_open=True))
    nesterov: bool = False
    batch_size: int = field(default=128, metadata=in_range(1, 2**24))
    # "global": batch_size images per step across all replicas (each replica gets
    # batch_size / replicas). "per_replica": each replica gets batch_size.
    batch_size_scope: BatchScope = "global"
    epochs: int = field(default=1, metadata=in_range(1, 100_000))
    seed: int = field(default=0, metadata=in_range(0, MAX_SEED))
    # Weight penalties on the kernels of the chosen layers (added to the loss).
    l1: float = field(default=0.0, metadata=in_range(0))
    l2: float = field(default=0.0, metadata=in_range(0))
    regularize: Literal["all", "conv", "dense"] = "all"
    # Learning rate over time. exponential: lr * decay_rate ** (t / decay_steps), t counted
    # in decay_unit (optimizer steps or epochs), floored when staircase. step: lr *
    # decay_rate ** floor(epoch / decay_steps), i.e. drop every decay_steps epochs.
    lr_schedule: Schedule = "constant"
    decay_rate: float = field(default=0.95, metadata=in_range(0, 1, low_open=True))
    decay_steps: int = field(default=1, metadata=in_range(1, 2**31))
    decay_unit: Literal["step", "epoch"] = "epoch"
    staircase: bool = False
    # Clip each gradient's norm (null: no clipping).
    clipnorm: float | None = field(default=None, metadata=in_range(0, low_open=True, note="or null (no clipping)"))
    # Shift each training image by up to this fraction of its height and width, at random
    # per image and epoch (0: off). Validation and test images are never shifted.
    augment_shift: float = field(
        default=0.0, metadata=in_range(0, 0.5, high_open=True, meaning="a fraction of the image size")
    )
    # Stop when the monitored metric has not improved for this many epochs (null: off).
    early_stopping_patience: int | None = field(default=None, metadata=in_range(0, 100_000, note="or null (off)"))
    early_stopping_monitor: Monitor = "val_loss"
    restore_best_weights: bool = True
    # What the trial minimises: a Keras loss name (mse, huber, binary_crossentropy, ...), a
    # mapping with its arguments ({name: sparse_categorical_crossentropy, from_logits: true}),
    # or the user's function 'file.py:function' / 'package.module:function' (Python: the
    # function), called as fn(y_true, y_pred) -> one value per example (config/_objectives.py).
    loss: LossSpec = DEFAULT_LOSS
    # Per-example metrics, logged per epoch on train and validation data and on test: Keras
    # metric names or the user's functions fn(y_true, y_pred). Each is columns <name>,
    # val_<name> (epochs) and train_/val_/test_<name> (trials).
    metrics: list[MetricSpec] = field(default_factory=list)
    # Weigh each example's loss by its class, as Keras' fit(class_weight=): null (all 1),
    # balanced (n / (classes * count of the class), from the training labels), or {class:
    # weight} (classes left out weigh 1). Classification only. Metrics stay unweighted.
    class_weight: ClassWeight | None = None
    # Keras' mixed-precision policy: float32, mixed_float16 (with loss scaling) or
    # mixed_bfloat16. Outputs are cast to float32 before the loss and metrics.
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = "float32"


@dataclass(frozen=True)
class ResourcesConfig:
    """Where trials run. Not part of a trial's identity: the same trial on other hardware
    is the same experiment."""

    # Devices in each trial's MirroredStrategy: GPUs per trial on GPU hosts; on hosts
    # without GPUs the CPU is split into this many logical devices (tests the
    # multi-replica path; slower than one device).
    replicas: int = field(default=1, metadata=in_range(1, 1024))
    # Long-lived trainer actors. None: one per CPU core (CPU hosts) or one per
    # `replicas` GPUs (GPU hosts).
    trainers: int | None = field(default=None, metadata=in_range(1, 100_000, note="or null (one per core)"))
    # CPU cores reserved per trainer; TensorFlow uses this many threads.
    cpus_per_trainer: int = field(default=1, metadata=in_range(1, 1024))
    # Times a trial whose trainer process died is re-run before it is stored as failed.
    max_retries: int = field(default=2, metadata=in_range(0, 1000))
    # Stop the sweep after this many trials in a row end failed (a broken config or node
    # fails them all alike); null: never.
    max_consecutive_failures: int | None = field(default=5, metadata=in_range(1, note="or null (never stop)"))
    # GPU packing: trainers sharing each GPU (replicas must be 1). Each asks Ray for
    # 1/trainers_per_gpu of a GPU, and TensorFlow grows its memory as needed.
    trainers_per_gpu: int = field(default=1, metadata=in_range(1, 64))
    # Cap each trainer's GPU memory (MiB) instead of growing it; with packing, keeps one
    # trainer from starving the others. null: memory growth.
    gpu_memory_mb: int | None = field(default=None, metadata=in_range(1, 2**24, note="or null (memory growth)"))
    # Fusion: up to this many trials that share the input pipeline (dataset, batch size,
    # epochs) train in one trainer as one model with a branch each (trainers/fused.py);
    # "auto": the size a short measurement on a trainer finds fastest. 1: each trial alone.
    # A trial's result does not depend on it.
    fuse: int | Literal["auto"] = field(default=1, metadata=in_range(1, 64, note='or "auto"'))
    # Several drivers on one sweep and store (orch run started twice, a Slurm array): each
    # claims a trial before running it and heartbeats the claim; a claim without a heartbeat
    # for this long is taken over by another driver (its holder was killed). Must exceed the
    # heartbeat interval (a quarter of it) plus the clock skew between the drivers' hosts.
    claim_expiry_seconds: float = field(default=60.0, metadata=in_range(2, 86_400))
    # Memory backstop (trainers release each trial's state, so this rarely acts): a trainer
    # whose resident memory after a trial passes this many MiB is replaced by a fresh actor
    # before its next trial. null: 80% of its node's memory shared by the sweep's trainers there.
    trainer_memory_mb: int | None = field(
        default=None, metadata=in_range(64, 2**24, note="or null (80% of the node's memory over its trainers)"))
    # Replace a trainer by a fresh actor once it has run this many trials. null: never.
    trials_per_trainer: int | None = field(
        default=None, metadata=in_range(1, 2**31, note="or null (no limit)"))


@dataclass(frozen=True)
class OutputsConfig:
    """What trials leave beside their results, under the store. Not part of a trial's identity."""

    # Save a checkpoint every N epochs (0: never), or "auto": once ~10 s of the trial's time
    # have passed since the last one (orchestrator/plan/_checkpoints.py). A retried or
    # resumed trial goes on from the last one; none is saved at the epoch a trial ends.
    checkpoint_every: int | Literal["auto"] = field(
        default=1, metadata=in_range(0, 100_000, note="(0: no checkpoints) or auto (every ~10 s of training)"))
    # Keep the final model in Keras format.
    save_model: bool = False
    # Per-trial TensorBoard event files with an HParams summary.
    tensorboard: bool = True


@dataclass(frozen=True)
class StoppingConfig:
    """When the sweep stops trials before their last epoch (see orchestrator/plan/_stopping.py).
    Not part of a trial's identity: it decides how far a trial runs, not what it computes;
    a stopped trial is stored with status ``stopped`` and the reason."""

    # Stop a trial whose training or validation loss is NaN or infinite.
    diverged: bool = True
    # After this many epochs, stop a trial whose validation accuracy is still within
    # chance_margin of chance (1 / classes); null: off.
    chance_after: int | None = field(
        default=None, metadata=in_range(1, 100_000, meaning="epochs of grace", note="or null (off)")
    )
    chance_margin: float = field(default=0.5, metadata=in_range(0, 100, low_open=True))
    # Successive halving: at each rung epoch, a trial goes on only if its metric is among
    # the best `keep` fraction of the values seen at that rung so far. Empty: off.
    rungs: list[int] = field(default_factory=list, metadata=in_range(1, 100_000, meaning="each rung epoch"))
    keep: float = field(
        default=0.5, metadata=in_range(0, 1, low_open=True, high_open=True, meaning="the fraction of trials going on at each rung")
    )
    # val_accuracy, val_loss or val_<name> of a training.metrics entry (checked in _rules);
    # smaller is better for losses and errors (config/_objectives.py: metric_goal).
    metric: str = "val_accuracy"


@dataclass(frozen=True)
class SweepConfig:
    # Dotted field path (as in the YAML, e.g. "training.learning_rate") -> list of values.
    grid: dict[str, list[Any]] = field(default_factory=dict)
    # Every grid point runs once per seed. Empty: training.seed alone.
    seeds: list[int] = field(default_factory=list)
    # Sweeps larger than this are refused before they are planned: a typo in an axis should
    # not plan a million trials. Raise it for sweeps that really are that large.
    max_trials: int = DEFAULT_MAX_TRIALS
    # How points are chosen beyond the grid (orchestrator/search): grid tries the grid axes
    # only; random and sobol draw `samples` points per grid point from `space`, as a pure
    # function of (space, search_seed, k); tpe (Optuna) asks for each next point as a
    # trainer frees up and learns from `metric` (`goal`: max or min).
    method: Literal["grid", "random", "sobol", "tpe"] = "grid"
    samples: int | None = None
    # Dotted field path -> orchestrator.search Distribution (Uniform, LogUniform, IntRange, Choice).
    space: dict[str, Any] = field(default_factory=dict)
    metric: str = "val_accuracy"
    goal: Literal["max", "min"] = "max"
    search_seed: int = 0


SECTIONS: dict[str, type] = {
    "dataset": DatasetConfig,
    "model": ModelConfig,
    "training": TrainingConfig,
    "resources": ResourcesConfig,
    "outputs": OutputsConfig,
    "stopping": StoppingConfig,
}


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str = ""
    dataset: DatasetConfig = DatasetConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    resources: ResourcesConfig = ResourcesConfig()
    outputs: OutputsConfig = OutputsConfig()
    stopping: StoppingConfig = StoppingConfig()
    sweep: SweepConfig = SweepConfig()

    def to_dict(self) -> dict[str, Any]:
        """Plain data (dicts, lists, scalars), safe to write as YAML: a builder given as a
        function object (Python API) appears as ``module:function``, the code as its source hash."""
        data = dataclasses.asdict(self)
        # As the file writes them: asdict would leave {low, high} and lose the distribution's kind.
        data["sweep"]["space"] = {path: d.as_config() for path, d in self.sweep.space.items()}
        # No seeds listed means "training.seed"; a file says that by leaving seeds out (an
        # empty list there is refused: it would run nothing), so the stored form writes null.
        data["sweep"]["seeds"] = list(self.sweep.seeds) or None
        builder = self.model.builder
        if builder is not None and not isinstance(builder, str):
            from orchestrator.usercode import builder_code, builder_label

            data["model"]["builder"] = f"{builder_label(builder)} (a Python function; source {builder_code(builder)})"
        # A loss or metric given as a function object (Python API): its label, as builders.
        from orchestrator.config._objectives import loss_label

        if callable(self.training.loss):
            data["training"]["loss"] = loss_label(self.training.loss)
        data["training"]["metrics"] = [loss_label(m) if callable(m) else m for m in self.training.metrics]
        return _plain(data)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
