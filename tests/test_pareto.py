"""The Pareto front: hand-checked trade-offs, directions, ties and missing values."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from orchestrator.answers import pareto_front, parse_objectives, QueryError

pytestmark = pytest.mark.unit

TABLE = pa.table({
    "trial_id": ["a", "b", "c", "d", "e", "f", "g"],
    "test_accuracy": [0.99, 0.98, 0.97, 0.96, 0.97, None, 0.90],
    "total_seconds": [100.0, 50.0, 20.0, 30.0, 20.0, 1.0, float("nan")],
    "optimizer": ["adam"] * 7,
})
BOTH = [("test_accuracy", "max"), ("total_seconds", "min")]


def test_front_of_accuracy_against_time():
    front = pareto_front(TABLE, BOTH)
    # d is beaten by c (more accurate and faster); c and e tie and both stay; f and g lack a value.
    assert front["trial_id"].to_pylist() == ["a", "b", "c", "e"]
    assert front.column_names == TABLE.column_names


def test_direction_matters():
    slow_and_bad = pareto_front(TABLE, [("test_accuracy", "min"), ("total_seconds", "max")])
    assert slow_and_bad["trial_id"].to_pylist() == ["d", "b", "a"]
    fast_and_bad = pareto_front(TABLE, [("total_seconds", "min"), ("test_accuracy", "min")])
    assert fast_and_bad["trial_id"].to_pylist() == ["c", "e", "d"]


def test_front_matches_the_definition_on_random_tables():
    rng = random.Random(0)
    for _ in range(20):
        n = rng.randint(1, 40)
        table = pa.table({"x": [rng.randint(0, 6) * 1.0 for _ in range(n)], "y": [rng.randint(0, 6) for _ in range(n)],
                          "z": [rng.random() for _ in range(n)]})
        objectives = [("x", "max"), ("y", "min"), ("z", "max")][: rng.choice([2, 3])]
        rows = table.to_pylist()
        sign = {"max": -1, "min": 1}

        def vec(r):
            return [sign[g] * r[c] for c, g in objectives]

        def dominated(r):
            return any(all(a <= b for a, b in zip(vec(o), vec(r))) and vec(o) != vec(r) for o in rows)

        expected = sorted(i for i, r in enumerate(rows) if not dominated(r))
        front = pareto_front(table.append_column("i", pa.array(range(n))), objectives)
        assert sorted(front["i"].to_pylist()) == expected
        firsts = [sign[objectives[0][1]] * v for v in front[objectives[0][0]].to_pylist()]
        assert firsts == sorted(firsts)  # best first by the first objective


@pytest.mark.parametrize("text, message", [
    ("test_accuracy:max", "a trade-off needs two or more objectives"),
    ("test_accuracy:best,total_seconds:min", "'test_accuracy:best' is not COLUMN:max or COLUMN:min"),
    ("test_accuracy:max,test_accuracy:min", "test_accuracy is listed twice"),
    (":max,total_seconds:min", "is not COLUMN:max"),
])
def test_bad_objectives_are_one_line(text, message):
    with pytest.raises(QueryError, match=None) as error:
        parse_objectives(text)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_objectives_without_a_direction_take_the_one_their_name_says():
    assert parse_objectives("test_accuracy, total_seconds") == BOTH
    assert parse_objectives("val_loss:max,images_per_second") == [("val_loss", "max"), ("images_per_second", "max")]


def test_columns_are_checked():
    with pytest.raises(QueryError, match="did you mean 'total_seconds'"):
        pareto_front(TABLE, [("test_accuracy", "max"), ("total_second", "min")])
    with pytest.raises(QueryError, match="optimizer holds string values, not numbers"):
        pareto_front(TABLE, [("test_accuracy", "max"), ("optimizer", "min")])
    empty = pareto_front(TABLE.slice(0, 0), BOTH)
    assert empty.num_rows == 0 and empty.schema == TABLE.schema


def test_all_equal_rows_are_all_kept():
    table = pa.table({"a": [1.0] * 4, "b": [2] * 4})
    assert pareto_front(table, [("a", "max"), ("b", "min")]).num_rows == 4
