"""One contract for every sampler (grid, random, sobol, tpe, and the scripted fake), then
what each method promises on top: distributions over many draws, determinism, the TPE
rebuild and constant liar, grid points combined with a space."""

from __future__ import annotations

import math
import statistics
import subprocess
import sys

import pytest

from orchestrator.search import (
    Choice,
    IntRange,
    LogUniform,
    Observation,
    PerGridPoint,
    RandomSampler,
    ScriptedSampler,
    SearchState,
    SobolSampler,
    TPESampler,
    Uniform,
    combine_seeds,
    history_from_rows,
    make_sampler,
    point_key,
    search_points,
    unit_number,
)
from tests.conftest import REPO

pytestmark = pytest.mark.unit

SPACE = {
    "training.learning_rate": LogUniform(1e-5, 1e-1),
    "model.dropout": Uniform(0.0, 0.5),
    "training.batch_size": IntRange(16, 1024, log=True),
    "model.kernel_size": IntRange(3, 7),
    "model.activation": Choice(("relu", "tanh", "sigmoid")),
}
FINITE = {"model.activation": Choice(("relu", "tanh")), "model.kernel_size": IntRange(3, 5)}  # 6 points
METHODS = ["grid", "random", "sobol", "tpe"]
DRAWING = ["random", "sobol", "tpe"]


def _space(method):
    return FINITE if method == "grid" else SPACE


def _sampler(method, samples, seed=0, space=None, **kw):
    return make_sampler(method, space or _space(method), samples, seed=seed, **kw)


def _score(point) -> float:
    """A smooth objective, best at learning rate 1e-3 and relu."""
    lr = point.get("training.learning_rate", 1e-3)
    return 1.0 - abs(math.log10(lr) + 3) / 4 - (0.1 if point.get("model.activation") != "relu" else 0.0)


def _drain(sampler, tell=True):
    """Ask until None, telling each point its score at once; the points in ask order."""
    points = []
    while (suggestion := sampler.ask()) is not None:
        points.append(suggestion.point)
        if tell:
            sampler.tell(suggestion, _score(suggestion.point))
    return points


# The contract -------------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_budget_is_respected_and_no_point_comes_twice(method):
    samples = 6 if method == "grid" else 12
    sampler = _sampler(method, samples)
    points = _drain(sampler)
    assert len(points) == samples
    assert len({point_key(p) for p in points}) == samples
    assert sampler.ask() is None and sampler.told == samples and sampler.pending == []


@pytest.mark.parametrize("method", METHODS)
def test_pending_points_count_against_the_budget(method):
    sampler = _sampler(method, 4)
    asked = [sampler.ask() for _ in range(4)]
    assert all(a is not None for a in asked) and sampler.ask() is None
    assert [a.number for a in asked] == [0, 1, 2, 3]
    assert sampler.pending == [a.point for a in asked] and sampler.told == 0
    sampler.tell(asked[2], 0.5)
    assert sampler.told == 1 and len(sampler.pending) == 3 and sampler.ask() is None


@pytest.mark.parametrize("method", METHODS)
def test_a_small_discrete_space_runs_out_before_the_budget(method):
    sampler = _sampler(method, 50, space=FINITE)
    points = _drain(sampler)
    assert len(points) == 6 and len({point_key(p) for p in points}) == 6


@pytest.mark.parametrize("method", METHODS)
def test_pruned_and_failed_outcomes_are_accepted(method):
    sampler = _sampler(method, 5)
    a, b, c = sampler.ask(), sampler.ask(), sampler.ask()
    sampler.tell(a, 0.4, SearchState.PRUNED, step=2)
    sampler.tell(b, None, SearchState.FAILED)
    sampler.tell(c, float("nan"))  # a completed trial without a usable metric counts as pruned
    assert sampler.told == 3 and sampler.best is None
    rest = _drain(sampler)
    assert len(rest) == 2  # a failure during the run uses its slot: it is not asked again now
    assert b.point not in rest
    assert sampler.best is not None and sampler.best.state is SearchState.COMPLETED


@pytest.mark.parametrize("method", METHODS)
def test_a_point_that_is_not_the_samplers_is_refused(method):
    sampler = _sampler(method, 3)
    with pytest.raises(ValueError, match="not a point"):
        sampler.tell({"training.momentum": 0.9}, 1.0)


@pytest.mark.parametrize("method", METHODS)
def test_best_follows_the_goal(method):
    for goal, pick in (("max", max), ("min", min)):
        sampler = _sampler(method, 6, goal=goal)
        points = _drain(sampler)
        assert sampler.best.value == pick(_score(p) for p in points)


@pytest.mark.parametrize("method", METHODS)
def test_a_rebuilt_sampler_continues_the_same_search(method):
    """Killed after 5 of 12 (2 of them still running): rebuilt from the 3 stored, it runs
    exactly the missing ones; no point twice, told == stored."""
    samples = 6 if method == "grid" else 12
    first = _sampler(method, samples, seed=3)
    stored = []
    for _ in range(5):
        s = first.ask()
        stored.append(s.point)
    for point in stored[:3]:
        first.tell(point, _score(point))
    history = [Observation(p, _score(p), SearchState.COMPLETED) for p in stored[:3]]

    again = _sampler(method, samples, seed=3)
    assert again.rebuild(history) == 3 and again.told == 3
    rest = _drain(again)
    everything = [*stored[:3], *rest]
    assert len(rest) == samples - 3
    assert len({point_key(p) for p in everything}) == samples
    if method != "tpe":  # deterministic: the very points an uninterrupted run tries
        assert sorted(map(point_key, everything)) == sorted(map(point_key, again.points()))
        assert [point_key(p) for p in stored[3:]] == [point_key(p) for p in rest[:2]]


@pytest.mark.parametrize("method", METHODS)
def test_a_point_stored_as_failed_is_asked_again_first(method):
    sampler = _sampler(method, 4, seed=1)
    failed = _sampler(method, 4, seed=1).ask().point
    other = _sampler(method, 4, seed=2).ask().point if method != "grid" else None
    history = [Observation(failed, None, SearchState.FAILED)]
    if other is not None and sampler.matches(other):
        history.append(Observation(other, 0.9, SearchState.COMPLETED))
    assert sampler.rebuild(history) == len(history)
    assert sampler.ask().point == failed
    points = [failed, *_drain(sampler)]
    assert len(points) == 4 - (len(history) - 1)  # the failed point does not take a slot twice


def test_the_scripted_fake_keeps_the_contract():
    script = [{"x": i} for i in range(4)]
    fake = ScriptedSampler(script)
    a, b = fake.ask(), fake.ask()
    assert (a.number, a.point, b.point) == (0, {"x": 0}, {"x": 1}) and fake.pending == [{"x": 0}, {"x": 1}]
    fake.tell(b, 0.5, SearchState.PRUNED, step=1)
    fake.tell(a, 0.7)
    assert fake.told == 2 and fake.best.point == {"x": 0}
    assert fake.tells[0] == Observation({"x": 1}, 0.5, SearchState.PRUNED, 1)
    again = ScriptedSampler(script)
    assert again.rebuild(fake.tells) == 2
    assert [s.point for s in iter(again.ask, None)] == [{"x": 2}, {"x": 3}]


# Distributions over many draws --------------------------------------------------------------

def _many(method, n=2000):
    if method == "tpe":  # 150 told: 10 startup draws, then 140 modelled ones (2000 would take ~1 min)
        return _drain(_sampler(method, 150))
    return _sampler(method, n).points()


@pytest.mark.parametrize("method", DRAWING)
def test_values_stay_inside_their_distributions(method):
    points = _many(method)
    for point in points:
        assert 1e-5 <= point["training.learning_rate"] < 1e-1
        assert 0.0 <= point["model.dropout"] < 0.5
        assert isinstance(point["training.batch_size"], int) and 16 <= point["training.batch_size"] <= 1024
        assert isinstance(point["model.kernel_size"], int) and 3 <= point["model.kernel_size"] <= 7
        assert point["model.activation"] in ("relu", "tanh", "sigmoid")
        assert all(type(v) in (int, float, str) for v in point.values())  # plain Python: configs, ids, Parquet
    assert {p["model.kernel_size"] for p in points} == {3, 4, 5, 6, 7}  # both ends reached
    assert {p["model.activation"] for p in points} == {"relu", "tanh", "sigmoid"}


@pytest.mark.parametrize("method", ["random", "sobol"])
def test_scales_are_what_the_distributions_say(method):
    points = _many(method)
    lrs = [p["training.learning_rate"] for p in points]
    assert 6e-4 < statistics.median(lrs) < 1.6e-3  # log-uniform: the median is the geometric middle
    assert 0.2 < sum(lr < 1e-4 for lr in lrs) / len(lrs) < 0.3  # a quarter per decade
    batch = [p["training.batch_size"] for p in points]
    assert 0.4 < sum(b <= 128 for b in batch) / len(batch) < 0.6  # 128 = sqrt(16 * 1024)
    dropout = [p["model.dropout"] for p in points]
    assert 0.23 < statistics.mean(dropout) < 0.27
    kernels = [p["model.kernel_size"] for p in points]
    assert all(0.15 < kernels.count(k) / len(kernels) < 0.25 for k in range(3, 8))


def test_tpe_draws_log_uniformly_before_it_has_a_model():
    sampler = TPESampler(SPACE, 1000, seed=0)
    lrs = [sampler.ask().point["training.learning_rate"] for _ in range(1000)]  # nothing told: startup draws
    assert 5e-4 < statistics.median(lrs) < 2e-3


def test_sobol_covers_a_small_budget_more_evenly_than_random():
    space = {"a": Uniform(0.0, 1.0), "b": Uniform(0.0, 1.0)}

    def worst_empty_cell(points):  # 4x4 cells, 16 points: Sobol puts one in each
        cells = {(int(p["a"] * 4), int(p["b"] * 4)) for p in points}
        return 16 - len(cells)

    sobol = [worst_empty_cell(SobolSampler(space, 16, seed=s).points()) for s in range(5)]
    random = [worst_empty_cell(RandomSampler(space, 16, seed=s).points()) for s in range(5)]
    assert max(sobol) == 0 and min(random) > 0


def test_distributions_map_the_unit_interval_ends_inside():
    for d in (Uniform(0.0, 1.0), LogUniform(1e-5, 1e-1)):
        assert d.low <= d.from_unit(0.0) < d.high and d.low <= d.from_unit(1 - 1e-17) < d.high
    assert IntRange(1, 8).from_unit(0.0) == 1 and IntRange(1, 8).from_unit(0.9999999) == 8
    assert IntRange(1, 1000, log=True).from_unit(0.0) == 1 and IntRange(1, 1000, log=True).from_unit(0.9999999) == 1000
    assert Choice(([32, 64], [64, 128])).from_unit(0.7) == [64, 128]  # lists are values too
    assert Choice((True, False)).contains(True) and not Choice((1, 2)).contains(True)


def test_unit_numbers_are_uniform_and_independent_of_other_fields():
    us = [unit_number(0, k, "x") for k in range(5000)]
    assert 0.0 <= min(us) and max(us) < 1.0 and abs(statistics.mean(us) - 0.5) < 0.02
    one = RandomSampler({"x": Uniform(0, 1)}, 5, seed=0).points()
    two = RandomSampler({"x": Uniform(0, 1), "y": Uniform(0, 1)}, 5, seed=0).points()
    assert [p["x"] for p in one] == [p["x"] for p in two]  # adding a field keeps the others' draws


# Determinism --------------------------------------------------------------------------------

@pytest.mark.parametrize("method", DRAWING)
def test_same_seed_same_points_other_seed_other_points(method):
    def run(seed):
        return _drain(_sampler(method, 15, seed=seed))

    assert run(4) == run(4)
    assert run(4) != run(5)


@pytest.mark.parametrize("method", ["random", "sobol"])
def test_deterministic_points_are_a_pure_function_of_space_seed_and_k(method):
    sampler = _sampler(method, 40, seed=9)
    assert sampler.points(10) == sampler.points()[:10] == _sampler(method, 10, seed=9).points()
    assert _drain(_sampler(method, 40, seed=9)) == sampler.points()  # asks follow the plan
    # another process (as another machine would) plans the same points
    space = "{'lr': LogUniform(1e-5, 1e-1), 'a': Choice(('x', 'y'))}"
    code = f"from orchestrator.search import *; print(make_sampler('{method}', {space}, 8, seed=9).points())"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    here = make_sampler(method, {"lr": LogUniform(1e-5, 1e-1), "a": Choice(("x", "y"))}, 8, seed=9).points()
    assert out.strip() == repr(here) and len(here) == 8


def test_tpe_asks_after_a_rebuild_are_a_function_of_the_history():
    history = [Observation(p, _score(p), SearchState.COMPLETED) for p in _drain(_sampler("tpe", 14, seed=1))]
    history[3] = Observation(history[3].point, 0.2, SearchState.PRUNED, step=1)

    def resumed():
        sampler = TPESampler(SPACE, 20, seed=1)
        assert sampler.rebuild(history) == len(history) == sampler.told
        return [sampler.ask().point for _ in range(6)]

    first = resumed()
    assert first == resumed()
    assert not {point_key(p) for p in first} & {point_key(o.point) for o in history}


def test_tpe_learns_from_what_it_is_told():
    """After 30 told points, modelled asks cluster near the optimum (lr 1e-3, relu)."""
    space = {"training.learning_rate": LogUniform(1e-5, 1e-1), "model.activation": Choice(("relu", "tanh"))}
    near = []
    for seed in range(3):
        sampler = TPESampler(space, 40, seed=seed)
        points = _drain(sampler)
        near.append(statistics.mean(abs(math.log10(p["training.learning_rate"]) + 3) for p in points[-10:]))
    assert statistics.mean(near) < 0.6  # random log-uniform draws average 1.0 decade away


def test_tpe_constant_liar_steers_pending_asks_apart():
    """Six trainers asking in turn with nothing told back: with the liar the pending points
    spread out; without it TPE suggests near its optimum six times."""
    space = {"training.learning_rate": LogUniform(1e-5, 1e-1)}

    def spread(liar, seed):
        sampler = TPESampler(space, 40, seed=seed, constant_liar=liar)
        for point in make_sampler("random", space, 20, seed=seed).points():
            sampler.tell(point, _score(point))
        pending = [math.log10(sampler.ask().point["training.learning_rate"]) for _ in range(6)]
        return statistics.pstdev(pending)

    with_liar = statistics.mean(spread(True, s) for s in range(6))
    without = statistics.mean(spread(False, s) for s in range(6))
    assert with_liar > 1.5 * without


def test_tpe_tells_stored_points_to_optuna_as_finished_trials():
    sampler = TPESampler(SPACE, 10, seed=0)
    points = RandomSampler(SPACE, 4, seed=0).points()
    sampler.rebuild([Observation(points[0], 0.9, SearchState.COMPLETED),
                     Observation(points[1], 0.3, SearchState.PRUNED, step=2),
                     Observation(points[2], None, SearchState.FAILED),
                     Observation(points[3], None, SearchState.PRUNED)])
    states = [t.state.name for t in sampler._study.trials]
    assert states == ["COMPLETE", "PRUNED", "FAIL", "PRUNED"]
    assert sampler._study.trials[1].intermediate_values == {2: 0.3}
    assert sampler.ask().point == points[2]  # the failed one runs again first


# Grid points and a space ---------------------------------------------------------------------

GRID = [{"training.optimizer": "adam"}, {"training.optimizer": "sgd"}]
LR = {"training.learning_rate": LogUniform(1e-5, 1e-1)}


@pytest.mark.parametrize("method", ["random", "sobol"])
def test_each_grid_point_gets_its_own_draws(method):
    points = search_points(GRID, LR, method, 4, seed=0)
    assert [p["training.optimizer"] for p in points] == ["adam"] * 4 + ["sgd"] * 4
    adam = [p["training.learning_rate"] for p in points[:4]]
    sgd = [p["training.learning_rate"] for p in points[4:]]
    assert adam != sgd  # independent draws per grid point
    grown = search_points([*GRID, {"training.optimizer": "rmsprop"}], LR, method, 4, seed=0)
    assert grown[:8] == points  # a new grid value leaves the other grid points' draws alone
    assert search_points(GRID, LR, method, 4, seed=1) != points
    assert make_sampler(method, LR, 4, seed=0, grid_points=GRID).points() == points


def test_search_points_of_a_grid_are_the_grid_points_and_tpe_has_none_up_front():
    assert search_points(GRID, {}, "grid", 1) == GRID
    assert search_points([{}], {}, "grid", 1) == [{}]
    with pytest.raises(TypeError, match="not known up front"):
        search_points(GRID, LR, "tpe", 4)


def test_per_grid_point_asks_in_turn_and_routes_tells():
    sampler = make_sampler("tpe", LR, 3, seed=0, grid_points=GRID)
    assert isinstance(sampler, PerGridPoint)
    asked = [sampler.ask() for _ in range(6)]
    assert [a.point["training.optimizer"] for a in asked] == ["adam", "sgd"] * 3
    assert sampler.ask() is None and len(sampler.pending) == 6
    for a in asked:
        sampler.tell(a, _score(a.point))
    assert sampler.told == 6 and [s.told for s in sampler.samplers] == [3, 3]
    history = [Observation(a.point, _score(a.point), SearchState.COMPLETED) for a in asked[:4]]
    again = make_sampler("tpe", LR, 3, seed=0, grid_points=GRID)
    assert again.rebuild(history) == 4
    assert len(_drain(again)) == 2
    with pytest.raises(ValueError, match="no grid point"):
        again.tell({"training.optimizer": "rmsprop", "training.learning_rate": 1e-3}, 0.5)


def test_grid_sampler_walks_the_product_in_grid_order():
    grid = make_sampler("grid", {"a": Choice((1, 2)), "b": Choice(("x", "y", "z"))}, 6)
    assert grid.points() == [{"a": a, "b": b} for a in (1, 2) for b in ("x", "y", "z")]
    assert make_sampler("grid", {}, 1, grid_points=GRID).points() == GRID


# From the store to the sampler ---------------------------------------------------------------

def test_history_is_one_outcome_per_point_over_its_seeds():
    rows = [
        {"status": "completed", "learning_rate": 1e-3, "optimizer": "adam", "val_accuracy": 0.9, "epochs_run": 3},
        {"status": "completed", "learning_rate": 1e-3, "optimizer": "adam", "val_accuracy": 0.8, "epochs_run": 3},
        {"status": "stopped", "learning_rate": 1e-2, "optimizer": "adam", "val_accuracy": 0.1, "epochs_run": 1},
        {"status": "completed", "learning_rate": 1e-2, "optimizer": "adam", "val_accuracy": 0.3, "epochs_run": 3},
        {"status": "failed", "learning_rate": 1e-4, "optimizer": "adam", "val_accuracy": None, "epochs_run": 0},
        {"status": "completed", "learning_rate": 1e-5, "optimizer": "adam", "val_accuracy": 0.5, "epochs_run": 3},
    ]
    paths = ["training.optimizer", "training.learning_rate"]
    history = history_from_rows(rows, paths, "val_accuracy", lambda path: path.split(".")[-1], seeds=2)
    point = {"training.optimizer": "adam", "training.learning_rate": 1e-3}
    assert history[0] == Observation(point, pytest.approx(0.85), SearchState.COMPLETED, 3)
    assert history[1].state is SearchState.PRUNED and history[1].value == pytest.approx(0.2)
    assert history[2].state is SearchState.FAILED and history[2].value is None
    assert history[3].state is SearchState.FAILED  # one seed of two stored: asked again, the other seed runs
    assert combine_seeds([(SearchState.COMPLETED, 0.5, 2)]) == (0.5, SearchState.COMPLETED, 2)
    assert SearchState.of_status("stopped") is SearchState.PRUNED


def test_importing_the_search_package_loads_nothing_heavy():
    code = "import sys, orchestrator.search; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert not set(out.stdout.split()) & {"optuna", "scipy", "numpy", "tensorflow", "ray", "keras"}
