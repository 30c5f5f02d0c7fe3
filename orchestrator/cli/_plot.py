"""``orch plot``: PNG plots of a metric by a param, learning curves, time by batch size, and
a search's progress."""

from __future__ import annotations

import argparse

from orchestrator.answers import (
    learning_curves,
    parse_where,
    plot_curves,
    plot_metric,
    plot_search,
    plot_time_vs_batch,
    select_trials,
    with_timing_columns,
)
from orchestrator.answers._labels import space_scales
from orchestrator.cli._common import Parser, add_store, add_where, check_sweeps, names
from orchestrator.errors import InputError
from orchestrator.store import ParquetResultsStore

__all__ = ["add_plot_parser", "cmd_plot"]


def add_plot_parser(sub: argparse._SubParsersAction) -> None:
    plot = sub.add_parser("plot", help="draw a PNG: a metric by a param, learning curves, time by batch size, "
                          "or a search's progress")
    kinds = plot.add_subparsers(dest="plot_kind", required=True, parser_class=Parser)
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
        add_where(parser)
        parser.add_argument("-o", "--output", required=True, metavar="PNG", help="the file to write, e.g. acc.png")
        parser.add_argument("--title", help="the plot's title (default: says what is plotted)")
        add_store(parser)
    metric.add_argument("--x", required=True, metavar="PARAM", help="the x axis, e.g. learning_rate")
    metric.add_argument("--line", metavar="PARAM", help="one line per value of this param, e.g. optimizer")
    metric.add_argument("--metric", default="test_accuracy", metavar="COL", help="the y axis (default test_accuracy)")
    curves.add_argument("--trials", nargs="+", metavar="ID",
                        help="only these trials (ids or unique prefixes; default: every trial selected)")
    curves.add_argument("--metric", default="val_accuracy", metavar="COL",
                        help="an epochs column (default val_accuracy; also loss, accuracy, val_loss, seconds)")
    curves.add_argument("--by", type=names, metavar="P1,P2", help="one curve per value of these params "
                        "(default: every param telling the trials apart except seed)")
    time.add_argument("--seconds", default="total_seconds", metavar="COL",
                      help="total_seconds (default), train_seconds, epoch_seconds, overhead_seconds, ...")
    time.add_argument("--line", metavar="PARAM", help="one line per value of this param")
    search.add_argument("--metric", default="val_accuracy", metavar="COL",
                        help="the metric the search optimised (default val_accuracy, the sweep's default metric)")
    search.add_argument("--goal", choices=("max", "min"), help="larger or smaller is better (default: as the name says)")


def cmd_plot(args: argparse.Namespace) -> int:
    if not args.output.lower().endswith(".png"):
        raise InputError(f"-o {args.output!r}: plots are PNG files; give a path ending in .png")
    store = ParquetResultsStore(args.store)
    if args.plot_kind == "search":
        check_sweeps(store, args.sweeps)
        where = parse_where(args.where, sweep=args.sweeps or None).with_default_status(("completed", "stopped"))
        path = plot_search(select_trials(store, where), args.output, metric=args.metric, goal=args.goal,
                           title=args.title)
        print(path)
        return 0
    if args.sweep is not None:
        check_sweeps(store, [args.sweep])
    where = parse_where(args.where, sweep=args.sweep)
    if args.plot_kind == "metric":
        trials = select_trials(store, where.with_default_status())
        # A searched param is on a log axis when its distribution is (loguniform, log: true).
        sweeps = [args.sweep] if args.sweep else store.sweeps()
        scales = space_scales(text for sweep in sweeps for text in store.read_configs(sweep))
        path = plot_metric(trials, args.x, args.output, metric=args.metric, line=args.line, title=args.title,
                           log_x=scales.get(args.x))
    elif args.plot_kind == "curves":
        curves = learning_curves(store, args.trials, where, metrics=[args.metric])
        path = plot_curves(curves, args.output, metric=args.metric, by=args.by, title=args.title)
    else:
        trials = with_timing_columns(select_trials(store, where.with_default_status()))
        path = plot_time_vs_batch(trials, args.output, seconds=args.seconds, line=args.line, title=args.title)
    print(path)
    return 0
