"""``orch report``: one self-contained HTML page of one or more sweeps."""

from __future__ import annotations

import argparse
import os

from orchestrator.answers import build_report, parse_where
from orchestrator.cli._common import add_store, add_where, check_sweeps
from orchestrator.errors import InputError
from orchestrator.store import ParquetResultsStore

__all__ = ["add_report_parser", "cmd_report"]


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser(
        "report", help="one self-contained HTML page of a sweep (several: compared): what varied, best trials, "
        "parallel coordinates, importance, Pareto front, learning curves, search progress, every trial",
        description="Writes one HTML file with everything inlined (plotly.js and the data): it opens offline, "
        "in any browser, and can be mailed or archived as it is.")
    report.add_argument("sweeps", nargs="*", metavar="SWEEP", help="sweeps to report (default: every sweep)")
    report.add_argument("-o", "--output", required=True, metavar="HTML", help="the file to write, e.g. report.html")
    report.add_argument("--metric", metavar="COL", help="the objective (default: the first sweep's sweep.metric, "
                        "else val_accuracy)")
    report.add_argument("--goal", choices=("max", "min"), help="larger or smaller is better (default: the sweep's goal)")
    add_where(report)
    add_store(report)


def cmd_report(args: argparse.Namespace) -> int:
    if not args.output.lower().endswith((".html", ".htm")):
        raise InputError(f"-o {args.output!r}: a report is an HTML file; give a path ending in .html")
    directory = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(directory):
        raise InputError(f"-o {args.output!r}: no directory {directory!r}; create it or choose another path")
    store = ParquetResultsStore(args.store)
    check_sweeps(store, args.sweeps)
    where = parse_where(args.where, sweep=args.sweeps or None)
    report = build_report(store, args.sweeps or None, metric=args.metric, goal=args.goal, where=where)
    path = report.save(args.output)
    size = os.path.getsize(path) / 1e6
    print(f"wrote {path} ({size:.1f} MB, {report!r}); open it in a browser")
    return 0
