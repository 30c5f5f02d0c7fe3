"""orchestrator.plan (fusion): grouping planned trials into fused groups, choosing K for `auto`."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.plan import choose_group_size, fusion_groups, fusion_key
from tests.conftest import grid_specs

pytestmark = pytest.mark.unit


def ids(groups) -> list[list[str]]:
    return [[s.trial_id for s in g] for g in groups]


def test_one_pipeline_is_cut_into_groups_of_at_most_max_size_in_sweep_order() -> None:
    specs = grid_specs(grid={"model.activation": ["relu", "sigmoid"], "training.optimizer": ["sgd", "adam"]},
                       seeds=[0, 1, 2])  # 12 trials, one pipeline
    groups = fusion_groups(specs, 5)
    assert [len(g) for g in groups] == [5, 5, 2]
    assert [s.trial_id for g in groups for s in g] == [s.trial_id for s in specs]


def test_max_size_one_is_no_fusion() -> None:
    specs = grid_specs(grid={"training.batch_size": [50, 128]}, seeds=[0, 1])
    assert ids(fusion_groups(specs, 1)) == [[s.trial_id] for s in specs]


def test_trials_group_only_with_trials_of_the_same_pipeline() -> None:
    specs = grid_specs(grid={"training.batch_size": [50, 128], "training.learning_rate": [1e-3, 1e-4]},
                       seeds=[0, 1])
    groups = fusion_groups(specs, 8)
    assert len(groups) == 2
    for g in groups:
        assert len({s.training.batch_size for s in g}) == 1 and len(g) == 4
    # Groups in the order of their first trial; members in sweep order.
    order = [s.trial_id for s in specs]
    firsts = [order.index(g[0].trial_id) for g in groups]
    assert firsts == sorted(firsts)
    for g in groups:
        positions = [order.index(s.trial_id) for s in g]
        assert positions == sorted(positions)


@pytest.mark.parametrize(
    "section, change, shared",
    [
        ("training", {"epochs": 3}, False),
        ("training", {"batch_size_scope": "per_replica"}, False),
        ("dataset", {"validation": 0.2}, False),
        ("resources", {"replicas": 2}, False),
        ("training", {"seed": 9, "optimizer": "sgd", "learning_rate": 0.5, "l2": 1e-3, "clipnorm": 1.0}, True),
        ("model", {"name": "stride_conv", "activation": "tanh", "dropout": 0.0}, True),
        ("dataset", {"normalize": False}, True),  # scaling is the model's first layer
        ("stopping", {"chance_after": 2}, True),
        ("outputs", {"checkpoint_every": 0}, True),
    ],
)
def test_what_a_group_must_share(section: str, change: dict, shared: bool) -> None:
    (spec,) = grid_specs()
    other = dataclasses.replace(spec, trial_id="other", **{section: dataclasses.replace(getattr(spec, section), **change)})
    assert (fusion_key(other) == fusion_key(spec)) is shared
    assert len(fusion_groups([spec, other], 4)) == (1 if shared else 2)


def test_grouping_is_deterministic_and_interleaved_keys_keep_their_order() -> None:
    specs = grid_specs(grid={"training.batch_size": [50, 128]}, seeds=[0, 1, 2])
    # Interleave the two pipelines: a, b, a, b, ...
    by_batch = {b: [s for s in specs if s.training.batch_size == b] for b in (50, 128)}
    mixed = [s for pair in zip(by_batch[50], by_batch[128]) for s in pair]
    first, again = fusion_groups(mixed, 2), fusion_groups(mixed, 2)
    assert ids(first) == ids(again)
    assert ids(first) == [
        [mixed[0].trial_id, mixed[2].trial_id], [mixed[1].trial_id, mixed[3].trial_id],
        [mixed[4].trial_id], [mixed[5].trial_id],
    ]


def test_bad_group_size_and_duplicate_trials_are_refused() -> None:
    specs = grid_specs(seeds=[0, 1])
    with pytest.raises(ValueError, match="must be >= 1"):
        fusion_groups(specs, 0)
    with pytest.raises(ValueError, match="more than once"):
        fusion_groups([specs[0], specs[0]], 2)


def test_choose_group_size_maximises_trial_steps_per_second() -> None:
    # K * rate: 100, 180, 280, 240 -> 4
    assert choose_group_size({1: 100.0, 2: 90.0, 4: 70.0, 8: 30.0}) == 4
    # Fusion that does not pay stays at 1.
    assert choose_group_size({1: 100.0, 2: 45.0, 4: 20.0}) == 1
    # A tie goes to the smaller group.
    assert choose_group_size({1: 100.0, 2: 50.0}) == 1
    assert choose_group_size({8: 10.0}) == 8


def test_a_group_setup_cost_favours_fusing_short_trials() -> None:
    # Arithmetic-bound device: K * rate is flat or falls, so steps alone see no gain ...
    rates = {1: 100.0, 2: 48.0, 4: 23.0, 8: 11.0}
    setup = {1: 0.6, 2: 0.8, 4: 1.2, 8: 2.4}  # tracing grows slower than K
    assert choose_group_size(rates) == 1
    # ... but trials of 30 steps spend most of their time on setup: a group amortises it.
    assert choose_group_size(rates, setup, steps_per_trial=30) == 4  # 1.11, 1.40, 1.60, 1.56 trials/s
    # Long trials: the setup hardly counts and the steps decide.
    assert choose_group_size(rates, setup, steps_per_trial=100_000) == 1


def test_setup_times_must_cover_every_measured_size() -> None:
    with pytest.raises(ValueError, match="no setup time"):
        choose_group_size({1: 100.0, 2: 60.0}, {1: 0.5}, steps_per_trial=10)
    with pytest.raises(ValueError, match="steps_per_trial"):
        choose_group_size({1: 100.0}, {1: 0.5}, steps_per_trial=0)


@pytest.mark.parametrize("rates", [{}, {0: 10.0}, {1: 0.0}, {2: float("nan")}])
def test_choose_group_size_refuses_what_was_not_measured(rates) -> None:
    with pytest.raises(ValueError):
        choose_group_size(rates)


@pytest.mark.parametrize(("trials", "sizes"), [(0, (1,)), (1, (1,)), (3, (1, 2)), (4, (1, 2, 4)), (100, (1, 2, 4, 8))])
def test_auto_measures_only_group_sizes_the_sweep_can_fill(trials, sizes) -> None:
    from orchestrator.plan import auto_sizes

    assert auto_sizes(trials) == sizes


@pytest.mark.parametrize(("batch", "scope", "replicas", "images", "epochs", "steps"), [
    (128, "global", 1, 55_000, 1, 430),      # ceil(55000 / 128) = 430
    (128, "global", 1, 55_000, 3, 1290),     # 430 per epoch
    (50, "global", 2, 1000, 2, 40),          # a global batch is split across replicas: 20 steps/epoch
    (50, "per_replica", 2, 1000, 2, 20),     # 2 replicas x 50 = 100 images a step: 10 steps/epoch
    (128, "global", 1, None, 4, 4),          # train size not known: one step per epoch
])
def test_steps_per_trial_counts_global_batches_per_epoch(batch, scope, replicas, images, epochs, steps) -> None:
    from orchestrator.plan import steps_per_trial

    spec = grid_specs(grid={})[0]
    spec = dataclasses.replace(
        spec,
        training=dataclasses.replace(spec.training, batch_size=batch, batch_size_scope=scope, epochs=epochs),
        resources=dataclasses.replace(spec.resources, replicas=replicas),
    )
    assert steps_per_trial(spec, images) == steps
