"""``sweep.space`` from YAML: dotted field -> distribution, checked against the schema.

The YAML shape, one distribution per field::

    space:
      training.learning_rate: {loguniform: [1.0e-5, 1.0e-1]}
      model.dropout: {uniform: [0.0, 0.5]}
      training.batch_size: {int: [32, 512], log: true}
      model.activation: {choice: [relu, tanh]}

This module knows distributions, not the experiment schema: the config loader passes two
callbacks that do (see :func:`parse_space`), so the search package never imports the
config module (which imports this one).
"""

from __future__ import annotations

import difflib
import enum
import math
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal

from orchestrator.errors import ConfigError
from orchestrator.search._distributions import Choice, Distribution, IntRange, LogUniform, Uniform

__all__ = ["FieldKind", "Space", "KINDS", "METHODS", "parse_space", "check_search", "kind_of_hint", "space_size"]

Space = dict[str, Distribution]
METHODS = ("grid", "random", "sobol", "tpe")
KINDS = ("uniform", "loguniform", "int", "choice")
_EXAMPLES = "{uniform: [lo, hi]}, {loguniform: [lo, hi]}, {int: [lo, hi]} (log: true for a log scale), {choice: [a, b]}"


class FieldKind(enum.Enum):
    """What values a field takes, hence which distributions fit it."""

    FLOAT = "float"  # uniform, loguniform, choice
    INT = "int"  # int (log or not), choice
    NAMES = "names"  # choice only: names, booleans, lists (optimizer, activation, filters)
    ANY = "any"  # untyped (a user builder's model.params.*): every distribution

    def takes(self, kind: str) -> bool:
        allowed = {FieldKind.FLOAT: ("uniform", "loguniform", "choice"), FieldKind.INT: ("int", "choice"),
                   FieldKind.NAMES: ("choice",), FieldKind.ANY: KINDS}[self]
        return kind in allowed


_FIX = {
    FieldKind.FLOAT: "use {uniform: [lo, hi]}, {loguniform: [lo, hi]} or {choice: [...]}",
    FieldKind.INT: "use {int: [lo, hi]} (log: true for a log scale) or {choice: [...]}",
    FieldKind.NAMES: "list the values to try with {choice: [a, b, ...]}",
}

# field_kind(path, key) -> FieldKind: raises ConfigError naming ``key`` when ``path`` is not
# a field, or is one a sweep may not vary (resources.*, training.seed, ...).
FieldKindFn = Callable[[str, str], FieldKind]
# check_value(path, value, key) -> the value coerced to the field's type (ints become floats
# for float fields); raises ConfigError naming ``key`` for a wrong type or value.
CheckValueFn = Callable[[str, Any, str], Any]


def parse_space(raw: Any, field_kind: FieldKindFn, check_value: CheckValueFn, origin: str = "<config>") -> Space:
    """The distributions of ``sweep.space`` (``raw``, as ``yaml.safe_load`` gave it), in file
    order. Every problem is one :class:`ConfigError` line: ``{origin}: sweep.space.<path>:
    what is wrong; how to fix it``. ``None`` or ``{}`` is the empty space.

    ``field_kind`` says what a field takes (and rejects unknown fields), ``check_value``
    checks one value for it; both get the ``key`` to name in their message, e.g.
    ``sweep.space.training.learning_rate.loguniform[0]``. The config loader wires them to
    its schema, e.g. ``lambda path, key: kind_of_hint(field_type(path))`` and
    ``lambda path, value, key: coerce_field(field_type(path), value, key, origin)``."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{origin}: sweep.space: expected a mapping of dotted field -> distribution, e.g. "
                          f"training.learning_rate: {{loguniform: [1.0e-5, 1.0e-1]}}; got {type(raw).__name__}")
    return {str(path): _distribution(str(path), spec, field_kind, check_value, origin) for path, spec in raw.items()}


def _distribution(
    path: str, spec: Any, field_kind: FieldKindFn, check_value: CheckValueFn, origin: str
) -> Distribution:
    key = f"sweep.space.{path}"

    def fail(message: str) -> typing.NoReturn:
        raise ConfigError(f"{origin}: {key}: {message}")

    kind_of_field = field_kind(path, key)
    if not isinstance(spec, Mapping) or not spec:
        fail(f"expected one distribution: {_EXAMPLES}; got {spec!r}")
    kinds = [k for k in spec if k in KINDS]
    unknown = [k for k in spec if k not in (*KINDS, "log")]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), KINDS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"distributions: {_EXAMPLES}"
        fail(f"unknown key {unknown[0]!r}; {hint}")
    if len(kinds) != 1:
        fail(f"give exactly one distribution, got {', '.join(kinds) or 'none'}; {_EXAMPLES}")
    (kind,) = kinds
    log = spec.get("log", False)
    if "log" in spec and kind != "int":
        fail("log: goes with {int: [lo, hi]}; for a log scale over floats use {loguniform: [lo, hi]}")
    if not isinstance(log, bool):
        fail(f"log: expected true or false, got {log!r}")
    if not kind_of_field.takes(kind):
        fail(f"{kind} does not fit a field of {kind_of_field.value}; {_FIX[kind_of_field]}")
    args = spec[kind]
    if kind == "choice":
        return _choice(path, args, key, check_value, fail)
    if not isinstance(args, list) or len(args) != 2:
        fail(f"expected [lo, hi] (two numbers), got {args!r}")
    lo, hi = args
    number = int if kind == "int" else (int, float)
    for end, value in (("lo", lo), ("hi", hi)):
        if not isinstance(value, number) or isinstance(value, bool):
            fail(f"{end}: expected {'an integer' if kind == 'int' else 'a number'}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            fail(f"{end}: expected a finite number, got {value!r}")
    if not lo < hi:
        fail(f"lo < hi must hold, got [{lo}, {hi}]; give the smaller bound first "
             f"(one value only? set the field itself, not sweep.space)")
    if (kind == "loguniform" or log) and lo <= 0:
        need, example, plain = ("lo >= 1", "1", "{int: ...}") if kind == "int" else ("0 < lo", "1.0e-6", "{uniform: ...}")
        fail(f"a log scale needs {need}, got lo={lo}; use a positive lo such as {example}, or {plain} without log")
    lo, hi = (check_value(path, v, f"{key}.{kind}[{i}]") for i, v in enumerate((lo, hi)))
    if kind == "int":
        return IntRange(lo, hi, log=log)
    return (LogUniform if kind == "loguniform" else Uniform)(float(lo), float(hi))


def _choice(
    path: str, args: Any, key: str, check_value: CheckValueFn, fail: Callable[[str], typing.NoReturn]
) -> Choice:
    if not isinstance(args, list) or not args:
        fail(f"choice: expected a non-empty list of values, got {args!r}")
    values = tuple(check_value(path, v, f"{key}.choice[{i}]") for i, v in enumerate(args))
    if len({repr(v) for v in values}) != len(values):
        fail(f"choice: values repeat in {args!r}; list each once")
    return Choice(values)


def check_search(
    method: str,
    samples: int | None,
    space: Space,
    grid_paths: typing.Iterable[str] = (),
    goal: str = "max",
    origin: str = "<config>",
) -> None:
    """Rules between ``sweep.method``, ``samples``, ``space``, ``grid`` and ``goal``:
    grid needs no space; the other methods need a space and ``samples >= 1``; a field is
    either a grid axis or searched, not both. Raises one ConfigError line."""
    if method not in METHODS:
        close = difflib.get_close_matches(str(method), METHODS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"{origin}: sweep.method: unknown method {method!r}; {hint}choose one of {', '.join(METHODS)}"
        )
    if goal not in ("max", "min"):
        raise ConfigError(f"{origin}: sweep.goal: expected max or min, got {goal!r}")
    if method == "grid":
        if space:
            raise ConfigError(f"{origin}: sweep.space: method grid tries the grid axes only; "
                              "set sweep.method: random, sobol or tpe to search the space")
        if samples is not None:
            raise ConfigError(f"{origin}: sweep.samples: method grid runs every grid point once per seed; "
                              "samples goes with method random, sobol or tpe (remove it, or set sweep.method)")
        return
    if not space:
        raise ConfigError(f"{origin}: sweep.space: method {method} draws from sweep.space, which is empty; "
                          "add fields such as training.learning_rate: {loguniform: [1.0e-5, 1.0e-1]}")
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ConfigError(f"{origin}: sweep.samples: method {method} needs how many points to draw "
                          f"(per grid point), an integer >= 1; got {samples!r}")
    both = [path for path in grid_paths if path in space]
    if both:
        raise ConfigError(f"{origin}: sweep.space.{both[0]}: also a grid axis; a field is either listed "
                          "in sweep.grid or searched in sweep.space, not both")


def kind_of_hint(hint: Any) -> FieldKind:
    """The :class:`FieldKind` of a config field's type annotation: ``float`` (or
    ``float | None``) FLOAT, ``int`` INT, anything else (Literal names, bool, lists) NAMES."""
    options = [o for o in (typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, _UnionType) else (hint,))
               if o is not type(None)]
    if options == [float]:
        return FieldKind.FLOAT
    if options == [int]:
        return FieldKind.INT
    if options == [Any] or hint is Any:
        return FieldKind.ANY
    return FieldKind.NAMES if all(o is bool or o is str or typing.get_origin(o) in (Literal, list) for o in options) \
        else FieldKind.ANY


_UnionType = type(int | None)


def space_size(space: Space) -> float:
    """How many distinct points the space has (``math.inf`` with any float range)."""
    return math.prod(d.size for d in space.values())
