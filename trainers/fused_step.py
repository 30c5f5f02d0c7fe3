"""The fused train and evaluation steps: K branch models, one ``tf.function``.

Written as a single-replica view (Model Garden's ``base_task``): the functions below run the
per-replica code through ``strategy.run``; on the default strategy that is one replica.
A *global* batch of indices goes in; each replica takes its share by its replica id, and
its loss is its share's summed loss divided by the global batch, i.e. the per-replica mean
scaled by ``1 / num_replicas_in_sync``, so the gradients the optimizer sums over replicas
are those of the mean over the whole global batch (exact also for a ragged last batch,
where the shares may differ by one image).

The branch form: each branch is its own Keras model called on its own gathered batch, and
the Python loop over branches unrolls into one graph. On CPU this beat both running the
trials one after another and grouped convolutions (DESIGN.md). A GPU form (grouped
convolutions / batched dense, HFTA's) would replace :func:`build_train_fn` and
:func:`build_eval_fn` with the same signatures: the trainer only calls these two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import tensorflow as tf

from trainers.objectives import Objective, default_objective, summed

__all__ = ["build_eval_fn", "build_train_fn", "replica_share", "totals_width"]

# What a step returns per branch: summed loss (regularisation included, per image), correct
# predictions, images, then each of the branch's metrics summed (zeros past a branch's own
# metrics: branches may log different ones). Summed, not averaged, so steps and replicas add
# up exactly.
_TOTALS = 3


def totals_width(objectives: Sequence[Objective]) -> int:
    """Columns of a step's totals for these branches."""
    return _TOTALS + max((len(o.metrics) for o in objectives), default=0)


def replica_share(global_size: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """[start, end) of this replica's share of a global batch of ``global_size`` images."""
    ctx = tf.distribute.get_replica_context()
    n = ctx.num_replicas_in_sync
    r = ctx.replica_id_in_sync_group
    return (global_size * r) // n, (global_size * (r + 1)) // n


def _penalty(model: keras.Model) -> tf.Tensor:
    """The branch's own regularisation losses (kernel L1/L2 of its own layers only)."""
    return tf.add_n(model.losses) if model.losses else tf.constant(0.0)


def _sums(
    model: keras.Model, objective: Objective, x: tf.Tensor, y: tf.Tensor, training: bool, width: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(summed loss, penalty, the rest of the totals row after loss: correct, images, each
    metric summed, zeros to ``width``) of ``model`` on ``x, y``."""
    # float32 whatever the precision policy: the loss and metrics of float16 outputs lose
    # their small differences (a no-op for float32 outputs).
    out = tf.cast(model(x, training=training), tf.float32)
    local = tf.cast(tf.shape(x)[0], tf.float32)
    # Keras' own loss functions compute a softmax's loss from its logits (models.py).
    losses = objective.loss(y, out)
    loss_sum = summed(objective.weighted(losses, y) if training else losses, local)
    metric_sums = [summed(fn(y, out), local) for _, fn in objective.metrics]
    pad = [tf.constant(0.0)] * (width - _TOTALS - len(metric_sums))
    return loss_sum, _penalty(model), tf.stack([objective.correct(y, out), local, *metric_sums, *pad])


def build_train_fn(
    models: Sequence[keras.Model], strategy: tf.distribute.Strategy, x: tf.Tensor, y: tf.Tensor,
    *, masked: bool = False, objectives: Sequence[Objective] | None = None,
) -> Callable[..., tf.Tensor]:
    """A function ``train(indices) -> totals``: ``indices`` is int32 ``[K, steps, batch]``
    (branch k's global batches, in order); it runs ``steps`` optimizer steps of every branch
    in one call and returns float32 ``[K, 3]``: summed loss, correct, images over the call.

    Each branch uses its model's own (already built) optimizer, so its learning-rate
    schedule, slots and clipping are its own. Every shape of ``indices`` shares one trace.
    ``masked``: the function is ``train(indices, active)`` and branch k runs only where the
    bool ``active[k]`` holds (a ``tf.cond`` per branch): one replica only, and used only to
    measure the alternative to re-tracing for the running branches (see fused.py).
    """
    k = len(models)
    objectives = list(objectives) if objectives is not None else [default_objective()] * k
    width = totals_width(objectives)
    n_replicas = strategy.num_replicas_in_sync
    if masked and n_replicas > 1:
        # The optimizer's gradient all-reduce is a merge_call, which TensorFlow refuses
        # inside a tf.cond branch ("merge_call called while defining a new graph").
        raise ValueError(f"masked fused steps run on one replica only, got {n_replicas}; use masked=False")

    def update(model: keras.Model, objective: Objective, ids: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
        xb, yb = tf.gather(x, ids), tf.gather(y, ids)
        with tf.GradientTape() as tape:
            loss_sum, penalty, rest = _sums(model, objective, xb, yb, training=True, width=width)
            # Share of the global mean; the penalty once in total over the replicas.
            loss = loss_sum * scale + penalty / n_replicas
            if isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer):  # mixed_float16
                loss = model.optimizer.scale_loss(loss)
        variables = model.trainable_variables
        model.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        local = tf.cast(tf.shape(ids)[0], tf.float32)
        # Keras' "loss" metric: the batch's loss (penalty included) weighted by its size.
        return tf.concat([[loss_sum + penalty * local], rest], axis=0)

    def replica_step(batch_ids: tf.Tensor, active: tf.Tensor | None) -> tf.Tensor:
        global_size = tf.shape(batch_ids)[1]
        start, end = replica_share(global_size)
        scale = 1.0 / tf.cast(global_size, tf.float32)
        rows = []
        for i, (model, objective) in enumerate(zip(models, objectives)):
            ids = batch_ids[i, start:end]
            if active is None:
                rows.append(update(model, objective, ids, scale))
            else:
                rows.append(tf.cond(active[i], lambda m=model, o=objective, ids=ids: update(m, o, ids, scale),
                                    lambda: tf.zeros([width])))
        return tf.stack(rows)

    def steps(indices: tf.Tensor, active: tf.Tensor | None) -> tf.Tensor:
        totals = tf.zeros([k, width])
        # Several steps per call: the per-call overhead, not arithmetic, bounds a small model.
        for s in tf.range(tf.shape(indices)[1]):
            per_replica = strategy.run(replica_step, args=(indices[:, s], active))
            totals += strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
        return totals

    index_spec = tf.TensorSpec([k, None, None], tf.int32)
    if masked:
        return tf.function(steps, input_signature=[index_spec, tf.TensorSpec([k], tf.bool)], jit_compile=False)
    return tf.function(lambda indices: steps(indices, None), input_signature=[index_spec], jit_compile=False)


def build_eval_fn(
    models: Sequence[keras.Model], strategy: tf.distribute.Strategy, input_shape: tuple[int, ...],
    *, objectives: Sequence[Objective] | None = None, dtypes: tuple[tf.DType, tf.DType] = (tf.uint8, tf.uint8),
    label_shape: tuple[int, ...] = (),
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """A function ``evaluate(x, y) -> totals``: every branch on the same global batch
    (inference mode: no dropout or augmentation), float32 ``[K, 3]`` as in
    :func:`build_train_fn`; the loss includes each branch's penalty, as Keras' does."""
    objectives = list(objectives) if objectives is not None else [default_objective()] * len(models)
    width = totals_width(objectives)

    def replica_eval(xb: tf.Tensor, yb: tf.Tensor) -> tf.Tensor:
        start, end = replica_share(tf.shape(xb)[0])
        xs, ys = xb[start:end], yb[start:end]
        local = tf.cast(end - start, tf.float32)
        rows = []
        for model, objective in zip(models, objectives):
            loss_sum, penalty, rest = _sums(model, objective, xs, ys, training=False, width=width)
            rows.append(tf.concat([[loss_sum + penalty * local], rest], axis=0))
        return tf.stack(rows)

    # One trace for every batch size (the last batch of a split is smaller).
    signature = [tf.TensorSpec([None, *input_shape], dtypes[0]), tf.TensorSpec([None, *label_shape], dtypes[1])]

    @tf.function(input_signature=signature, jit_compile=False)
    def evaluate(xb: tf.Tensor, yb: tf.Tensor) -> tf.Tensor:
        per_replica = strategy.run(replica_eval, args=(xb, yb))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return evaluate
