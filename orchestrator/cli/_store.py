"""``orch sql`` and ``orch compact``: SQL over the store, and merging its small files."""

from __future__ import annotations

import argparse
import sys

from orchestrator.answers import run_sql
from orchestrator.cli._common import add_output, add_store, check_sweeps, output_format, write
from orchestrator.store import ParquetResultsStore

__all__ = ["add_store_parsers", "cmd_sql", "cmd_compact"]


def add_store_parsers(sub: argparse._SubParsersAction) -> None:
    sql = sub.add_parser("sql", help="run an SQL query over the store (DuckDB: the [sql] extra)",
                         description="SQL over the views trials (every run), latest_trials (one row per trial) "
                         "and epochs (join on run_id). Nothing can write to the store.")
    sql.add_argument("query", help='e.g. "SELECT optimizer, avg(test_accuracy) FROM latest_trials GROUP BY ALL"')
    sql.add_argument("--sweep", help="only this sweep's rows in the views (default: every sweep)")
    add_store(sql)
    add_output(sql)

    compact = sub.add_parser("compact", help="merge each sweep's many small files into one (answers stay the same)")
    compact.add_argument("sweeps", nargs="*", metavar="SWEEP", help="sweeps to compact (default: every sweep)")
    add_store(compact)


def cmd_sql(args: argparse.Namespace) -> int:
    fmt = output_format(args)
    store = ParquetResultsStore(args.store)
    if args.sweep is not None:
        check_sweeps(store, [args.sweep])
    write(run_sql(store, args.query, args.sweep), fmt, args.output)
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    store = ParquetResultsStore(args.store)
    check_sweeps(store, args.sweeps)
    if not store.sweeps():
        print(f"store {args.store!r} has no sweeps; nothing to compact", file=sys.stderr)
        return 0
    report = store.compact(args.sweeps or None)
    print(f"compacted {', '.join(args.sweeps) or 'every sweep'}: {report}", file=sys.stderr)
    return 0
