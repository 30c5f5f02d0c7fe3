"""What every subcommand shares: the parser class (usage errors exit 2 with where help is),
the common options, checks on sweep names, and writing a table where ``-o`` says."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import pyarrow as pa

from orchestrator.answers import OUTPUT_FORMATS, write_output
from orchestrator.errors import InputError
from orchestrator.store import DEFAULT_STORE, ParquetResultsStore

__all__ = ["Parser", "names", "flat", "add_store", "add_where", "add_output", "check_sweeps", "output_format",
           "write"]


def names(text: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``: lists on the command line are comma-separated."""
    return [name.strip() for name in text.split(",") if name.strip()]


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        # As click does: the error and where help is, not the whole usage above them (nine
        # lines for `orch results`, which buried the message). Exit 2, as argparse.
        self.exit(2, f"{self.prog}: error: {message}\nTry '{self.prog} --help' for help.\n")


def add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=DEFAULT_STORE, help=f"results store path or URI (default {DEFAULT_STORE})")


def add_where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--where", action="append", default=[], metavar="COND",
                        help="only trials where this holds (repeatable; all must hold): optimizer=adam,sgd "
                        "activation!=sigmoid test_accuracy>=0.98 started_at>=2026-01-01 filters=null")


def add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=OUTPUT_FORMATS,
                        help="table (default), csv, markdown, json, or parquet (needs -o); "
                        "with -o, default: from its suffix (.csv .md .json .parquet)")
    parser.add_argument("-o", "--output", metavar="PATH", help="write to this file instead of printing")


def flat(texts: list[str] | None) -> list[str] | None:
    """Names given as a repeatable option, each maybe comma-separated; None if never given."""
    return None if texts is None else [name for text in texts for name in names(text)]


def check_sweeps(store: ParquetResultsStore, sweeps: Sequence[str]) -> None:
    known = store.sweeps()
    for sweep in sweeps:
        if sweep not in known:
            raise InputError(f"no sweep {sweep!r} in store {store.uri!r} (sweeps there: {', '.join(known) or 'none'}); "
                             "check the name or --store")


_SUFFIXES = {".csv": "csv", ".md": "markdown", ".json": "json", ".parquet": "parquet"}


def output_format(args: argparse.Namespace) -> str:
    """--format, else what -o's suffix says, else an aligned table. Checked before any query runs."""
    fmt = args.format or (args.output and _SUFFIXES.get(os.path.splitext(args.output)[1].lower())) or "table"
    if fmt == "parquet" and not args.output:
        raise InputError("--format parquet writes a file: add -o PATH, e.g. -o results.parquet")
    return fmt


def write(table: pa.Table, fmt: str, path: str | None) -> None:
    try:
        text = write_output(table, fmt, path)
    except OSError as e:
        raise InputError(f"cannot write {path!r} ({e.strerror or e}); choose another path with -o") from None
    if text is None:
        print(f"wrote {table.num_rows} rows ({fmt}) to {path}", file=sys.stderr)
    else:
        print(text)
