"""Write docs/reference-results.md from a results store: for each shipped config that
reproduces a reference workload (a `# Reference:` comment at its top), the reference
result next to what `orch` measured here (best test accuracy, its epochs and time, the
sweep's wall time). Nothing in the document is typed by hand.

    python benchmarks/reference_results.py --store ./orch-results [--out docs/reference-results.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from orchestrator.config import load_experiment  # noqa: E402
from orchestrator.answers import render  # noqa: E402
from orchestrator.store import ParquetResultsStore, latest_per_trial  # noqa: E402
from orchestrator.plan import expand_sweep  # noqa: E402


def reference_of(path: Path) -> str | None:
    """The `# Reference: ...` comment block at the top of a config, as one line."""
    lines, inside = [], False
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text.startswith("Reference:"):
            inside, text = True, text[len("Reference:"):].strip()
        elif inside and (not text or text.endswith(":") or text.startswith(("Here", "orch ", "By hand"))):
            break
        if inside and text:
            lines.append(text)
    return " ".join(lines) or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="./orch-results")
    parser.add_argument("--out", default=str(REPO / "docs" / "reference-results.md"))
    args = parser.parse_args()
    store = ParquetResultsStore(args.store)

    rows = []
    for path in sorted((REPO / "configs").glob("*.yaml")):
        reference = reference_of(path)
        if reference is None:
            continue
        experiment = load_experiment(path)
        # Only trials of the config as it is now (an edited config's older runs keep the name).
        ids = {spec.trial_id for spec in expand_sweep(experiment)}
        trials = [
            t for t in latest_per_trial(store.read_trials(experiment.name)).to_pylist()
            if t["status"] == "completed" and t["trial_id"] in ids
        ]
        row = {"config": f"configs/{path.name}", "reference": reference, "trials": len(trials)}
        if trials:
            best = max(trials, key=lambda t: t["test_accuracy"])
            wall = max(t["ended_at"] for t in trials) - min(t["started_at"] for t in trials)
            row.update(
                best_test_accuracy=f"{100 * best['test_accuracy']:.2f}%",
                model=best["model"],
                epochs=best["epochs_run"],
                trial_minutes=f"{best['total_seconds'] / 60:.1f}",
                sweep_wall_minutes=f"{wall.total_seconds() / 60:.1f}",
            )
        rows.append(row)
    columns = ["config", "reference", "trials", "model", "best_test_accuracy", "epochs", "trial_minutes", "sweep_wall_minutes"]
    for row in rows:
        for column in columns:
            row.setdefault(column, None)
    header = (
        "# Reference workloads: the original result vs `orch`\n\n"
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `python benchmarks/reference_results.py "
        f"--store {args.store}` from the results store (not typed by hand). Machine: {os.cpu_count()} CPU cores, "
        f"no GPU, {platform.python_implementation()} {platform.python_version()}.\n"
        "A row without numbers has not been run into that store yet: `orch run CONFIG` runs it.\n\n"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + render(columns, rows, "markdown") + "\n")
    print(f"wrote {out} ({sum(1 for r in rows if r['trials'])}/{len(rows)} workloads measured)")


if __name__ == "__main__":
    main()
