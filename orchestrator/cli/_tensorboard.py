"""``orch tensorboard SWEEP``: TensorBoard on a sweep's event files, wherever the store is.

A local or mounted store is read in place. For any other store (``s3://``, ...) the event
files are copied into a local cache first (only new or grown ones, so running it again
during a sweep fetches what was added), because TensorBoard's own S3 support is gone from
recent releases; ``gs://`` it reads natively, but the cache works the same there."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from orchestrator.answers import sync_tensorboard
from orchestrator.cli._common import add_store
from orchestrator.errors import InputError
from orchestrator.store import ParquetResultsStore

__all__ = ["add_tensorboard_parser", "cmd_tensorboard"]

_DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "orch" / "tensorboard"


def add_tensorboard_parser(sub: argparse._SubParsersAction) -> None:
    tb = sub.add_parser("tensorboard", help="TensorBoard on a sweep's logs (from a local, NFS or s3:// store)",
                        description="Copies the sweep's event files from a remote store into a local cache "
                        "(new and grown files only), then starts TensorBoard on them.")
    tb.add_argument("sweep", metavar="SWEEP")
    tb.add_argument("--cache", metavar="DIR", default=str(_DEFAULT_CACHE),
                    help=f"where a remote store's event files are copied (default {_DEFAULT_CACHE})")
    tb.add_argument("--port", type=int, default=6006, help="TensorBoard's port (default 6006)")
    tb.add_argument("--sync-only", action="store_true", help="copy the files and print the directory; "
                    "do not start TensorBoard")
    add_store(tb)


def cmd_tensorboard(args: argparse.Namespace) -> int:
    store = ParquetResultsStore(args.store)
    logdir, copied = sync_tensorboard(store, args.sweep, Path(args.cache))
    print(f"{args.sweep}: TensorBoard logs in {logdir}" + (f" ({copied} files fetched)" if copied else ""))
    if args.sync_only:
        return 0
    program = shutil.which("tensorboard") or shutil.which("tensorboard", path=os.path.dirname(sys.executable))
    if program is None:
        raise InputError("tensorboard is not installed in this environment; pip install tensorboard "
                         f"(or run it yourself: tensorboard --logdir {logdir})")
    os.execv(program, [program, "--logdir", str(logdir), "--port", str(args.port)])
    return 0  # not reached: TensorBoard replaces this process
