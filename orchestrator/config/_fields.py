"""Field-level rules of the schema: declared ranges and the type coercion every value goes
through, whether it comes from a file, a sweep axis, a search space or ``--set``.

Ranges are declared beside the field (``field(default=..., metadata=in_range(...))``) and
checked here, in one place: a value outside its field's range, or a float that is not finite,
never reaches a trainer.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import typing
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.config._objectives import (
    ClassWeight,
    LossSpec,
    MetricSpec,
    coerce_class_weight,
    coerce_function_ref,
    coerce_loss,
    coerce_metric,
)
from orchestrator.errors import ConfigError

__all__ = [
    "Range", "in_range", "INT64_MAX", "coerce_field", "field_range", "type_name", "Builder", "ParamValue",
    "PARAM_KEY_RE", "reject_unknown",
]

# Every int lands in an int64 Parquet column; larger values cannot be stored.
INT64_MAX = 2**63 - 1

_UnionType = type(int | None)
# A model.params key: it becomes a column name (model_<key>) and a dotted path (model.params.<key>).
PARAM_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class Builder:
    """Type marker of ``model.builder``: ``"file.py:function"``, ``"package.module:function"``,
    or (from Python) a function object. Checked for form here; for existence in ``_rules``."""


class ParamValue:
    """Type marker of a ``model.params`` value: a YAML scalar (null, bool, int, finite float,
    text) or a list of them (lists may nest)."""


@dataclass(frozen=True)
class Range:
    """The values a numeric field (or each entry of a list field) may take.

    ``meaning`` names what the number is, for the message ("the fraction dropped"); the
    interval is always stated, so the message says what was expected and what was received.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: low itself is excluded
    high_open: bool = False
    meaning: str = ""
    # Extra text after the interval, e.g. "or null (off)" for optional fields.
    note: str = ""

    def contains(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            return False
        return True

    def describe(self) -> str:
        """``>= 1``, ``> 0``, ``in [0, 1)``: the condition as a reader would write it."""
        if self.low is not None and self.high is not None:
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            return f"in {left}{_num(self.low)}, {_num(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_num(self.high)}"
        return "finite"


def reject_unknown(raw: dict[Any, Any], allowed: tuple[str, ...], where: str, origin: str) -> None:
    """Refuse a key of ``raw`` that is not ``allowed``, with a "did you mean" (click's habit)."""
    for key in raw:
        if key not in allowed:
            label = f"{where}.{key}" if where else str(key)
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(allowed)}"
            raise ConfigError(f"{origin}: unknown key {label[:100]!r}; {hint}")


def _num(x: float) -> str:
    if float(x).is_integer() and abs(x) >= 1e6:
        exponent = math.log2(x) if x > 0 else None
        if exponent is not None and exponent.is_integer():
            return f"2**{int(exponent)}"
    return f"{x:g}" if isinstance(x, float) else str(x)


def in_range(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    meaning: str = "",
    note: str = "",
) -> dict[str, Range]:
    """Field metadata declaring a range: ``field(default=1, metadata=in_range(1))``."""
    return {"range": Range(low, high, low_open, high_open, meaning, note)}


def field_range(f: dataclasses.Field) -> Range | None:
    return f.metadata.get("range")


def _check_number(value: float, rng: Range | None, key: str, origin: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{origin}: {key}: expected a finite number, got {value}")
    if isinstance(value, int) and abs(value) > INT64_MAX:
        raise ConfigError(f"{origin}: {key}: {value} is too large to store; use a value below 2**63")
    if rng is None or rng.contains(value):
        return
    what = f"{rng.meaning}, " if rng.meaning else ""
    note = f" {rng.note}" if rng.note else ""
    raise ConfigError(f"{origin}: {key}: {what}must be {rng.describe()}{note}, got {value}")


def coerce_field(hint: Any, value: Any, key: str, origin: str, rng: Range | None = None) -> Any:
    """Check ``value`` against a field's type and range; ints are accepted where floats are
    expected. ``rng`` applies to a number, or to each entry of a list of numbers."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, _UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{origin}: {key}: a value is required, got null")
    for option in options:
        if option is type(None):
            continue
        if option is Builder:
            return coerce_function_ref(value, key, origin)
        if option is ParamValue:
            return _coerce_param(value, key, origin)
        if option is LossSpec:
            return coerce_loss(value, key, origin)
        if option is MetricSpec:
            return coerce_metric(value, key, origin)
        if option is ClassWeight:
            return coerce_class_weight(value, key, origin)
        if typing.get_origin(option) is dict:
            return _coerce_params(value, key, origin)
        if typing.get_origin(option) is Literal:
            choices = typing.get_args(option)
            if _is_hashable(value) and value in choices and type(value) in {type(c) for c in choices}:
                return value
            others = [o for o in options if o is not option and o is not type(None)]
            if others and type(value) not in {type(c) for c in choices}:
                continue  # a number where the field takes a number or a word: the others judge it
            close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
            choose = f"choose one of {', '.join(map(str, choices))}"
            if others:
                choose += f" or give {' or '.join(_article(type_name(o)) for o in others)}"
            hint_text = f"did you mean {close[0]!r}? ({choose})" if close else choose
            raise ConfigError(f"{origin}: {key}: unknown value {_short(value)}; {hint_text}")
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            _check_number(value, rng, key, origin)
            return value
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            _check_number(value, rng, key, origin)  # the int itself: 10**400 cannot become a float
            return float(value)
        if option is str and isinstance(value, str):
            if not value.strip():
                raise ConfigError(f"{origin}: {key}: expected text, got an empty string; give a value or leave the key out")
            return value
        if typing.get_origin(option) is dict and isinstance(value, dict):
            # Free-form keyword arguments (dataset.params): names must be text; the values
            # are YAML's, passed on as they are.
            for name in value:
                if not isinstance(name, str) or not name.isidentifier():
                    raise ConfigError(f"{origin}: {key}: keys must be Python names, got {_short(name)}")
            return dict(value)
        if typing.get_origin(option) is list and isinstance(value, list) and value:
            (item,) = typing.get_args(option)
            return [coerce_field(item, v, f"{key}[{i}]", origin, rng) for i, v in enumerate(value)]
    expected = " or ".join(type_name(o) for o in options)
    raise ConfigError(f"{origin}: {key}: expected {expected}, got {type(value).__name__} {_short(value)}")


def _coerce_params(value: Any, key: str, origin: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{origin}: {key}: expected a mapping of name: value, got {type(value).__name__} {_short(value)}")
    params = {}
    for name, item in value.items():
        if not isinstance(name, str) or not PARAM_KEY_RE.match(name):
            why = ": it becomes the results column model_<name>" if key.startswith("model.") else ""
            raise ConfigError(
                f"{origin}: {key}: parameter name {_short(name)} must be letters, digits and '_' "
                f"(not starting with a digit){why}"
            )
        params[name] = _coerce_param(item, f"{key}.{name}", origin)
    return params


def _coerce_param(value: Any, key: str, origin: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        _check_number(value, None, key, origin)
        return value
    if isinstance(value, (list, tuple)):
        return [_coerce_param(v, f"{key}[{i}]", origin) for i, v in enumerate(value)]
    raise ConfigError(
        f"{origin}: {key}: expected a YAML scalar (number, text, true/false, null) or a list of them, "
        f"got {type(value).__name__} {_short(value)}"
    )


def _is_hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _short(value: Any, limit: int = 60) -> str:
    """repr of a value, cut so that a huge list cannot turn the message into pages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _article(name: str) -> str:
    """'an int', 'a float'; names that carry their own article or quotes as they are."""
    if name in ("int", "float", "bool", "str"):
        return {"int": "an integer", "float": "a number", "bool": "true/false", "str": "text"}[name]
    return name


def type_name(option: Any) -> str:
    if typing.get_origin(option) is Literal:
        return " or ".join(repr(c) for c in typing.get_args(option))
    if typing.get_origin(option) is dict:
        return "a mapping"
    if option is Builder:
        return "'file.py:function'"
    if option is ParamValue:
        return "a YAML scalar or list"
    if option is MetricSpec:
        return "a metric name or 'file.py:function'"
    if typing.get_origin(option) is list:
        return f"a non-empty list of {type_name(typing.get_args(option)[0])}"
    return "null" if option is type(None) else getattr(option, "__name__", str(option))
