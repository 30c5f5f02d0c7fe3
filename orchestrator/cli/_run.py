"""``orch run``, ``orch submit`` and ``orch jobs``: a sweep here, a sweep as a Ray job, the
jobs of a cluster. Ray is imported only when a sweep runs (DESIGN.md)."""

from __future__ import annotations

import argparse
import sys

from orchestrator.address import parse_address
from orchestrator.answers import render, result_rows
from orchestrator.cli._common import Parser
from orchestrator.config import load_experiment
from orchestrator.driver import run_experiment
from orchestrator.progress import LogProgress, StartupPhases, progress_for
from orchestrator.store import DEFAULT_STORE, ParquetResultsStore

__all__ = ["add_run_parsers", "cmd_run", "cmd_submit", "cmd_jobs"]


def add_run_parsers(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run every trial of an experiment file not yet in the store")
    run.add_argument("config", help="experiment YAML file, e.g. configs/quickstart.yaml")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a field by its dotted YAML path, e.g. --set training.epochs=1 (repeatable)")
    run.add_argument("--name", help="sweep name (default: the file's name: field, else its file name)")
    run.add_argument("--store", default=DEFAULT_STORE, help=f"results store path or URI (default {DEFAULT_STORE})")
    run.add_argument("--address", help="join this Ray cluster (auto, or HOST:PORT of the head node's GCS) "
                     "instead of starting a local one (default: $RAY_ADDRESS if set)")
    run.add_argument("--rerun", action="store_true", help="run trials again even if their results are stored")
    run.add_argument("--verbose", "-v", action="store_true",
                     help="log lines for every event (epochs included), one line per start-up phase with its "
                     "seconds, and Ray's and TensorFlow's own output")

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
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True, parser_class=Parser)
    for verb, text in (("list", "every job of the cluster"), ("logs", "print a job's log"), ("stop", "stop a job")):
        p = jobs_sub.add_parser(verb, help=text)
        if verb != "list":
            p.add_argument("job_id", help="the id `orch submit` printed (raysubmit_...)")
        p.add_argument("--address", required=True, help="the head node's dashboard URL, e.g. http://HEAD:8265")
        if verb == "logs":
            p.add_argument("--follow", "-f", action="store_true",
                           help="print the log as it grows until the job ends; exit 0 only if it succeeded")


def cmd_run(args: argparse.Namespace) -> int:
    if args.address is not None:
        parse_address(args.address, "cluster")  # before anything slow: a typo fails at once
    # --verbose: log lines even on a terminal (as orch.run(verbose=True)), where a live view
    # would repaint over them. `!orch run` in a notebook is a subprocess: lines too.
    progress = LogProgress(sys.stderr) if args.verbose else progress_for(sys.stderr, notebook=False)
    # Counted from this process's start: the imports are part of what `orch run` costs.
    phases = StartupPhases.from_process_start(progress.note if args.verbose else None)
    # every grid point is checked: a big grid takes a while
    with progress.step(f"checking {args.config}..."), phases.phase("checking the experiment file"):
        experiment = load_experiment(args.config, overrides=args.overrides, name=args.name)
    store = ParquetResultsStore(args.store)
    summary = run_experiment(experiment, store, rerun=args.rerun, address=args.address, progress=progress,
                             verbose=args.verbose, phases=phases)
    print(
        f"sweep {summary.sweep}: {summary.completed} completed, {summary.stopped} stopped early, {summary.failed} failed, "
        f"{summary.skipped} already stored, {summary.retries} retries; "
        f"{summary.wall_seconds:.1f}s ({summary.sweep_seconds:.1f}s running trials) on {summary.trainers} trainers",
        file=sys.stderr,
    )
    columns, rows = result_rows(store, summary.sweep)
    print(render(columns, rows, "table"))
    print(f"\nresults: orch results {summary.sweep} --store {args.store}", file=sys.stderr)
    return 1 if summary.failed else 0


def cmd_submit(args: argparse.Namespace) -> int:
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


def cmd_jobs(args: argparse.Namespace) -> int:
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
