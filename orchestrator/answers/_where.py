"""Which trials a question is about: ``--where`` conditions, parsed, typed and checked
against the trials table (a "did you mean" for a misspelt column), as Arrow expressions."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.errors import InputError
from orchestrator.store import TRIALS_SCHEMA
from orchestrator.store._schema import extra_columns

__all__ = ["QueryError", "Condition", "Where", "parse_where", "check_column", "all_of"]

_OPERATORS = ("<=", ">=", "!=", "=", "<", ">")  # longest first: "<=" before "<"


class QueryError(InputError, ValueError):
    """A query names a column or value that does not exist; the message says which and what does."""


@dataclass(frozen=True)
class Condition:
    """``column op value``; op is one of ``in``, ``not in`` (value: a tuple, ``None`` in it
    matches null), ``<``, ``<=``, ``>``, ``>=``."""

    column: str
    op: str
    value: Any

    def expression(self) -> pc.Expression:
        column = pc.field(self.column)
        if self.op in ("in", "not in"):
            values = [v for v in self.value if v is not None]
            match = column.isin(pa.array(values, _type(self.column))) if values else pc.scalar(False)
            if None in self.value:
                match = match | column.is_null()
            return match if self.op == "in" else ~match
        compare = {"<": pc.less, "<=": pc.less_equal, ">": pc.greater, ">=": pc.greater_equal}[self.op]
        return compare(column, pc.scalar(pa.scalar(self.value, _type(self.column))))


@dataclass(frozen=True)
class Where:
    """Which trials: sweeps (None: every sweep) and conditions on columns of the trials table."""

    sweeps: tuple[str, ...] | None = None
    conditions: tuple[Condition, ...] = field(default_factory=tuple)

    @classmethod
    def of(
        cls,
        sweep: str | Sequence[str] | None = None,
        status: str | Sequence[str] | None = None,
        params: Mapping[str, Any] | None = None,
        ranges: Mapping[str, tuple[Any, Any]] | None = None,
        started: tuple[datetime | None, datetime | None] | None = None,
        ended: tuple[datetime | None, datetime | None] | None = None,
    ) -> Where:
        """Keyword form: ``params`` maps a column to a value or a list of values (any of);
        ``ranges`` maps a column (metric, timing, param) to inclusive (low, high) bounds,
        None for open; ``started``/``ended`` bound ``started_at``/``ended_at`` likewise."""
        conditions = []
        if status is not None:
            conditions.append(_condition("status", "in", [status] if isinstance(status, str) else status))
        for column, value in (params or {}).items():
            values = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
            conditions.append(_condition(column, "in", values))
        bounds = dict(ranges or {})
        if started:
            bounds["started_at"] = started
        if ended:
            bounds["ended_at"] = ended
        for column, (low, high) in bounds.items():
            if low is not None:
                conditions.append(_condition(column, ">=", low))
            if high is not None:
                conditions.append(_condition(column, "<=", high))
        sweeps = None if sweep is None else ((sweep,) if isinstance(sweep, str) else tuple(sweep))
        return cls(sweeps, tuple(conditions))

    def names(self, column: str) -> bool:
        return any(c.column == column for c in self.conditions)

    def with_default_status(self, status: Sequence[str] = ("completed",)) -> Where:
        """This, restricted to ``status`` unless a status condition is already there."""
        if self.names("status"):
            return self
        return replace(self, conditions=(*self.conditions, _condition("status", "in", list(status))))


def _type(column: str) -> pa.DataType | None:
    """The column's type; None for a builder's ``model_<key>`` column, whose type the
    stored files say (values are typed from what they look like)."""
    if extra_columns([column]):
        return None
    return TRIALS_SCHEMA.field(column).type


def check_column(column: str, names: Sequence[str] = TRIALS_SCHEMA.names, what: str = "trials") -> None:
    """Raise a :class:`QueryError` with a "did you mean" unless ``column`` is in ``names``."""
    if column not in names:
        close = difflib.get_close_matches(column, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; columns: {', '.join(names)}"
        raise QueryError(f"no column {column!r} in the {what} table{hint}")


def _condition(column: str, op: str, value: Any) -> Condition:
    if not extra_columns([column]):
        check_column(column)
    if _type(column) is not None and pa.types.is_list(_type(column)) and not (op in ("in", "not in") and list(value) == [None]):
        raise QueryError(f"{column} holds lists: only {column}=null and {column}!=null select on it; "
                         "use SQL (orch sql) for more")
    if op in ("in", "not in"):
        return Condition(column, op, tuple(None if v is None else _coerce(column, v) for v in value))
    return Condition(column, op, _coerce(column, value))


def _coerce(column: str, value: Any) -> Any:
    """``value`` (typed, or text from the command line) as the column's Python type."""
    kind = _type(column)
    if kind is None:
        return _scalar(value)
    try:
        if pa.types.is_timestamp(kind):
            if isinstance(value, str):
                value = datetime.fromisoformat(value)
            elif isinstance(value, date) and not isinstance(value, datetime):
                value = datetime(value.year, value.month, value.day)
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        if pa.types.is_boolean(kind):
            if isinstance(value, str):
                text = value.strip().lower()
                if text not in ("true", "false", "yes", "no", "1", "0"):
                    raise ValueError(value)
                return text in ("true", "yes", "1")
            return bool(value)
        if pa.types.is_integer(kind):
            number = float(value) if isinstance(value, str) else value
            if number != int(number):
                raise ValueError(value)
            return int(number)
        if pa.types.is_floating(kind):
            return float(value)
        return str(value)
    except (TypeError, ValueError, OverflowError):  # Overflow: batch_size<1e400 (int(inf))
        raise QueryError(f"{column}: {value!r} is not a {kind} value") from None


def _scalar(value: Any) -> Any:
    """Text from the command line as the number, bool or text it looks like (a builder's
    params are YAML scalars); typed values as they are."""
    if not isinstance(value, str):
        return value
    if value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def parse_where(texts: Sequence[str], sweep: str | Sequence[str] | None = None) -> Where:
    """Conditions written on the command line, all of which must hold:
    ``optimizer=adam``, ``optimizer=adam,sgd`` (any of), ``activation!=sigmoid``,
    ``filters=null``, ``test_accuracy>=0.98``, ``total_seconds<60``,
    ``started_at>=2026-01-01`` (ISO dates and times, UTC unless they say otherwise)."""
    conditions = []
    for text in texts:
        op = next((o for o in _OPERATORS if o in text), None)
        if op is None:
            raise QueryError(f"condition {text!r}: expected COLUMN=VALUE, COLUMN!=V1,V2 or COLUMN<=VALUE (< > <= >= too)")
        column, value = (part.strip() for part in text.split(op, 1))
        if op in ("=", "!="):
            values = [None if v.strip().lower() in ("null", "none") else v.strip() for v in value.split(",")]
            conditions.append(_condition(column, "in" if op == "=" else "not in", values))
        else:
            conditions.append(_condition(column, op, value))
    sweeps = None if sweep is None else ((sweep,) if isinstance(sweep, str) else tuple(sweep))
    return Where(sweeps, tuple(conditions))


def all_of(conditions: Sequence[Condition]) -> pc.Expression | None:
    expression = None
    for condition in conditions:
        e = condition.expression()
        expression = e if expression is None else expression & e
    return expression
