"""``orch results``: one view of the results at a time (per trial, per config, groups, a pivot,
two sweeps compared, curves, timings, the Pareto front), checked before any query runs."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import pyarrow as pa

from orchestrator.answers import (
    STATS,
    Where,
    aggregate,
    best,
    compare_sweeps,
    higher_is_better,
    learning_curves,
    pareto_front,
    parse_objectives,
    parse_where,
    pivot,
    results_table,
    select_trials,
    sweep_differences,
    timing,
)
from orchestrator.cli._common import add_output, add_store, add_where, check_sweeps, flat, names, output_format, write
from orchestrator.errors import InputError
from orchestrator.store import ParquetResultsStore

__all__ = ["add_results_parser", "cmd_results"]


def add_results_parser(sub: argparse._SubParsersAction) -> None:
    res = sub.add_parser(
        "results", help="print results: trials, configs, groups, pivots, comparisons, curves, timings",
        description="One row per trial by default (the latest run of each, best first). Other views, "
        "one at a time: --per config, --group-by, --pivot, --compare, --curves, --timing, --pareto.",
    )
    res.add_argument("sweep", nargs="?", help="sweep name (default: every sweep in the store)")
    add_store(res)
    views = res.add_argument_group("views (one at a time)")
    views.add_argument("--per", choices=("trial", "config"),
                       help="one row per trial (default), or per config with statistics over its seeds")
    views.add_argument("--group-by", type=names, metavar="P1,P2",
                       help="one row per value of these params: statistics over every param not grouped "
                       "(with --timing: mean timings per group)")
    views.add_argument("--pivot", metavar="ROWS:COL",
                       help="a statistic of the metric with ROWS (params, comma-separated) down and COL across, "
                       "e.g. optimizer:activation")
    views.add_argument("--compare", nargs=2, metavar=("A", "B"),
                       help="sweep B against sweep A, config by config: means, stds, delta = B - A")
    views.add_argument("--curves", nargs="*", metavar="ID",
                       help="epoch rows of these trials (ids or unique prefixes; none: every trial selected); "
                       "give SWEEP before --curves")
    views.add_argument("--timing", action="store_true",
                       help="where the time went: s/epoch, images/s, setup overhead, replicas, device")
    views.add_argument("--pareto", metavar="COL:GOAL,...",
                       help="the trade-offs: completed trials no other trial beats on every objective, e.g. "
                       "test_accuracy:max,total_seconds:min (GOAL max or min; default: as the name says)")
    which = res.add_argument_group("which trials")
    add_where(which)
    which.add_argument("--all-runs", action="store_true", help="every run of each trial, not only the latest")
    what = res.add_argument_group("what to show")
    what.add_argument("--metric", action="append", metavar="COL",
                      help="metric to show, summarise and rank by (repeatable; default test_accuracy; "
                      "--pivot and --compare take one)")
    what.add_argument("--stats", type=names, metavar="S1,S2", help=f"statistics of --per config, --group-by: any of "
                      f"{','.join(STATS)} (default: all); --pivot takes one (default mean)")
    what.add_argument("--ignore", action="append", metavar="PARAM",
                      help="--compare matches configs on every param except seed and these (repeatable; "
                      "default: the params the two sweeps set differently; none: ignore nothing)")
    what.add_argument("--all-params", action="store_true", help="show every param, not only those that vary")
    order = res.add_argument_group("order")
    order.add_argument("--sort", metavar="COL", help="column to sort by (default: the metric, best first)")
    order.add_argument("--ascending", action="store_true", help="sort smallest first")
    order.add_argument("--best", type=int, metavar="K", help="only the K best rows (by --sort, else the metric)")
    add_output(res)


# Views of `orch results` and the options each one takes; any other combination is an error
# that names what the option goes with.
_VIEWS = ("--per trial", "--per config", "--group-by", "--pivot", "--compare", "--curves", "--timing", "--pareto")
_TAKES = {
    "SWEEP": set(_VIEWS) - {"--compare"},
    "--all-runs": {"--per trial", "--per config", "--group-by", "--pivot", "--timing"},
    "--metric": {"--per trial", "--per config", "--group-by", "--pivot", "--compare", "--curves"},
    "--stats": {"--per config", "--group-by", "--pivot"},
    "--ignore": {"--compare"},
    "--all-params": {"--per trial", "--per config", "--pareto"},
}


def _results_view(args: argparse.Namespace) -> str:
    views = [view for view, given in (
        ("--per trial", args.per == "trial"), ("--per config", args.per == "config"),
        ("--group-by", args.group_by is not None and not args.timing), ("--pivot", args.pivot is not None),
        ("--compare", args.compare is not None), ("--curves", args.curves is not None), ("--timing", args.timing),
        ("--pareto", args.pareto is not None),
    ) if given]
    if len(views) > 1:
        raise InputError(f"{views[0]} and {views[1]} are different views of the results; give one of them")
    view = views[0] if views else "--per trial"
    given = {"SWEEP": args.sweep is not None, "--all-runs": args.all_runs, "--metric": args.metric is not None,
             "--stats": args.stats is not None, "--ignore": args.ignore is not None, "--all-params": args.all_params}
    for option, takes in _TAKES.items():
        if given[option] and view not in takes:
            hint = "name the two sweeps after --compare only" if option == "SWEEP" else \
                f"it goes with {', '.join(v for v in _VIEWS if v in takes)}"
            shown = "--per trial (the default)" if view == "--per trial" else view
            raise InputError(f"{option} does not apply to {shown}; {hint}")
    if args.best is not None and args.best < 1:
        raise InputError(f"--best {args.best}: expected how many rows to keep, 1 or more")
    return view


def _one(values: list[str] | None, option: str, view: str, default: str) -> str:
    if values and len(values) > 1:
        raise InputError(f"{view} takes one {option}; got {len(values)} ({', '.join(values)})")
    return values[0] if values else default


def _print_differences(trials: pa.Table, a: str, b: str, ignore: list[str] | None) -> None:
    """Say on stderr what the second sweep changed, and which params the match left out."""
    differences = sweep_differences(trials, a, b)
    changed = ", ".join(f"{p} {va} -> {vb}" for p, (va, vb) in differences.items())
    ignored = ["seed", *(differences if ignore is None else ignore)]
    what = f"the sweeps differ in {changed}" if changed else "no param differs between the sweeps as a whole"
    print(f"{b} against {a}: {what}; configs matched on every param except {', '.join(ignored)}", file=sys.stderr)


def _results(
    store: ParquetResultsStore, view: str, where: Where, args: argparse.Namespace
) -> tuple[pa.Table, str | None, bool | None]:
    """The table a view answers with, the column --best ranks by unless --sort says, and
    whether larger is better there (None: as the column's name says)."""
    metrics, stats = flat(args.metric), args.stats
    latest = not args.all_runs
    metric = (metrics or ["test_accuracy"])[0]
    if view == "--group-by":
        stats = stats or list(STATS)
        trials = select_trials(store, where.with_default_status(), latest=latest)
        table = aggregate(trials, by=args.group_by, metrics=metrics or ["test_accuracy"], stats=stats)
        return table, f"mean_{metric}" if "mean" in stats else f"{stats[0]}_{metric}", None
    if view == "--pivot":
        rows, sep, column = args.pivot.partition(":")
        if not sep or not names(rows) or not column.strip():
            raise InputError(f"--pivot {args.pivot!r}: expected ROWS:COLUMN, e.g. optimizer:activation "
                             "or sweep,optimizer:activation")
        trials = select_trials(store, where.with_default_status(), latest=latest)
        stat = _one(stats, "--stats", view, "mean")
        metric = _one(metrics, "--metric", view, "test_accuracy")
        return pivot(trials, names(rows), column.strip(), metric, stat), None, None
    if view == "--compare":
        a, b = args.compare
        check_sweeps(store, [a, b])
        ignore = None if args.ignore is None else [p for p in flat(args.ignore) or () if p != "none"]
        metric = _one(metrics, "--metric", view, "test_accuracy")
        table = compare_sweeps(store, a, b, metric, where, ignore=ignore)
        _print_differences(select_trials(store, replace(where, sweeps=(a, b)).with_default_status()), a, b, ignore)
        return table, "delta", higher_is_better(metric)  # delta is better high when the metric is
    if view == "--curves":
        return learning_curves(store, args.curves or None, where, metrics=metrics), None, None
    if view == "--timing":
        by = args.group_by
        rank = "mean_epoch_seconds" if by else "epoch_seconds"
        return timing(select_trials(store, where, latest=latest), by=by), rank, None
    if view == "--pareto":
        objectives = parse_objectives(args.pareto)
        columns = [column for column, _ in objectives]
        table = results_table(store, where.with_default_status(), metrics=columns, all_params=args.all_params)
        return pareto_front(table, objectives), columns[0], objectives[0][1] == "max"
    raise AssertionError(view)


def cmd_results(args: argparse.Namespace) -> int:
    view = _results_view(args)
    fmt = output_format(args)
    store = ParquetResultsStore(args.store)
    if args.sweep is not None:
        check_sweeps(store, [args.sweep])
    where = parse_where(args.where, sweep=args.sweep)
    descending = False if args.ascending else None
    if view in ("--per trial", "--per config"):
        try:
            table = results_table(
                store, where, per=view.split()[1], latest=not args.all_runs, metrics=flat(args.metric),
                stats=args.stats, sort=args.sort, descending=descending,
                all_params=args.all_params,
            )
        except KeyError as e:
            raise InputError(f"--sort {e.args[0]!r}: not a column here; choose one of the columns shown by "
                             "`orch results`") from None
        table = table if args.best is None else table.slice(0, args.best)
    else:
        table, rank, larger_better = _results(store, view, where, args)
        column = args.sort or rank
        if column == rank and larger_better is not None and not args.ascending:
            descending = larger_better
        if args.sort is not None and args.sort not in table.column_names:
            raise InputError(f"--sort {args.sort!r}: not a column here; choose one of {', '.join(table.column_names)}")
        if column is not None and (args.sort or args.best or args.ascending):
            table = best(table, column, k=args.best, descending=descending)
        elif args.best is not None:
            raise InputError(f"--best: {view} has no metric to rank by; say which column with --sort COL")
    if table.num_rows == 0 and fmt == "table" and not args.output:
        if not store.sweeps():
            print(f"no results in store {args.store!r} yet; run a sweep with `orch run CONFIG`", file=sys.stderr)
        else:
            print("no trials match; check SWEEP and --where (orch results with neither lists every trial)",
                  file=sys.stderr)
        return 0
    write(table, fmt, args.output)
    return 0
