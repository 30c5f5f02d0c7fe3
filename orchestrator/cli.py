"""``orch``: a thin shell over the Python API. Each subcommand parses, calls one function,
prints, and returns an exit code: 0 ok, 1 runtime failure, 2 bad input, 130 interrupted."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from orchestrator.config import load_experiment
from orchestrator.errors import InputError, SweepAborted
from orchestrator.progress import progress_for
from orchestrator.report import FORMATS, render
from orchestrator.results import result_rows
from orchestrator.runner import run_experiment
from orchestrator.store import DEFAULT_STORE, ParquetResultsStore

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; add the hint click gives
        self.print_usage(sys.stderr)
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
    run.add_argument("--address", help="join this Ray cluster (auto, HOST:PORT) instead of starting a local one")
    run.add_argument("--rerun", action="store_true", help="run trials again even if their results are stored")

    res = sub.add_parser("results", help="print the results of a sweep (or of all sweeps)")
    res.add_argument("sweep", nargs="?", help="sweep name (default: every sweep in the store)")
    res.add_argument("--store", default=DEFAULT_STORE, help=f"results store path or URI (default {DEFAULT_STORE})")
    res.add_argument("--per", choices=("trial", "config"), default="trial",
                     help="one row per trial, or per config with mean/std over seeds")
    res.add_argument("--sort", help="column to sort by (default: test accuracy, best first)")
    res.add_argument("--ascending", action="store_true", help="sort smallest first")
    res.add_argument("--format", choices=FORMATS, default="table")
    res.add_argument("--all-params", action="store_true", help="show every param, not only those that vary")
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    experiment = load_experiment(args.config, overrides=args.overrides, name=args.name)
    store = ParquetResultsStore(args.store)
    summary = run_experiment(
        experiment, store, rerun=args.rerun, address=args.address, progress=progress_for(sys.stderr)
    )
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


def _cmd_results(args: argparse.Namespace) -> int:
    store = ParquetResultsStore(args.store)
    if args.sweep is not None and args.sweep not in store.sweeps():
        known = ", ".join(store.sweeps()) or "none"
        raise InputError(f"no sweep {args.sweep!r} in store {args.store!r} (sweeps there: {known}); check the name or --store")
    try:
        columns, rows = result_rows(
            store, args.sweep, per=args.per, sort=args.sort,
            descending=False if args.ascending else None, all_params=args.all_params,
        )
    except KeyError as e:
        raise InputError(f"--sort {e.args[0]!r}: not a column here; choose one of the columns shown by `orch results`") from None
    if not rows and args.format == "table":
        print(f"no results in store {args.store!r} yet; run a sweep with `orch run CONFIG`", file=sys.stderr)
        return 0
    print(render(columns, rows, args.format))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    command = {"run": _cmd_run, "results": _cmd_results}[args.command]
    try:
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


if __name__ == "__main__":
    sys.exit(main())
