"""Reading an experiment: a YAML file (or a plain mapping) and ``--set`` overrides in,
a validated :class:`Experiment` out, or one :class:`ConfigError` line naming the key and
the fix. Nothing runs, and nothing is written, on bad input."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from orchestrator.config._fields import coerce_field, reject_unknown
from orchestrator.config._lookup import field_spec
from orchestrator.config._overrides import parse_override, set_dotted
from orchestrator.config._rules import check_experiment
from orchestrator.config._sections import SECTIONS, Experiment
from orchestrator.config._sweep import check_sweep_size, parse_sweep
from orchestrator.config._yaml import yaml_load
from orchestrator.errors import ConfigError
from orchestrator.usercode import absolute_builder

__all__ = ["load_experiment", "parse_experiment", "resolve_data_paths", "TOP_LEVEL"]

TOP_LEVEL = ("name", "description", *SECTIONS, "sweep")
# A file must hold at least one section: with only a name it says nothing about what to run.
_EXPERIMENT_SECTIONS = (*SECTIONS, "sweep")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def load_experiment(
    path: str | Path, overrides: list[str] | tuple[str, ...] = (), name: str | None = None
) -> Experiment:
    """Read an experiment file, apply ``--set`` style overrides, validate everything.

    The sweep's name is the file's ``name``, else the file's stem; ``name`` replaces both.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such experiment file; check the path") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; give an experiment file such as {path}/experiment.yaml") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a text file (byte {e.start} is not UTF-8); give a YAML experiment file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read experiment file: {e.strerror}") from e
    raw = yaml_load(text, str(path))
    if raw is None or raw == {}:
        raise ConfigError(
            f"{path}: the file has no experiment in it; give at least a dataset:, model:, training: "
            "or sweep: section (see configs/quickstart.yaml)"
        )
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping of sections ({', '.join(TOP_LEVEL)}), "
            f"got {type(raw).__name__}"
        )
    reject_unknown(raw, TOP_LEVEL, where="", origin=str(path))
    if not any(key in raw for key in _EXPERIMENT_SECTIONS):
        raise ConfigError(
            f"{path}: no experiment in it (only {', '.join(map(str, raw))}); add at least one of "
            "dataset:, model:, training:, sweep: (see configs/quickstart.yaml)"
        )
    raw.setdefault("name", path.stem)
    for item in overrides:
        key, value = parse_override(item)
        set_dotted(raw, key, value)
    if name is not None:
        raw["name"] = name
    absolute_paths(raw, path.parent)
    # Data paths, the file's and --set's alike: against the file's directory (as model.builder).
    raw = resolve_data_paths(raw, path.resolve().parent)
    return parse_experiment(raw, origin=str(path))


def parse_experiment(raw: dict[str, Any], origin: str = "<config>") -> Experiment:
    """Validate a plain mapping (as read from YAML) into an :class:`Experiment`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a mapping of sections ({', '.join(TOP_LEVEL)}), got {type(raw).__name__}")
    reject_unknown(raw, TOP_LEVEL, where="", origin=origin)
    raw = dict(raw)
    absolute_paths(raw, Path.cwd())  # a mapping's relative paths (the Python API): from where Python runs
    raw = resolve_data_paths(raw, Path.cwd())
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(
            f"{origin}: name: expected 1-100 letters, digits, '_', '-' or '.', got {name!r}"[:200]
            + "; set name: in the file or pass --name"
        )
    description = raw.get("description", "")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise ConfigError(f"{origin}: description: expected text, got {type(description).__name__}")
    sections = {key: _parse_section(cls, raw.get(key), key, origin) for key, cls in SECTIONS.items()}
    sweep = parse_sweep(raw.get("sweep"), origin)
    check_sweep_size(sweep, origin)
    experiment = Experiment(name=name, description=description, sweep=sweep, **sections)
    check_experiment(experiment, origin)
    return experiment


def absolute_paths(raw: dict[str, Any], base_dir: Path) -> None:
    """Make a relative ``model.builder`` file path absolute against ``base_dir``, in place;
    and with a builder, ``model.name`` (a built-in's) is null unless the user gave it."""
    model = raw.get("model")
    if isinstance(model, dict) and model.get("builder") is not None:
        # A new mapping: a caller's dict (Python API) is left as it was.
        raw["model"] = {"name": None, **model, "builder": absolute_builder(model["builder"], base_dir)}
    training = raw.get("training")
    if isinstance(training, dict) and ("loss" in training or isinstance(training.get("metrics"), list)):
        # The user's loss and metric files, as builders: relative to the experiment file.
        training = {**training}
        if "loss" in training:
            training["loss"] = absolute_builder(training["loss"], base_dir)
        if isinstance(training.get("metrics"), list):
            training["metrics"] = [absolute_builder(m, base_dir) for m in training["metrics"]]
        raw["training"] = training


def _parse_section(cls: type, raw: Any, where: str, origin: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: {where}: expected a mapping of fields, got {type(raw).__name__}")
    reject_unknown(raw, tuple(f for f in _field_names(cls)), where, origin)
    defaults = _field_defaults(cls)
    values = {}
    for key, value in raw.items():
        if key in defaults and _same(value, defaults[key]):
            # A field given its own default is taken as is: what a stored experiment writes
            # (every field, ``rungs: []`` included) must read back, though a user typing an
            # empty list where one is required is still told so.
            values[key] = defaults[key]
            continue
        hint, rng = field_spec(f"{where}.{key}")
        values[key] = coerce_field(hint, value, f"{where}.{key}", origin, rng)
    return cls(**values)


def _same(value: Any, default: Any) -> bool:
    # Types too: YAML's 1 must still go through coercion where the default is 1.0 or True.
    return type(value) is type(default) and value == default


def _field_defaults(cls: type) -> dict[str, Any]:
    import dataclasses

    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


# --- the user's data: where its relative paths point ---------------------------------------
# The dataset is loaded in a Ray worker whose working directory is not the user's, so every
# path to data or to a loader file is made absolute here, in the driver, once.
_DATA_PATH_FIELDS = ("path", "loader")


def resolve_data_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """``raw`` with ``dataset.path`` and the file of a ``dataset.loader: "file.py:function"``
    made absolute against ``base`` (in the dataset section and in sweep axes over them), and
    ``dataset.name: loader`` filled in when a loader is given without a name. Absolute
    paths, ``module:function`` loaders and values of the wrong type are left alone (the
    schema reports those). ``raw`` itself is not changed."""
    raw = dict(raw)
    dataset = raw.get("dataset")
    if isinstance(dataset, dict):
        dataset = raw["dataset"] = dict(dataset)
        for key in _DATA_PATH_FIELDS:
            if isinstance(dataset.get(key), str):
                dataset[key] = _absolute(key, dataset[key], base)
        if dataset.get("loader") is not None and "name" not in dataset:
            dataset["name"] = "loader"
    sweep = raw.get("sweep")
    grid = sweep.get("grid") if isinstance(sweep, dict) else None
    if isinstance(grid, dict):
        grid = dict(grid)
        for key in _DATA_PATH_FIELDS:
            values = grid.get(f"dataset.{key}")
            if isinstance(values, list):
                grid[f"dataset.{key}"] = [_absolute(key, v, base) if isinstance(v, str) else v for v in values]
        raw["sweep"] = {**sweep, "grid": grid}
    return raw


def _absolute(key: str, value: str, base: Path) -> str:
    if key == "loader":
        file, sep, function = value.rpartition(":")
        if not sep or not file.endswith(".py"):
            return value  # module:function, imported by name
        return f"{_absolute('path', file, base)}:{function}"
    path = Path(value).expanduser()
    return value if not value.strip() else os.path.normpath(path if path.is_absolute() else base / path)


def _field_names(cls: type) -> list[str]:
    import dataclasses

    return [f.name for f in dataclasses.fields(cls)]
