"""orchestrator.plan (fusion): grouping planned trials into fused groups, choosing K for `auto`."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.plan import GroupTaker, PlannedTrials, choose_group_size, fusion_key
from tests.conftest import grid_specs

pytestmark = pytest.mark.unit


class CountingSource(PlannedTrials):
    """A planned list that counts how many trials were taken from it."""

    def __init__(self, specs) -> None:
        super().__init__(specs)
        self.taken = 0

    def take(self):
        spec = super().take()
        self.taken += spec is not None
        return spec


def drain(specs, size: int, lookahead: int | None = None) -> list[list[str]]:
    """Every group GroupTaker hands out, as trial ids, in order."""
    taker = GroupTaker(PlannedTrials(specs), size, lookahead)
    out = []
    while (group := taker.next_group()) is not None:
        out.append([s.trial_id for s in group])
    assert taker.exhausted
    return out


def interleaved(per_pipeline: int) -> tuple[list, list, list]:
    """Trials of two input pipelines (batch 50: a, batch 128: b), given as a0, b0, a1, b1, ..."""
    specs = grid_specs(grid={"training.batch_size": [50, 128]}, seeds=list(range(per_pipeline)))
    a = [s for s in specs if s.training.batch_size == 50]
    b = [s for s in specs if s.training.batch_size == 128]
    assert len(a) == len(b) == per_pipeline
    return a, b, [s for pair in zip(a, b) for s in pair]


def test_one_pipeline_is_cut_into_groups_of_at_most_size_in_sweep_order() -> None:
    specs = grid_specs(grid={"model.activation": ["relu", "sigmoid"], "training.optimizer": ["sgd", "adam"]},
                       seeds=[0, 1, 2])  # 12 trials, one pipeline
    t = [s.trial_id for s in specs]
    assert drain(specs, 5) == [t[0:5], t[5:10], t[10:12]]


def test_size_one_is_no_fusion() -> None:
    a, b, mixed = interleaved(2)
    assert drain(mixed, 1) == [[s.trial_id] for s in mixed]


def test_batch_sizes_50_and_128_never_share_a_group() -> None:
    a, b, mixed = interleaved(4)  # a0 b0 a1 b1 a2 b2 a3 b3
    ia, ib = [s.trial_id for s in a], [s.trial_id for s in b]
    assert drain(mixed, 8) == [ia, ib]  # one group per pipeline, never more
    assert drain(mixed, 3) == [ia[:3], ib[:3], ia[3:], ib[3:]]
    assert drain(mixed, 2) == [ia[:2], ib[:2], ia[2:], ib[2:]]


def test_interleaved_pipelines_fill_a_group_before_handing_out_a_partial_one() -> None:
    a, b, mixed = interleaved(3)  # a0 b0 a1 b1 a2 b2
    ia, ib = [s.trial_id for s in a], [s.trial_id for s in b]
    assert drain(mixed, 2) == [[ia[0], ia[1]], [ib[0], ib[1]], [ia[2]], [ib[2]]]


def test_a_search_looks_ahead_no_further_than_the_group_size() -> None:
    a, b, _ = interleaved(3)
    source = CountingSource([a[0], b[0], a[1], a[2]])
    taker = GroupTaker(source, 2, lookahead=2)
    assert [s.trial_id for s in taker.next_group()] == [a[0].trial_id]  # a0, b0 taken: no pair in 2
    assert source.taken == 2
    assert [s.trial_id for s in taker.next_group()] == [b[0].trial_id]
    assert source.taken == 3
    assert [s.trial_id for s in taker.next_group()] == [a[1].trial_id, a[2].trial_id]
    assert taker.next_group() is None and taker.exhausted


def test_a_planned_sweep_looks_ahead_as_far_as_it_takes_to_fill_a_group() -> None:
    a, b, _ = interleaved(3)
    source = CountingSource([a[0], b[0], b[1], a[1]])
    taker = GroupTaker(source, 2)
    assert [s.trial_id for s in taker.next_group()] == [b[0].trial_id, b[1].trial_id]
    assert source.taken == 3  # stopped taking as soon as a group was full
    assert not taker.exhausted
    assert [s.trial_id for s in taker.next_group()] == [a[0].trial_id, a[1].trial_id]
    assert taker.next_group() is None and taker.exhausted


def test_bad_group_size_is_refused() -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        GroupTaker(PlannedTrials([]), 0)


@pytest.mark.parametrize(
    "section, change, shared",
    [
        ("training", {"batch_size": 50}, False),
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
    assert drain([spec, other], 4) == ([[spec.trial_id, "other"]] if shared else [[spec.trial_id], ["other"]])
    other_sweep = dataclasses.replace(spec, trial_id="elsewhere", sweep="u")
    assert fusion_key(other_sweep) != fusion_key(spec)


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
