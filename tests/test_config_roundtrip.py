"""What the store keeps of an experiment (``configs/<sweep>/<hash>.yaml``, written from
``Experiment.to_dict``) must read back as the same experiment: users copy it to re-run a
sweep, and the report shows it. Every field is written, defaults included, so a default the
parser would refuse as user input (``stopping.rungs: []``, ``sweep.seeds`` none given) once
made every stored experiment unreadable."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.config import load_experiment, parse_experiment

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*ROOT.glob("configs/*.yaml"), *ROOT.glob("examples/*.yaml")])


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_stored_experiment_reads_back_as_itself(path: Path) -> None:
    experiment = load_experiment(path)
    stored = yaml.safe_load(yaml.safe_dump(experiment.to_dict(), sort_keys=False))
    assert parse_experiment(stored, origin="stored") == experiment


def test_no_seeds_is_stored_as_null_and_listed_seeds_as_they_are() -> None:
    plain = parse_experiment({"name": "a", "training": {"epochs": 1}}, origin="x")
    seeded = parse_experiment({"name": "a", "sweep": {"seeds": [3, 1]}}, origin="x")
    assert plain.to_dict()["sweep"]["seeds"] is None
    assert seeded.to_dict()["sweep"]["seeds"] == [3, 1]


def test_a_field_at_its_default_is_taken_but_a_wrong_type_is_still_refused() -> None:
    from orchestrator.errors import ConfigError

    assert parse_experiment({"name": "a", "stopping": {"rungs": []}}, origin="x").stopping.rungs == []
    with pytest.raises(ConfigError, match="stopping.rungs"):
        parse_experiment({"name": "a", "stopping": {"rungs": ["x"]}}, origin="x")
    with pytest.raises(ConfigError, match="sweep.seeds: the list is empty"):
        parse_experiment({"name": "a", "sweep": {"seeds": []}}, origin="x")
