"""``orch``: a thin shell over the Python API. Each subcommand parses, calls one function,
prints, and returns an exit code: 0 ok, 1 runtime failure, 2 bad input, 130 interrupted."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from orchestrator.address import parse_address
from orchestrator.config import load_experiment
from orchestrator.errors import InputError, SweepAborted
from orchestrator.pareto import pareto_front, parse_objectives
from orchestrator.plots import plot_curves, plot_metric, plot_search, plot_time_vs_batch
from orchestrator.progress import progress_for
from orchestrator.query import (
    STATS,
    Where,
    aggregate,
    best,
    compare_sweeps,
    higher_is_better,
    learning_curves,
    parse_where,
    pivot,
    select_trials,
    sweep_differences,
    timing,
    with_timing_columns,
)
from orchestrator.report import OUTPUT_FORMATS, render, write_output
from orchestrator.result_tables import result_rows, results_table
from orchestrator.runner import run_experiment
from orchestrator.sql import run_sql
from orchestrator.store import DEFAULT_STORE, ParquetResultsStore, StoreWarning

__all__ = ["main"]


def _names(text: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``: lists on the command line are comma-separated."""
    return [name.strip() for name in text.split(",") if name.strip()]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        # As click does: the error and where help is, not the whole usage above them (nine
        # lines for `orch results`, which buried the message). Exit 2, as argparse.
        self.exit(2, f"{self.prog}: error: {message}\nTry '{self.prog} --help' for help.\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="orch", description="TensorFlow hyper-parameter sweeps on Ray, results in Parquet.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run every trial of an experiment file not yet in the store")
    run.add_argument("config", help="experiment YAML file, e.g. configs/quickstart.yaml")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a field by its dotted YAML path, e.g. --set training.epochs=1 (repeatable)")
    run.add_argument("--name", help="sweep name (default: the file's name: field, else its file name)")
    run.add_argument("--store", default=DEFAULT_STORE, help=f"results store path or URI (default {DEFAULT_STORE})")
    run.add_argument("--address", help="join this Ray cluster (auto, or HOST:PORT of the head node's GCS) "
                     "instead of starting a local one (default: $RAY_ADDRESS if set)")
    run.add_argument("--rerun", action="store_true", help="run trials again even if their results are stored")

    submit = sub.add_parser("submit", help="run a sweep as a Ray job on a cluster (Jobs API)")
    submit.add_argument("config", help="experiment YAML file; its directory is uploaded as the job's working directory")
    submit.add_argument("--address", required=True, help="the head node's dashboard URL, e.g. http://HEAD:8265")
    submit.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field by its dotted YAML path (repeatable)")
    submit.add_argument("--name", help="sweep name (default: the file's name: field, else its file name)")
    submit.add_argument("--store", default=DEFAULT_STORE,
                        help=f"results store: a path every node reaches (made absolute here) or a URI (default {DEFAULT_STORE})")
    submit.add_argument("--rerun", action="store_true", help="run trials again even if their results are stored")
    submit.add_argument("--python", default="python",
                        help="Python on the head node that has orch installed (default: python on its PATH)")

    jobs = sub.add_parser("jobs", help="list, follow or stop the Ray jobs of a cluster")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True, parser_class=_Parser)
    for verb, text in (("list", "every job of the cluster"), ("logs", "print a job's log"), ("stop", "stop a job")):
        p = jobs_sub.add_parser(verb, help=text)
        if verb != "list":
            p.add_argument("job_id", help="the id `orch submit` printed (raysubmit_...)")
        p.add_argument("--address", required=True, help="the head node's dashboard URL, e.g. http://HEAD:8265")
        if verb == "logs":
            p.add_argument("--follow", "-f", action="store_true",
                           help="print the log as it grows until the job ends; exit 0 only if it succeeded")

    _add_results_parser(sub)
    _add_plot_parser(sub)

    sql = sub.add_parser("sql", help="run an SQL query over the store (DuckDB: the [sql] extra)",
                         description="SQL over the views trials (every run), latest_trials (one row per trial) "
                         "and epochs (join on run_id). Nothing can write to the store.")
    sql.add_argument("query", help='e.g. "SELECT optimizer, avg(test_accuracy) FROM latest_trials GROUP BY ALL"')
    sql.add_argument("--sweep", help="only this sweep's rows in the views (default: every sweep)")
    _add_store(sql)
    _add_output(sql)

    compact = sub.add_parser("compact", help="merge each sweep's many small files into one (answers stay the same)")
    compact.add_argument("sweeps", nargs="*", metavar="SWEEP", help="sweeps to compact (default: every sweep)")
    _add_store(compact)
    return parser


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=DEFAULT_STORE, help=f"results store path or URI (default {DEFAULT_STORE})")


def _add_where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--where", action="append", default=[], metavar="COND",
                        help="only trials where this holds (repeatable; all must hold): optimizer=adam,sgd "
                        "activation!=sigmoid test_accuracy>=0.98 started_at>=2026-01-01 filters=null")


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=OUTPUT_FORMATS,
                        help="table (default), csv, markdown, json, or parquet (needs -o); "
                        "with -o, default: from its suffix (.csv .md .json .parquet)")
    parser.add_argument("-o", "--output", metavar="PATH", help="write to this file instead of printing")


def _add_results_parser(sub: argparse._SubParsersAction) -> None:
    res = sub.add_parser(
        "results", help="print results: trials, configs, groups, pivots, comparisons, curves, timings",
        description="One row per trial by default (the latest run of each, best first). Other views, "
        "one at a time: --per config, --group-by, --pivot, --compare, --curves, --timing, --pareto.",
    )
    res.add_argument("sweep", nargs="?", help="sweep name (default: every sweep in the store)")
    _add_store(res)
    views = res.add_argument_group("views (one at a time)")
    views.add_argument("--per", choices=("trial", "config"),
                       help="one row per trial (default), or per config with statistics over its seeds")
    views.add_argument("--group-by", type=_names, metavar="P1,P2",
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
    _add_where(which)
    which.add_argument("--all-runs", action="store_true", help="every run of each trial, not only the latest")
    what = res.add_argument_group("what to show")
    what.add_argument("--metric", action="append", metavar="COL",
                      help="metric to show, summarise and rank by (repeatable; default test_accuracy; "
                      "--pivot and --compare take one)")
    what.add_argument("--stats", type=_names, metavar="S1,S2", help=f"statistics of --per config, --group-by: any of "
                      f"{','.join(STATS)} (default: all); --pivot takes one (default mean)")
    what.add_argument("--ignore", action="append", metavar="PARAM",
                      help="--compare matches configs on every param except seed and these (repeatable; "
                      "default: the params the two sweeps set differently; none: ignore nothing)")
    what.add_argument("--all-params", action="store_true", help="show every param, not only those that vary")
    order = res.add_argument_group("order")
    order.add_argument("--sort", metavar="COL", help="column to sort by (default: the metric, best first)")
    order.add_argument("--ascending", action="store_true", help="sort smallest first")
    order.add_argument("--best", type=int, metavar="K", help="only the K best rows (by --sort, else the metric)")
    _add_output(res)


def _add_plot_parser(sub: argparse._SubParsersAction) -> None:
    plot = sub.add_parser("plot", help="draw a PNG: a metric by a param, learning curves, time by batch size, "
                          "or a search's progress")
    kinds = plot.add_subparsers(dest="plot_kind", required=True, parser_class=_Parser)
    metric = kinds.add_parser("metric", help="a metric against one param, one line per value of another; "
                              "each point the mean over seeds, error bars one std (completed trials)")
    curves = kinds.add_parser("curves", help="learning curves: mean +- std band over seeds per config")
    time = kinds.add_parser("time", help="wall time against batch size (completed trials)")
    search = kinds.add_parser("search", help="best metric so far against trial number, one line per sweep "
                              "(compare search methods or seeds at equal budgets)")
    search.add_argument("sweeps", nargs="*", metavar="SWEEP", help="sweeps to draw, one line each (default: every sweep)")
    for parser in (metric, curves, time, search):
        if parser is not search:
            parser.add_argument("sweep", nargs="?", help="sweep name (default: every sweep in the store)")
        _add_where(parser)
        parser.add_argument("-o", "--output", required=True, metavar="PNG", help="the file to write, e.g. acc.png")
        parser.add_argument("--title", help="the plot's title (default: says what is plotted)")
        _add_store(parser)
    metric.add_argument("--x", required=True, metavar="PARAM", help="the x axis, e.g. learning_rate")
    metric.add_argument("--line", metavar="PARAM", help="one line per value of this param, e.g. optimizer")
    metric.add_argument("--metric", default="test_accuracy", metavar="COL", help="the y axis (default test_accuracy)")
    curves.add_argument("--trials", nargs="+", metavar="ID",
                        help="only these trials (ids or unique prefixes; default: every trial selected)")
    curves.add_argument("--metric", default="val_accuracy", metavar="COL",
                        help="an epochs column (default val_accuracy; also loss, accuracy, val_loss, seconds)")
    curves.add_argument("--by", type=_names, metavar="P1,P2", help="one curve per value of these params "
                        "(default: every param telling the trials apart except seed)")
    time.add_argument("--seconds", default="total_seconds", metavar="COL",
                      help="total_seconds (default), train_seconds, epoch_seconds, overhead_seconds, ...")
    time.add_argument("--line", metavar="PARAM", help="one line per value of this param")
    search.add_argument("--metric", default="val_accuracy", metavar="COL",
                        help="the metric the search optimised (default val_accuracy, the sweep's default metric)")
    search.add_argument("--goal", choices=("max", "min"), help="larger or smaller is better (default: as the name says)")


def _cmd_run(args: argparse.Namespace) -> int:
    if args.address is not None:
        parse_address(args.address, "cluster")  # before anything slow: a typo fails at once
    progress = progress_for(sys.stderr)
    with progress.step(f"checking {args.config}..."):  # every grid point is checked: a big grid takes a while
        experiment = load_experiment(args.config, overrides=args.overrides, name=args.name)
    store = ParquetResultsStore(args.store)
    summary = run_experiment(experiment, store, rerun=args.rerun, address=args.address, progress=progress)
    print(
        f"sweep {summary.sweep}: {summary.completed} completed, {summary.stopped} stopped early, {summary.failed} failed, "
        f"{summary.skipped} already stored, {summary.retries} retries; "
        f"{summary.wall_seconds:.1f}s on {summary.trainers} trainers",
        file=sys.stderr,
    )
    columns, rows = result_rows(store, summary.sweep)
    print(render(columns, rows, "table"))
    print(f"\nresults: orch results {summary.sweep} --store {args.store}", file=sys.stderr)
    return 1 if summary.failed else 0


def _flat(texts: list[str] | None) -> list[str] | None:
    """Names given as a repeatable option, each maybe comma-separated; None if never given."""
    return None if texts is None else [name for text in texts for name in _names(text)]


def _check_sweeps(store: ParquetResultsStore, sweeps: Sequence[str]) -> None:
    known = store.sweeps()
    for sweep in sweeps:
        if sweep not in known:
            raise InputError(f"no sweep {sweep!r} in store {store.uri!r} (sweeps there: {', '.join(known) or 'none'}); "
                             "check the name or --store")


_SUFFIXES = {".csv": "csv", ".md": "markdown", ".json": "json", ".parquet": "parquet"}


def _output_format(args: argparse.Namespace) -> str:
    """--format, else what -o's suffix says, else an aligned table. Checked before any query runs."""
    fmt = args.format or (args.output and _SUFFIXES.get(os.path.splitext(args.output)[1].lower())) or "table"
    if fmt == "parquet" and not args.output:
        raise InputError("--format parquet writes a file: add -o PATH, e.g. -o results.parquet")
    return fmt


def _write(table: pa.Table, fmt: str, path: str | None) -> None:
    try:
        text = write_output(table, fmt, path)
    except OSError as e:
        raise InputError(f"cannot write {path!r} ({e.strerror or e}); choose another path with -o") from None
    if text is None:
        print(f"wrote {table.num_rows} rows ({fmt}) to {path}", file=sys.stderr)
    else:
        print(text)


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
    metrics, stats = _flat(args.metric), args.stats
    latest = not args.all_runs
    metric = (metrics or ["test_accuracy"])[0]
    if view == "--group-by":
        stats = stats or list(STATS)
        trials = select_trials(store, where.with_default_status(), latest=latest)
        table = aggregate(trials, by=args.group_by, metrics=metrics or ["test_accuracy"], stats=stats)
        return table, f"mean_{metric}" if "mean" in stats else f"{stats[0]}_{metric}", None
    if view == "--pivot":
        rows, sep, column = args.pivot.partition(":")
        if not sep or not _names(rows) or not column.strip():
            raise InputError(f"--pivot {args.pivot!r}: expected ROWS:COLUMN, e.g. optimizer:activation "
                             "or sweep,optimizer:activation")
        trials = select_trials(store, where.with_default_status(), latest=latest)
        stat = _one(stats, "--stats", view, "mean")
        metric = _one(metrics, "--metric", view, "test_accuracy")
        return pivot(trials, _names(rows), column.strip(), metric, stat), None, None
    if view == "--compare":
        a, b = args.compare
        _check_sweeps(store, [a, b])
        ignore = None if args.ignore is None else [p for p in _flat(args.ignore) or () if p != "none"]
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


def _cmd_results(args: argparse.Namespace) -> int:
    view = _results_view(args)
    fmt = _output_format(args)
    store = ParquetResultsStore(args.store)
    if args.sweep is not None:
        _check_sweeps(store, [args.sweep])
    where = parse_where(args.where, sweep=args.sweep)
    descending = False if args.ascending else None
    if view in ("--per trial", "--per config"):
        try:
            table = results_table(
                store, where, per=view.split()[1], latest=not args.all_runs, metrics=_flat(args.metric),
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
    _write(table, fmt, args.output)
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    if not args.output.lower().endswith(".png"):
        raise InputError(f"-o {args.output!r}: plots are PNG files; give a path ending in .png")
    store = ParquetResultsStore(args.store)
    if args.plot_kind == "search":
        _check_sweeps(store, args.sweeps)
        where = parse_where(args.where, sweep=args.sweeps or None).with_default_status(("completed", "stopped"))
        path = plot_search(select_trials(store, where), args.output, metric=args.metric, goal=args.goal,
                           title=args.title)
        print(path)
        return 0
    if args.sweep is not None:
        _check_sweeps(store, [args.sweep])
    where = parse_where(args.where, sweep=args.sweep)
    if args.plot_kind == "metric":
        trials = select_trials(store, where.with_default_status())
        path = plot_metric(trials, args.x, args.output, metric=args.metric, line=args.line, title=args.title)
    elif args.plot_kind == "curves":
        curves = learning_curves(store, args.trials, where, metrics=[args.metric])
        path = plot_curves(curves, args.output, metric=args.metric, by=args.by, title=args.title)
    else:
        trials = with_timing_columns(select_trials(store, where.with_default_status()))
        path = plot_time_vs_batch(trials, args.output, seconds=args.seconds, line=args.line, title=args.title)
    print(path)
    return 0


def _cmd_sql(args: argparse.Namespace) -> int:
    fmt = _output_format(args)
    store = ParquetResultsStore(args.store)
    if args.sweep is not None:
        _check_sweeps(store, [args.sweep])
    _write(run_sql(store, args.query, args.sweep), fmt, args.output)
    return 0


def _cmd_compact(args: argparse.Namespace) -> int:
    store = ParquetResultsStore(args.store)
    _check_sweeps(store, args.sweeps)
    if not store.sweeps():
        print(f"store {args.store!r} has no sweeps; nothing to compact", file=sys.stderr)
        return 0
    report = store.compact(args.sweeps or None)
    print(f"compacted {', '.join(args.sweeps) or 'every sweep'}: {report}", file=sys.stderr)
    return 0


def _cmd_submit(args: argparse.Namespace) -> int:
    # Validate here: a bad config fails now, with exit 2, not later in the job's log.
    parse_address(args.address, "jobs")
    experiment = load_experiment(args.config, overrides=args.overrides, name=args.name)
    from cluster.jobs import submit_sweep, sweep_job  # Ray only when needed (DESIGN.md)

    job = sweep_job(args.config, experiment, store=args.store, overrides=args.overrides, name=args.name,
                    rerun=args.rerun, python=args.python)
    job_id = submit_sweep(args.address, job)
    print(job_id)
    print(
        f"submitted sweep {experiment.name} as job {job_id}: {job.entrypoint}\n"
        f"follow it:   orch jobs logs {job_id} --address {args.address} --follow\n"
        f"stop it:     orch jobs stop {job_id} --address {args.address}\n"
        f"its results: orch results {experiment.name} --store {job.metadata['orch_store']}",
        file=sys.stderr,
    )
    return 0


def _cmd_jobs(args: argparse.Namespace) -> int:
    from cluster import jobs  # Ray only when needed (DESIGN.md)

    if args.jobs_command == "list":
        rows = [vars(row) for row in jobs.list_jobs(args.address)]
        if not rows:
            print(f"no jobs on the cluster at {args.address}", file=sys.stderr)
            return 0
        print(render(list(rows[0]), rows, "table"))
        return 0
    if args.jobs_command == "stop":
        was_running, status = jobs.stop_job(args.address, args.job_id)
        print(f"job {args.job_id}: " + ("stop requested" if was_running else f"not running ({status})"), file=sys.stderr)
        return 0
    if not args.follow:
        sys.stdout.write(jobs.job_logs(args.address, args.job_id))
        return 0

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    try:
        status, message = jobs.follow_job(args.address, args.job_id, write)
    except KeyboardInterrupt:
        print(f"\nstopped following; job {args.job_id} goes on (orch jobs stop {args.job_id} --address "
              f"{args.address} stops it)", file=sys.stderr)
        return 130
    print(f"job {args.job_id}: {status}" + (f" ({message})" if message else ""), file=sys.stderr)
    return 0 if status == "SUCCEEDED" else 1


@contextmanager
def _store_warnings(command: str) -> Iterator[None]:
    """Print each StoreWarning (a damaged file skipped) once, as one line like the errors;
    other warnings keep Python's format."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", StoreWarning)  # deduplicated below, by text
        shown: set[str] = set()
        show_default = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
            if not issubclass(category, StoreWarning):
                show_default(message, category, filename, lineno, file, line)
            elif str(message) not in shown:
                shown.add(str(message))
                print(f"orch {command}: warning: {message}", file=sys.stderr)

        warnings.showwarning = show
        yield


_COMMANDS = {"run": _cmd_run, "results": _cmd_results, "submit": _cmd_submit, "jobs": _cmd_jobs,
             "plot": _cmd_plot, "sql": _cmd_sql, "compact": _cmd_compact}


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    command = _COMMANDS[args.command]
    try:
        with _store_warnings(args.command):
            return command(args)
    except InputError as e:
        print(f"orch {args.command}: error: {e}", file=sys.stderr)
        return 2
    except SweepAborted as e:
        print(f"orch {args.command}: sweep stopped: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `orch results | head` closed the pipe: not an error. Point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(
            f"\norch {args.command}: interrupted; finished trials are stored. "
            "Run the same command again to finish the rest.",
            file=sys.stderr,
        )
        return 130
    except Exception as e:  # noqa: BLE001 - last resort: even a bug is one line, not a traceback
        log = _write_crash_log(e, list(argv) if argv is not None else sys.argv[1:])
        where = f"full traceback in {log}" if log else "no traceback log could be written"
        print(f"orch {args.command}: internal error: {type(e).__name__}: {_first_line(e)} ({where}; "
              "please report it with that file)", file=sys.stderr)
        return 1


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else "(no message)"


def crash_log_dir() -> Path:
    """Where tracebacks of unexpected errors go: $XDG_CACHE_HOME/orch/crashes, by default
    ~/.cache/orch/crashes; the system temp dir when that cannot be written."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "orch" / "crashes"


def _write_crash_log(error: BaseException, argv: list[str]) -> Path | None:
    text = f"orch {' '.join(argv)}\n{datetime.now(timezone.utc).isoformat()}\n\n" + "".join(
        traceback.format_exception(type(error), error, error.__traceback__)
    )
    name = f"crash-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{os.getpid()}.log"
    for folder in (crash_log_dir(), Path(tempfile.gettempdir()) / "orch-crashes"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")
            return folder / name
        except OSError:
            continue
    return None


if __name__ == "__main__":
    sys.exit(main())
