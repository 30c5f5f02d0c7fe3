"""Questions over the results store, answered with Arrow compute (no loops over rows).

Every function takes and returns ``pyarrow.Table``; ``orchestrator.report`` renders them.

- :func:`select_trials`: the trials matching a :class:`Where`, latest run per trial;
- :func:`aggregate`: mean, std, sem, min, max and count per group (default: per config,
  i.e. over seeds; or grouped by any params, over every param not grouped);
- :func:`best`, :func:`pivot`, :func:`compare_sweeps`, :func:`learning_curves`,
  :func:`curve_stats`, :func:`timing` (:func:`with_timing_columns`).

Conventions: ``std`` is the sample standard deviation (n - 1), null for a single value;
``sem`` is std / sqrt(count); NaN metrics (a diverged loss) count as missing. Functions
over tables aggregate the rows they are given; to average completed trials only (stopped
and failed runs did not finish), select with ``where.with_default_status()``, as
:func:`compare_sweeps` does.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.errors import InputError
from orchestrator.store import PARAM_COLUMNS, TRIALS_SCHEMA, ResultsStore, latest_per_trial
from orchestrator.store._schema import param_columns, user_param_columns
from orchestrator.store._schema import EPOCHS_SCHEMA

__all__ = [
    "STATS",
    "TIMING_TABLE_COLUMNS",
    "QueryError",
    "Condition",
    "Where",
    "parse_where",
    "check_column",
    "select_trials",
    "varying_params",
    "aggregate",
    "best",
    "pivot",
    "sweep_differences",
    "compare_sweeps",
    "learning_curves",
    "curve_stats",
    "timing",
    "with_timing_columns",
    "higher_is_better",
]

STATS = ("mean", "std", "sem", "min", "max", "count")
# What the timing table shows per trial (derived ones computed by :func:`timing`).
TIMING_TABLE_COLUMNS = (
    "device_kind", "replicas", "global_batch_size", "epochs_run", "epoch_seconds", "first_epoch_seconds",
    "images_per_second", "train_seconds", "eval_seconds", "overhead_seconds", "total_seconds",
)
_OPERATORS = ("<=", ">=", "!=", "=", "<", ">")  # longest first: "<=" before "<"
_PUSHED = {"sweep", "trial_id", *PARAM_COLUMNS}  # the same in every run of a trial


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
    if column not in TRIALS_SCHEMA.names and user_param_columns([column]):
        return None
    return TRIALS_SCHEMA.field(column).type


def check_column(column: str, names: Sequence[str] = TRIALS_SCHEMA.names, what: str = "trials") -> None:
    """Raise a :class:`QueryError` with a "did you mean" unless ``column`` is in ``names``."""
    if column not in names:
        close = difflib.get_close_matches(column, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; columns: {', '.join(names)}"
        raise QueryError(f"no column {column!r} in the {what} table{hint}")


def _condition(column: str, op: str, value: Any) -> Condition:
    if not user_param_columns([column]):
        check_column(column)
    if _type(column) is not None and pa.types.is_list(_type(column)) and not (op in ("in", "not in") and list(value) == [None]):
        raise QueryError(f"{column} holds lists: only {column}=null and {column}!=null select on it; "
                         "use SQL (orchestrator.sql) for more")
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


def _all(conditions: Sequence[Condition]) -> pc.Expression | None:
    expression = None
    for condition in conditions:
        e = condition.expression()
        expression = e if expression is None else expression & e
    return expression


def select_trials(store: ResultsStore, where: Where | None = None, *, latest: bool = True) -> pa.Table:
    """Trials matching ``where``: with ``latest``, only the most recent run of each trial
    counts (conditions on status, metrics and dates apply to that run). Conditions on
    params go down to the store, which then reads less."""
    where = where or Where()
    pushed = [c for c in where.conditions if c.column in _PUSHED]
    after = [c for c in where.conditions if c.column not in _PUSHED]
    table = store.read_trials(where.sweeps, where=_all(pushed))
    for c in after:
        if c.column not in table.column_names:  # a builder's param no trial here has
            check_column(c.column, param_columns(table.column_names), "params")
    if latest:
        table = latest_per_trial(table)
    condition = _all(after)
    return table if condition is None else table.filter(condition)


def _key_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A list column as text ("[6, 16]"): Arrow cannot group by lists."""
    joined = pc.binary_join(pc.cast(column, pa.list_(pa.string())), ", ")
    return pc.binary_join_element_wise("[", joined, "]", "")


def _groupable(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    for name in keys:
        if pa.types.is_list(table.schema.field(name).type):
            table = table.set_column(table.schema.get_field_index(name), name, _key_text(table[name]))
    return table


def varying_params(table: pa.Table, candidates: Sequence[str] | None = None) -> list[str]:
    """The params (in ``candidates``; default: every params column of ``table``, builders'
    ``model_<key>`` columns included) with more than one value in ``table`` (null is a value)."""
    candidates = param_columns(table.column_names) if candidates is None else candidates
    present = [c for c in candidates if c in table.column_names]
    keys = _groupable(table.select(present), present)
    return [c for c in present if pc.count_distinct(keys[c], mode="all").as_py() > 1]


def _nan_to_null(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_floating(column.type):
        return pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
    return column


def aggregate(
    trials: pa.Table,
    by: Sequence[str] | None = None,
    metrics: Sequence[str] = ("test_accuracy",),
    stats: Sequence[str] = STATS,
) -> pa.Table:
    """One row per group with ``trials`` (rows in the group) and ``<stat>_<metric>`` columns.

    ``by=None`` groups per config: by sweep and every param that varies except ``seed``, so
    the statistics are over seeds. Otherwise the groups are ``by``, and the statistics are
    over every param not grouped. Rows come sorted by the group keys."""
    if by is None:
        by = ["sweep", *(p for p in varying_params(trials) if p != "seed")]
    by, metrics = list(by), list(metrics)
    for name in (*by, *metrics):
        check_column(name, trials.column_names, "results")
    for metric in metrics:
        kind = trials.schema.field(metric).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            raise QueryError(f"{metric} holds {kind} values, not numbers: statistics need a numeric column "
                             "such as test_accuracy or total_seconds")
    if unknown := [s for s in stats if s not in STATS]:
        raise QueryError(f"unknown statistic {unknown[0]!r}; choose from {', '.join(STATS)}")
    data = _groupable(trials.select(by), by)
    for metric in metrics:
        if metric not in by:
            data = data.append_column(metric, _nan_to_null(trials[metric]))
    spread = pc.VarianceOptions(ddof=1)
    aggregations: list[tuple[Any, ...]] = [([], "count_all")]
    for metric in metrics:
        aggregations += [(metric, "mean"), (metric, "stddev", spread), (metric, "min"), (metric, "max"), (metric, "count")]
    grouped = data.group_by(by, use_threads=False).aggregate(aggregations)
    columns: dict[str, pa.ChunkedArray] = {key: grouped[key] for key in by}
    columns["trials"] = grouped["count_all"]
    for metric in metrics:
        count = grouped[f"{metric}_count"]
        std = grouped[f"{metric}_stddev"]
        computed = {
            "mean": grouped[f"{metric}_mean"], "std": std, "min": grouped[f"{metric}_min"],
            "max": grouped[f"{metric}_max"], "count": count,
            "sem": pc.divide(std, pc.sqrt(pc.cast(count, pa.float64()))),
        }
        for stat in stats:
            columns[f"{stat}_{metric}"] = computed[stat]
    result = pa.table(columns)
    return result.sort_by([(key, "ascending") for key in by]) if by else result


def higher_is_better(column: str) -> bool:
    """Accuracies and throughput are better high; losses and times low."""
    return "accuracy" in column or "images_per_second" in column


def best(table: pa.Table, metric: str = "test_accuracy", k: int | None = 10, descending: bool | None = None) -> pa.Table:
    """The ``k`` best rows of any table (trials, or configs from :func:`aggregate`) by
    ``metric``; rows without a value (null, NaN) come last."""
    check_column(metric, table.column_names, "results")
    if descending is None:
        descending = higher_is_better(metric)
    key = "_sort_key"
    keyed = table.append_column(key, _nan_to_null(table[metric]))
    order = keyed.sort_by([(key, "descending" if descending else "ascending")]).drop_columns([key])
    return order if k is None else order.slice(0, k)


def pivot(
    trials: pa.Table,
    rows: str | Sequence[str],
    columns: str,
    metric: str = "test_accuracy",
    stat: str = "mean",
) -> pa.Table:
    """``stat`` of ``metric`` per value of the ``rows`` param(s) (one row each) and of the
    ``columns`` param (one column each, named ``<param>=<value>``), e.g. mean test accuracy
    with optimizer down and activation across. Empty cells are null."""
    rows = [rows] if isinstance(rows, str) else list(rows)
    grouped = aggregate(trials, by=[*rows, columns], metrics=[metric], stats=[stat])
    # The heavy part (grouping every trial) is done; what is left is one value per cell.
    values = sorted(set(grouped[columns].to_pylist()), key=lambda v: (v is None, v))
    cells: dict[tuple[Any, ...], dict[Any, Any]] = {}
    for record in grouped.select([*rows, columns, f"{stat}_{metric}"]).to_pylist():
        cells.setdefault(tuple(record[r] for r in rows), {})[record[columns]] = record[f"{stat}_{metric}"]
    keys = list(cells)
    data: dict[str, list[Any]] = {r: [key[i] for key in keys] for i, r in enumerate(rows)}
    for value in values:
        data[f"{columns}={value}"] = [cells[key].get(value) for key in keys]
    types = {r: grouped.schema.field(r).type for r in rows}
    cell_type = grouped.schema.field(f"{stat}_{metric}").type
    schema = pa.schema([*(pa.field(r, types[r]) for r in rows), *(pa.field(f"{columns}={v}", cell_type) for v in values)])
    return pa.table(data, schema=schema)


def sweep_differences(trials: pa.Table, a: str, b: str) -> dict[str, tuple[Any, Any]]:
    """Params with one value throughout sweep ``a`` and another throughout ``b``: what the
    second sweep changed (e.g. ``epochs``: (10, 15))."""
    differences = {}
    sides = [trials.filter(pc.field("sweep") == s) for s in (a, b)]
    for param in param_columns(trials.column_names):
        if param == "seed" or param not in trials.column_names:
            continue
        values = [_groupable(side.select([param]), [param])[param].unique().to_pylist() for side in sides]
        if all(len(v) == 1 for v in values) and values[0] != values[1]:
            differences[param] = (values[0][0], values[1][0])
    return differences


def compare_sweeps(
    store: ResultsStore,
    a: str,
    b: str,
    metric: str = "test_accuracy",
    where: Where | None = None,
    ignore: Sequence[str] | None = None,
) -> pa.Table:
    """Sweep ``b`` against sweep ``a``, config by config: configs match on every param
    except ``seed`` and the ``ignore`` ones (default: the params that differ between the
    sweeps as a whole, see :func:`sweep_differences`). Columns: the matching params, then
    ``trials``/``mean``/``std`` of ``metric`` in each sweep (suffixes ``_a``, ``_b``) and
    ``delta`` = mean in b - mean in a; best improvement first, configs found in only one
    sweep last."""
    where = replace(where or Where(), sweeps=(a, b)).with_default_status()
    trials = select_trials(store, where)
    found = set(trials["sweep"].to_pylist())
    if missing := [s for s in (a, b) if s not in found]:
        raise QueryError(f"sweep {missing[0]!r} has no trials matching the query; check the name (orch results lists sweeps)")
    for param in ignore or ():
        check_column(param, param_columns(trials.column_names), "params")
    ignored = set(sweep_differences(trials, a, b) if ignore is None else ignore) | {"seed"}
    keys = [p for p in varying_params(trials) if p not in ignored]
    sides = {}
    for suffix, sweep in (("a", a), ("b", b)):
        grouped = aggregate(trials.filter(pc.field("sweep") == sweep), by=keys, metrics=[metric],
                            stats=["mean", "std"])
        sides[suffix] = {tuple(r[k] for k in keys): r for r in grouped.to_pylist()}
    configs = list(sides["a"]) + [key for key in sides["b"] if key not in sides["a"]]
    rows = []
    for key in configs:
        row: dict[str, Any] = dict(zip(keys, key))
        for suffix in ("a", "b"):
            side = sides[suffix].get(key, {})
            row[f"trials_{suffix}"] = side.get("trials", 0)
            row[f"mean_{metric}_{suffix}"] = side.get(f"mean_{metric}")
            row[f"std_{metric}_{suffix}"] = side.get(f"std_{metric}")
        mean_a, mean_b = row[f"mean_{metric}_a"], row[f"mean_{metric}_b"]
        row["delta"] = None if mean_a is None or mean_b is None else mean_b - mean_a
        rows.append(row)
    key_types = [pa.field(k, pa.string() if pa.types.is_list(t) else t) for k in keys
                 for t in [trials.schema.field(k).type]]
    value_fields = [
        pa.field(f"{name}_{s}", kind) for s in ("a", "b")
        for name, kind in (("trials", pa.int64()), (f"mean_{metric}", pa.float64()), (f"std_{metric}", pa.float64()))
    ]
    table = pa.Table.from_pylist(rows, schema=pa.schema([*key_types, *value_fields, pa.field("delta", pa.float64())]))
    return best(table, "delta", k=None, descending=higher_is_better(metric))


def _resolve_ids(store: ResultsStore, trial_ids: Sequence[str], sweep: str | Sequence[str] | None) -> list[str]:
    """Full trial ids for ids or unique prefixes of them (as the tables show them)."""
    known: list[str] | None = None
    resolved = []
    for given in trial_ids:
        if len(given) >= 16:
            resolved.append(given)
            continue
        if known is None:
            known = sorted(set(store.read_trials(sweep, columns=["trial_id"])["trial_id"].to_pylist()))
        matches = [t for t in known if t.startswith(given)]
        if len(matches) != 1:
            problem = "no trial" if not matches else f"{len(matches)} trials ({', '.join(matches[:3])}, ...)"
            raise QueryError(f"trial id {given!r} matches {problem}; give more of the id")
        resolved.append(matches[0])
    return resolved


def learning_curves(
    store: ResultsStore,
    trial_ids: Sequence[str] | None = None,
    where: Where | None = None,
    metrics: Sequence[str] | None = None,
) -> pa.Table:
    """Epoch rows of the latest run of each chosen trial (by id, id prefix, or ``where``),
    labelled with the params that differ between them; sorted by trial and epoch."""
    where = where or Where()
    if trial_ids is not None:
        trial_ids = _resolve_ids(store, trial_ids, where.sweeps)
        # Only the columns needed: one trial's curve is then a small read.
        wanted = {"sweep", "trial_id", "run_id", "started_at", "ended_at", *(c.column for c in where.conditions)}
        several = len(set(trial_ids)) > 1
        # With several trials, every params column (builders' ones too): the labels that tell the curves apart.
        columns = None if several else [c for c in TRIALS_SCHEMA.names if c in wanted]
        trials = latest_per_trial(store.read_trials(where.sweeps, trial_ids=trial_ids, columns=columns))
        condition = _all(where.conditions)
        trials = trials if condition is None else trials.filter(condition)
    else:
        trials = select_trials(store, where)
    metrics = list(metrics) if metrics is not None else [c for c in EPOCHS_SCHEMA.names if c not in ("sweep", "trial_id", "run_id", "epoch")]
    for metric in metrics:
        check_column(metric, EPOCHS_SCHEMA.names, "epochs")
    ids = trials["trial_id"].unique().to_pylist()
    runs = trials["run_id"].combine_chunks()
    sweeps = sorted(set(trials["sweep"].to_pylist()))  # read only their directories
    epochs = store.read_epochs(
        sweeps, trial_ids=ids, run_ids=runs, columns=["sweep", "trial_id", "run_id", "epoch", *metrics]
    )
    labels = [p for p in varying_params(trials) if p in trials.column_names]
    curves = epochs.join(trials.select(["run_id", *labels]), keys="run_id", join_type="left outer")
    ordered = curves.sort_by([("sweep", "ascending"), ("trial_id", "ascending"), ("epoch", "ascending")])
    return ordered.select(["sweep", "trial_id", "run_id", *labels, "epoch", *metrics])


def curve_stats(curves: pa.Table, metric: str = "val_accuracy", by: Sequence[str] | None = None) -> pa.Table:
    """Per config (``by``; default: the labels of :func:`learning_curves` except seed) and
    epoch: mean, std and count of ``metric`` over the trials (seeds) of that config."""
    if by is None:
        by = [c for c in curves.column_names if c in param_columns(curves.column_names) and c != "seed"]
    return aggregate(curves, by=[*by, "epoch"], metrics=[metric], stats=["mean", "std", "count"])


def with_timing_columns(trials: pa.Table) -> pa.Table:
    """``trials`` plus the derived columns of :func:`timing`: ``epoch_seconds`` (steady
    state; the mean when there was one epoch), ``overhead_seconds`` = total - train - eval
    (dataset fetch, model build, start-up) and ``replicas`` (devices in the strategy)."""
    per_epoch = pc.divide(trials["train_seconds"], pc.cast(trials["epochs_run"], pa.float64()))
    derived = {
        "epoch_seconds": pc.coalesce(trials["steady_epoch_seconds"], per_epoch),
        "overhead_seconds": pc.subtract(
            pc.subtract(trials["total_seconds"], trials["train_seconds"]), pc.fill_null(trials["eval_seconds"], 0.0)
        ),
        "replicas": trials["device_count"],
    }
    for name, column in derived.items():
        trials = trials.append_column(name, column)
    return trials


def timing(trials: pa.Table, by: Sequence[str] | None = None) -> pa.Table:
    """Where the time went, per trial (or, with ``by``, the mean per group): seconds per
    epoch (steady state; the mean when there was one epoch), first epoch (with tracing),
    images per second, train/eval/total seconds, setup overhead = total - train - eval
    (dataset fetch, model build, start-up), replicas (devices in the strategy), device kind."""
    table = with_timing_columns(trials)
    if by is not None:
        numeric = [c for c in TIMING_TABLE_COLUMNS if pa.types.is_floating(table.schema.field(c).type)]
        return aggregate(table, by=by, metrics=numeric, stats=["mean"])
    lead = ["sweep"] if len(set(table["sweep"].to_pylist())) > 1 else []
    return table.select([*lead, "trial_id", *varying_params(table), *TIMING_TABLE_COLUMNS])
