"""trainers.fused: K trials as one fused group keep the results each gets alone.

TF tier: small slices of the offline sample, 1-3 epochs. The 2-replica MirroredStrategy path
runs in a subprocess (logical devices must be made before TensorFlow starts).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from orchestrator.config import DatasetConfig, ModelConfig, OutputsConfig, ResourcesConfig, TrainingConfig
from orchestrator.trial import TrialSpec, TrialStatus, trial_id_for

pytestmark = [
    pytest.mark.tf,
    pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed"),
]

REPO = Path(__file__).resolve().parents[1]

# Per-epoch metrics of a trial alone and fused: measured equal to the last bit (difference
# 0.0) on one TensorFlow thread. Each branch's ops see the same inputs in the same order
# whatever its companions, so nothing but the kernels' own arithmetic enters; the tolerance
# leaves room for kernels that split work by the thread count when this pytest process
# started TensorFlow with more threads than the fixture asks for.
TOLERANCE = dict(rel=1e-6, abs=1e-7)


@pytest.fixture(scope="module", autouse=True)
def device(cpu_device):
    return cpu_device  # autouse: set before this module's first TensorFlow op


@pytest.fixture(scope="module")
def data():
    from tests.conftest import sample_arrays

    return sample_arrays(640, 256, 128)


def spec(model: ModelConfig = ModelConfig(), root: Path | None = None, outputs: OutputsConfig | None = None,
         **training: object) -> TrialSpec:
    dataset = DatasetConfig(name="mnist_sample")
    cfg = TrainingConfig(**{"optimizer": "adam", "learning_rate": 3e-3, "batch_size": 50, "epochs": 2, **training})
    return TrialSpec(
        sweep="fuse", trial_id=trial_id_for(dataset, model, cfg), dataset=dataset, model=model, training=cfg,
        resources=ResourcesConfig(), outputs=outputs or OutputsConfig(tensorboard=False),
        artifacts_root=str(root) if root else None,
    )


def metrics(result) -> list[tuple[float, float, float, float]]:
    return [(e.loss, e.accuracy, e.val_loss, e.val_accuracy) for e in result.epochs]


def assert_same_run(a, b) -> None:
    assert len(a.epochs) == len(b.epochs)
    for mine, theirs in zip(metrics(a), metrics(b)):
        assert mine == pytest.approx(theirs, **TOLERANCE)
    assert a.test_loss == pytest.approx(b.test_loss, **TOLERANCE)
    assert a.test_accuracy == pytest.approx(b.test_accuracy, **TOLERANCE)


# Dropout, augmentation and an L2 penalty: every source of per-branch randomness and loss.
TRIAL = spec(ModelConfig(dropout=0.2), seed=11, l2=1e-4, augment_shift=0.1)
COMPANIONS_A = [
    spec(seed=1, optimizer="sgd", learning_rate=0.1, momentum=0.9),
    spec(ModelConfig(activation="sigmoid"), seed=2, lr_schedule="exponential", decay_rate=0.5),
    spec(ModelConfig(name="stride_conv"), seed=3, clipnorm=1.0),
]
COMPANIONS_B = [
    spec(seed=4, optimizer="rmsprop", learning_rate=1e-3),
    spec(ModelConfig(name="one_conv", dropout=0.5), seed=5),
    spec(ModelConfig(name="lenet5", pooling="avg"), seed=6, l1=1e-4),
]


def test_branch_starts_from_the_weights_it_gets_alone(data) -> None:
    import keras

    from trainers.fused_branch import Branch
    from trainers.trial_model import compiled_model as _compiled_model

    keras.backend.clear_session()
    keras.utils.set_random_seed(TRIAL.training.seed)
    alone = _compiled_model(TRIAL, data, 13, 1).get_weights()
    keras.backend.clear_session()
    others = [Branch(s, data, 13, 1) for s in COMPANIONS_A]
    fused = Branch(TRIAL, data, 13, 1).model.get_weights()
    assert len(others) == 3 and len(fused) == len(alone)
    for mine, theirs in zip(fused, alone):
        np.testing.assert_array_equal(mine, theirs)


def test_trial_alone_and_fused_with_two_sets_of_companions_gives_the_same_epochs(data, device) -> None:
    from trainers.fused import run_fused_trials

    (alone,) = run_fused_trials([TRIAL], data, device)
    with_a = run_fused_trials([COMPANIONS_A[0], TRIAL, *COMPANIONS_A[1:]], data, device)
    with_b = run_fused_trials([*COMPANIONS_B, TRIAL], data, device)
    assert [r.trial_id for r in with_a] == [COMPANIONS_A[0].trial_id, TRIAL.trial_id, *(s.trial_id for s in COMPANIONS_A[1:])]
    assert alone.status is TrialStatus.COMPLETED and len(alone.epochs) == 2
    assert alone.epochs[1].loss < alone.epochs[0].loss and alone.test_accuracy > 0.5
    assert_same_run(with_a[1], alone)
    assert_same_run(with_b[3], alone)
    # Companions really are different trials: different results.
    assert len({round(r.epochs[-1].loss, 6) for r in with_a}) == 4


def test_a_stopped_branch_stops_updating_while_the_others_go_on(data, device) -> None:
    from trainers.fused import run_fused_trials

    quitter, stayer = spec(seed=21, epochs=3), spec(ModelConfig(activation="tanh"), seed=22, epochs=3)

    def halve(trial_id: str, record) -> str | None:
        return "halving: test" if trial_id == quitter.trial_id and record.epoch == 1 else None

    seen: list[tuple[str, int]] = []
    fused = run_fused_trials([quitter, stayer], data, device,
                             on_epoch=lambda t, r: seen.append((t, r.epoch)), should_stop=halve)
    (quitter_alone,) = run_fused_trials([quitter], data, device, should_stop=halve)
    (stayer_alone,) = run_fused_trials([stayer], data, device)
    assert fused[0].status is TrialStatus.STOPPED and fused[0].stop_reason == "halving: test"
    assert len(fused[0].epochs) == 1 and len(fused[1].epochs) == 3
    assert seen == [(quitter.trial_id, 1), (stayer.trial_id, 1), (stayer.trial_id, 2), (stayer.trial_id, 3)]
    # Its test metrics are those of its weights after epoch 1: no update after it stopped.
    assert_same_run(fused[0], quitter_alone)
    assert_same_run(fused[1], stayer_alone)


def test_early_stopping_is_per_branch(data, device) -> None:
    from trainers.datasets import DatasetArrays
    from trainers.fused import run_fused_trials

    # Random labels: the model can only memorise, so validation loss rises after an epoch or two.
    rng = np.random.default_rng(0)
    y_val = rng.integers(0, 10, len(data.y_val)).astype(np.uint8)
    # The validation set doubles as the test set: restored weights show as a test loss equal
    # to the best epoch's validation loss.
    noisy = DatasetArrays(
        data.name, data.x_train, rng.integers(0, 10, len(data.y_train)).astype(np.uint8),
        data.x_val, y_val, data.x_val, y_val, 10,
    )
    patient = spec(seed=31, epochs=8, learning_rate=1e-2, early_stopping_patience=1)
    plain = spec(seed=32, epochs=8, learning_rate=1e-2)
    fused = run_fused_trials([patient, plain], noisy, device)
    assert fused[0].status is TrialStatus.COMPLETED and fused[0].stop_reason is None  # as run_trial reports it
    assert len(fused[0].epochs) < 8 and len(fused[1].epochs) == 8
    best = min(e.val_loss for e in fused[0].epochs)
    assert best < fused[0].epochs[-1].val_loss  # it stopped after getting worse ...
    assert fused[0].test_loss == pytest.approx(best, rel=1e-5)  # ... and went back to its best
    (alone,) = run_fused_trials([patient], noisy, device)
    assert_same_run(fused[0], alone)


class _Crash(RuntimeError):
    pass


def test_a_crashed_group_resumes_each_branch_from_its_own_checkpoint(data, device, tmp_path) -> None:
    from trainers.fused import run_fused_trials

    outputs = OutputsConfig(checkpoint_every=1, tensorboard=True)

    def group(root: Path) -> list[TrialSpec]:
        return [spec(seed=41, epochs=3, root=root, outputs=outputs),
                spec(ModelConfig(activation="sigmoid"), seed=42, epochs=3, optimizer="sgd", learning_rate=0.5,
                     momentum=0.9, root=root, outputs=outputs)]

    whole = run_fused_trials(group(tmp_path / "whole"), data, device)

    crashing = group(tmp_path / "crash")

    def die_in_epoch_2(trial_id: str, record) -> None:
        # Raised after the first branch saved epoch 2 and before the second did: on resume the
        # branches restart from different epochs (2 and 1).
        if trial_id == crashing[1].trial_id and record.epoch == 2:
            raise _Crash("killed")

    with pytest.raises(_Crash):
        run_fused_trials(crashing, data, device, on_epoch=die_in_epoch_2)
    assert (tmp_path / "crash" / "checkpoints" / "fuse" / crashing[0].trial_id / "state.json").exists()
    resumed = run_fused_trials(crashing, data, device)
    assert [r.resumed_epochs for r in resumed] == [2, 1]
    for r, w in zip(resumed, whole):
        assert r.status is TrialStatus.COMPLETED
        assert_same_run(r, w)
    assert not (tmp_path / "crash" / "checkpoints" / "fuse" / crashing[0].trial_id).exists()
    events = list((tmp_path / "whole" / "tensorboard" / "fuse" / crashing[0].trial_id).rglob("events.out.tfevents.*"))
    assert events, "each branch writes its own TensorBoard logs"


def test_trials_that_do_not_share_a_pipeline_are_refused(data, device) -> None:
    from trainers.fused import run_fused_trials

    with pytest.raises(ValueError, match="does not share the input pipeline"):
        run_fused_trials([spec(batch_size=50), spec(batch_size=64)], data, device)
    with pytest.raises(ValueError, match="appears twice"):
        run_fused_trials([TRIAL, TRIAL], data, device)


def test_measure_fused_rate_gives_a_rate_per_group_size(data, device) -> None:
    from orchestrator.plan import choose_group_size
    from trainers.fused import measure_fused_rate

    rates, setup = measure_fused_rate(spec(), data, device, sizes=(1, 2), steps=2, calls=1)
    assert set(rates) == set(setup) == {1, 2}
    assert all(r > 0 for r in rates.values()) and all(s > 0 for s in setup.values())
    assert setup[2] > setup[1] * 1.2  # tracing two branches costs more than one
    assert choose_group_size(rates, setup, steps_per_trial=13) in (1, 2)


def test_two_cpu_replicas_run_the_fused_step_as_one_global_batch(data, device) -> None:
    # The same two trials on one device here and fused on 2 logical CPUs in a fresh process:
    # the loss scaled by 1/num_replicas makes each step the global batch's step, so the
    # epochs agree up to the summation order of the gradient all-reduce.
    from trainers.fused import run_fused_trials

    trials = [spec(seed=51), spec(ModelConfig(activation="tanh"), seed=52, optimizer="sgd", learning_rate=0.1)]
    here = run_fused_trials(trials, data, device)
    script = textwrap.dedent(
        """
        import json, sys, pickle
        from trainers import configure_process, load_dataset
        from trainers.datasets import DatasetArrays
        from trainers.fused import run_fused_trials
        from orchestrator.config import DatasetConfig
        info = configure_process(replicas=2, threads=1)
        d = load_dataset(DatasetConfig(name="mnist_sample", validation=256))
        d = DatasetArrays(d.name, d.x_train[:640], d.y_train[:640], d.x_val, d.y_val, d.x_test[:128], d.y_test[:128], 10)
        trials = pickle.loads(bytes.fromhex(sys.argv[1]))
        out = [[r.device_count, r.global_batch_size, [[e.loss, e.val_loss] for e in r.epochs], r.test_loss]
               for r in run_fused_trials(trials, d, info)]
        print("RESULT", json.dumps(out))
        """
    )
    import pickle

    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", script, pickle.dumps(trials).hex()], env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
    mirrored = json.loads(line[len("RESULT "):])
    for (count, batch, epochs, test_loss), alone in zip(mirrored, here):
        assert (count, batch) == (2, 50)
        assert [v for e in epochs for v in e] == pytest.approx([v for e in alone.epochs for v in (e.loss, e.val_loss)], rel=1e-4)
        assert test_loss == pytest.approx(alone.test_loss, rel=1e-4)
