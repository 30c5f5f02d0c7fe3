"""A trainer's memory over many trials (issue 23), TF tier: a finished trial leaves nothing
behind in the process (no traced graph, no gradient-registry entry), and releasing it changes
no result: per-epoch metrics bit for bit equal to a fresh process's.

The Ray-tier tests (one trainer's resident memory over ~60 trials, and trainers replaced
between trials) are in tests/test_ray_memory.py.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.tf,
    pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed"),
]

REPO = Path(__file__).resolve().parents[1]

# Runs in a fresh process (one TensorFlow thread, as trainers run): trains the trials named
# on the command line in order, in one process, and prints each one's metrics. "norelease:"
# before a name runs that trial and the ones after it with the release step switched off.
_SCRIPT = textwrap.dedent('''
    import dataclasses, json, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from orchestrator.config import DatasetConfig, ModelConfig, OutputsConfig, ResourcesConfig, TrainingConfig
    from orchestrator.trial import TrialSpec, trial_id_for
    from tests.conftest import sample_arrays
    from trainers import configure_process, run_fused_trials
    import trainers.release

    device = configure_process(replicas=1, threads=1)
    data = sample_arrays(640, 256, 128)
    root = Path(sys.argv[2])
    # T: dropout and random shifts draw from the seeds; checkpoints and TensorBoard writers on.
    TRIALS = {
        "T": (ModelConfig(name="lenet5", dropout=0.25), dict(optimizer="adam", learning_rate=3e-3, seed=7,
                                                               augment_shift=0.1)),
        "U": (ModelConfig(name="lenet5", activation="tanh"), dict(optimizer="sgd", learning_rate=0.05, seed=1)),
        "V": (ModelConfig(name="stride_conv"), dict(optimizer="rmsprop", learning_rate=1e-3, seed=2)),
    }

    def spec(name, run):
        model, training = TRIALS[name]
        dataset = DatasetConfig(name="mnist_sample")
        cfg = TrainingConfig(batch_size=64, epochs=2, **training)
        return TrialSpec(sweep=f"m{run}", trial_id=trial_id_for(dataset, model, cfg), dataset=dataset, model=model,
                         training=cfg, resources=ResourcesConfig(), outputs=OutputsConfig(tensorboard=True),
                         artifacts_root=str(root))

    out = []
    for run, item in enumerate(sys.argv[3:]):
        if item.startswith("norelease:"):
            trainers.release.release_trial_state = lambda before, **_: None
            item = item.split(":", 1)[1]
        group = [spec(name, run) for name in item.split("+")]  # "U+V": one fused group
        for r in run_fused_trials(group, data, device):
            out.append([[(e.loss, e.accuracy, e.val_loss, e.val_accuracy) for e in r.epochs],
                        r.test_loss, r.test_accuracy])
    print(json.dumps(out))
''')


def _run(tmp_path: Path, *trials: str) -> list:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(REPO), str(tmp_path), *trials],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_releasing_a_trial_changes_no_result_bit_for_bit(tmp_path: Path) -> None:
    """T alone in a fresh process, against T run after other trials (alone and a fused group)
    with the release step between them, and after others without it: per-epoch losses and
    accuracies and the test metrics exactly equal (==, not approximately)."""
    (fresh,) = _run(tmp_path / "fresh", "T")
    t1, _, t2, _, _, _, t3 = _run(tmp_path / "long", "T", "U", "T", "U+V", "norelease:U", "T")
    assert t1 == fresh
    assert t2 == fresh  # after U and a release
    assert t3 == fresh  # today's behaviour: no release step
    assert len(fresh[0]) == 2 and all(isinstance(v, float) for v in fresh[0][0])


def test_a_finished_trial_leaves_no_graph_and_no_gradient_entry_behind(cpu_device) -> None:
    """What grew by ~3,000 objects (1-2.3 MiB) per trial before: each trial's traced train step,
    kept alive by the CustomGradient entry Keras' optimizer registers in TensorFlow."""
    from tensorflow.python.framework.func_graph import FuncGraph

    from tests.conftest import sample_arrays
    from tests.test_fused import spec
    from trainers import run_fused_trials, warm_traces
    from trainers.release import custom_gradient_names

    data = sample_arrays(128, 64, 64)
    run_fused_trials([spec(seed=0, epochs=1)], data, cpu_device)  # warm: lazy imports, Keras' own caches
    names, objects = custom_gradient_names(), len(gc.get_objects())
    # Graphs other tests of this process may still hold (a fixture's model, say) are theirs.
    before = {id(g) for g in gc.get_objects() if isinstance(g, FuncGraph)}
    for seed in (1, 2, 3):
        run_fused_trials([spec(seed=seed, epochs=1)], data, cpu_device)
    run_fused_trials([spec(seed=4, epochs=1), spec(seed=5, epochs=1)], data, cpu_device)  # a fused group
    assert custom_gradient_names() == names
    # What stays is what a trainer keeps for later trials of the same shapes
    # (trainers/warm_traces.py): the traced steps of the single trial's and the group's.
    kept = [g for g in gc.get_objects() if isinstance(g, FuncGraph) and id(g) not in before]
    assert kept and warm_traces.kept() is not None and len(warm_traces.kept().models) == 2
    del kept
    warm_traces.drop()
    gc.collect()
    assert [g.name for g in gc.get_objects() if isinstance(g, FuncGraph) and id(g) not in before] == []
    # Flat to within a few hundred objects (before: +3,000 per trial).
    assert len(gc.get_objects()) - objects < 500
