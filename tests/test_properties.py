"""Property tests: whatever a user writes in an experiment file, a ``--set`` or a ``--where``
is either accepted or refused with the one error type the CLI prints as one line (exit 2).
Any other exception is a traceback in front of the user, i.e. a bug.

Hypothesis generates inputs shaped like real ones (section names, known keys, dotted grid
axes) mixed with random keys and YAML-ish values: ints (huge, negative), floats (inf, nan),
text, lists, null, bools.
"""

from __future__ import annotations

import typing
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.config import SECTIONS, ConfigError, load_experiment, parse_experiment, parse_override
from orchestrator.errors import InputError
from orchestrator.answers._where import _OPERATORS
from orchestrator.answers import parse_where
from orchestrator.store import TRIALS_SCHEMA

pytestmark = pytest.mark.unit

# ~1-3 s per property on a shared core; no deadline because the machine is noisy.
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FIELDS = {section: tuple(typing.get_type_hints(cls)) for section, cls in SECTIONS.items()}
DOTTED = tuple(f"{section}.{key}" for section, keys in FIELDS.items() for key in keys)
CHOICES = ("adam", "sgd", "rmsprop", "relu", "lenet5", "keras_lenet", "mnist_sample", "notmnist",
           "max", "avg", "same", "valid", "global", "per_replica", "step", "epoch", "val_loss")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=5),
    st.integers(),  # huge ones too
    st.sampled_from([0, 1, -1, 2**31, 2**63, 10**30, -(10**30), 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.5, 1.0, 1e-300, 1e300, float("inf"), float("-inf"), float("nan")]),
    st.text(max_size=8),
    st.sampled_from(CHOICES),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)


# Values at the edges, drawn often: Hypothesis alone rarely hits "replicas: 0" or 10**400.
edges = st.sampled_from([0, -1, 1, 10**400, float("inf"), float("nan"), -0.0, None, True, "", [], [0], [10**400]])
field_values = st.one_of(edges, edges, values)


def section(name: str) -> st.SearchStrategy[Any]:
    # Known keys mostly, so that values reach the checks behind the key check.
    keys = st.one_of(*[st.sampled_from(FIELDS[name])] * 5, st.text(max_size=6))
    return st.one_of(values, st.dictionaries(keys, field_values, min_size=1, max_size=4),
                     st.dictionaries(keys, field_values, max_size=4))


# Grid axes: few, short lists, so that no generated grid is big (the grid-size limit is
# the schema's business and tested there).
grids = st.dictionaries(
    st.one_of(st.sampled_from(DOTTED), st.text(max_size=10)),
    st.one_of(values, st.lists(st.one_of(edges, scalars), min_size=1, max_size=3)),
    max_size=3,
)
sweeps = st.one_of(
    values,
    st.fixed_dictionaries(
        {},
        optional={"grid": st.one_of(values, grids), "seeds": st.one_of(values, st.lists(scalars, max_size=3)),
                  "extra": values},
    ),
)
# The first refusal ends a parse, so most examples are well formed around the values under
# test (a known name, known keys) and a few are wild everywhere.
sections = {name: st.one_of(section(name), section(name), section(name), st.none()) for name in SECTIONS}
experiments = st.one_of(
    st.fixed_dictionaries({"name": st.just("exp")}, optional={**sections, "sweep": sweeps}),
    st.fixed_dictionaries({"name": st.just("exp")}, optional={**sections, "sweep": sweeps}),
    st.fixed_dictionaries(
        {"name": st.one_of(st.just("exp"), values)},
        optional={**sections, "sweep": sweeps, "description": values, "nonsense": values},
    ),
)


@PROPERTY
@given(raw=experiments)
def test_any_mapping_loads_or_raises_config_error(raw):
    try:
        experiment = parse_experiment(raw)
    except ConfigError:
        return
    # Accepted: every value written for a known field is the value the experiment holds.
    for name in SECTIONS:
        given_section = raw.get(name)
        if not isinstance(given_section, dict):
            continue
        for key, value in given_section.items():
            if key in FIELDS[name] and value is not None:
                assert _plain(getattr(getattr(experiment, name), key)) == _plain(value), (name, key)
    grid = raw.get("sweep", {}).get("grid") if isinstance(raw.get("sweep"), dict) else None
    if isinstance(grid, dict):
        assert {k: _plain(v) for k, v in experiment.sweep.grid.items()} == {k: _plain(v) for k, v in grid.items()}


def _plain(value: Any) -> Any:
    """Lists and tuples alike (a config may keep a list as a tuple); -0.0 == 0.0 already."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


yaml_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["1", "-1", "0", "1e400", ".inf", "-.inf", ".nan", "null", "~", "[]", "{}", "[1, 2]",
                     "[a, [b]]", "{a: 1}", "true", "'x'", "\"", "[", "- a\n- b", "&a [*a]", "!!python/none",
                     "99999999999999999999999999", "1e-3", "adam", ":", "a: b: c"]),
)
set_items = st.one_of(
    st.text(max_size=20),
    st.builds(lambda k, v: f"{k}={v}",
              st.one_of(st.sampled_from(DOTTED), st.sampled_from(("sweep.grid", "sweep.seeds", "name", "sweep",
                                                                  "training", "description", "sweep.grid.x.y")),
                        st.text(max_size=10)),
              yaml_text),
)


@PROPERTY
@given(item=set_items)
def test_any_set_string_parses_or_raises_config_error(item):
    try:
        parse_override(item)
    except ConfigError:
        pass


@pytest.fixture(scope="module")
def experiment_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("props") / "exp.yaml"
    path.write_text("training:\n  epochs: 1\nsweep:\n  grid:\n    training.learning_rate: [0.1, 0.01]\n")
    return path


@PROPERTY
@given(items=st.lists(set_items, min_size=1, max_size=3))
def test_any_overrides_load_or_raise_config_error(experiment_file, items):
    try:
        experiment = load_experiment(experiment_file, overrides=items)
    except ConfigError:
        return
    # Accepted: the last --set of each known field is what the experiment holds.
    last = dict(parse_override(item) for item in items)
    for key, value in last.items():
        section, _, field = key.partition(".")
        if section in FIELDS and field in FIELDS[section] and value is not None:
            assert _plain(getattr(getattr(experiment, section), field)) == _plain(value), key


where_texts = st.one_of(
    st.text(max_size=20),
    st.builds(lambda c, o, v: f"{c}{o}{v}",
              st.one_of(st.sampled_from(TRIALS_SCHEMA.names), st.text(max_size=8)),
              st.sampled_from(_OPERATORS),
              st.one_of(st.text(max_size=10),
                        st.sampled_from(["null", "1", "-1", "1e400", "nan", "inf", "2026-01-01", "2026-13-40",
                                         "true", "a,b", ",", "1,null", "9" * 40, "", "1.5", "0x10"]))),
)


@PROPERTY
@given(texts=st.lists(where_texts, min_size=1, max_size=3))
def test_any_where_condition_parses_or_raises_input_error(texts):
    try:
        parse_where(texts)
    except InputError:
        pass


address_texts = st.one_of(
    st.text(max_size=30),
    st.builds(lambda scheme, host, port: f"{scheme}{host}{port}",
              st.sampled_from(["", "ray://", "http://", "https://", "HTTP://", "gcs://", "://"]),
              st.one_of(st.sampled_from(["head", "10.0.0.1", "[::1]", "::1", "[", "]", "", "a..b", "-x", "h_1"]),
                        st.text(max_size=8)),
              st.one_of(st.just(""), st.builds(lambda p: f":{p}", st.one_of(st.integers(), st.text(max_size=6))),
                        st.sampled_from(["/", "/x", "?q", "#f", ":", "::"]))),
)


@PROPERTY
@given(text=address_texts, purpose=st.sampled_from(["cluster", "jobs"]))
def test_any_address_parses_or_raises_input_error(text, purpose):
    from orchestrator.address import parse_address

    try:
        address = parse_address(text, purpose)
    except InputError as e:
        assert "\n" not in str(e)
    else:
        assert address.port is None or 1 <= address.port <= 65535
        # Accepted: what Ray is given is the text (a Jobs address without a scheme gets
        # http://, the dashboard's), and the host and port come from it.
        given = text.strip()
        assert address.text == given or address.scheme == "auto" or (
            purpose == "jobs" and "://" not in given and address.text == f"http://{given}")
        assert address.host is None or address.host.strip("[]") in text
        assert address.port is None or str(address.port) in text


# -- accepted values round-trip ------------------------------------------------------------
# Values each field accepts by its type and declared range (orchestrator/config/_sections.py),
# so that most examples pass every check and reach the round-trip assertion.

def _accepted_values(hint: Any, rng: Any) -> st.SearchStrategy[Any] | None:
    import types

    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [_accepted_values(a, rng) for a in args if a is not type(None)]
        inner = [s for s in inner if s is not None]
        return st.one_of(st.none(), *inner) if inner else None
    if typing.get_origin(hint) is typing.Literal:
        return st.sampled_from(args)
    if hint is bool:
        return st.booleans()
    low = getattr(rng, "low", None)
    high = getattr(rng, "high", None)
    if hint is int:
        lo = None if low is None else int(low) + (1 if rng.low_open else 0)
        hi = None if high is None else int(high) - (1 if rng.high_open else 0)
        return st.integers(min_value=lo if lo is not None else -(2**31), max_value=hi if hi is not None else 2**31)
    if hint is float:
        return st.floats(min_value=low, max_value=high, exclude_min=bool(low is not None and rng.low_open),
                         exclude_max=bool(high is not None and rng.high_open), allow_nan=False, allow_infinity=False)
    if typing.get_origin(hint) is list:
        item = _accepted_values(args[0], rng)
        return None if item is None else st.lists(item, min_size=1, max_size=3)
    return None  # text, paths, user code, free-form params: not generated here


def _field_strategies(cls: type) -> dict[str, st.SearchStrategy[Any]]:
    import dataclasses

    from orchestrator.config._fields import field_range

    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        strategy = _accepted_values(hints[f.name], field_range(f))
        if strategy is not None:
            out[f.name] = strategy
    return out


ACCEPTED = {name: _field_strategies(cls) for name, cls in SECTIONS.items()}
accepted_sections = st.sampled_from(sorted(n for n in ACCEPTED if ACCEPTED[n])).flatmap(
    lambda name: st.tuples(st.just(name), st.fixed_dictionaries({}, optional=ACCEPTED[name])))


@PROPERTY
@given(section_and_fields=accepted_sections)
def test_accepted_values_are_the_values_the_experiment_holds(section_and_fields):
    name, fields = section_and_fields
    raw = {"name": "exp", name: fields}
    try:
        experiment = parse_experiment(raw)
    except ConfigError:
        return  # a cross-field rule (tested by name in test_config.py)
    section = getattr(experiment, name)
    for key, value in fields.items():
        if value is not None:
            assert _plain(getattr(section, key)) == _plain(value), (name, key)
