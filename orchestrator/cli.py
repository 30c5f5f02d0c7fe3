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


def _cmd_submit(args: argparse.Namespace) -> int:
    # Validate here: a bad config fails now, with exit 2, not later in the job's log.
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


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    command = {"run": _cmd_run, "results": _cmd_results, "submit": _cmd_submit, "jobs": _cmd_jobs}[args.command]
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
