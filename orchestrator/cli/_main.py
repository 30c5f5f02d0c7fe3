"""``orch``: a thin shell over the Python API. Each subcommand parses, calls one function,
prints, and returns an exit code: 0 ok, 1 runtime failure, 2 bad input, 130 interrupted.

One module per family of subcommands: ``_run`` (run, submit, jobs), ``_results``, ``_plot``,
``_report``, ``_store`` (sql, compact), ``_tensorboard``; ``_common`` holds what they share. This module assembles the
parser and turns every error into one line and an exit code."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from orchestrator.cli._common import Parser
from orchestrator.cli._plot import add_plot_parser, cmd_plot
from orchestrator.cli._report import add_report_parser, cmd_report
from orchestrator.cli._results import add_results_parser, cmd_results
from orchestrator.cli._run import add_run_parsers, cmd_jobs, cmd_run, cmd_submit
from orchestrator.cli._store import add_store_parsers, cmd_compact, cmd_sql
from orchestrator.cli._tensorboard import add_tensorboard_parser, cmd_tensorboard
from orchestrator.errors import InputError, SweepAborted
from orchestrator.store import StoreWarning

__all__ = ["main", "crash_log_dir"]


def _build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="orch", description="TensorFlow hyper-parameter sweeps on Ray, results in Parquet.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_run_parsers(sub)
    add_results_parser(sub)
    add_plot_parser(sub)
    add_report_parser(sub)
    add_store_parsers(sub)
    add_tensorboard_parser(sub)
    return parser


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


_COMMANDS = {"run": cmd_run, "results": cmd_results, "submit": cmd_submit, "jobs": cmd_jobs,
             "plot": cmd_plot, "report": cmd_report, "sql": cmd_sql, "compact": cmd_compact,
             "tensorboard": cmd_tensorboard}


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
