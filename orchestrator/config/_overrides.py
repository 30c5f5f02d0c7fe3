"""``--set KEY=VALUE`` overrides and replacing fields of a validated experiment."""

from __future__ import annotations

from typing import Any

from orchestrator.config._sections import Experiment
from orchestrator.config._yaml import yaml_load
from orchestrator.errors import ConfigError

__all__ = ["parse_override", "set_dotted", "with_overrides", "replace_fields"]


def parse_override(item: str) -> tuple[str, Any]:
    """``"training.epochs=1"`` -> ``("training.epochs", 1)``; the value is read as YAML."""
    key, sep, value = item.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not sep or not key or any(not p.strip() for p in parts):
        raise ConfigError(
            f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. --set training.epochs=1"
        )
    return key, yaml_load(value, f"--set {key}")


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """Put ``value`` at the dotted ``key`` of a raw (not yet validated) experiment mapping."""
    parts = key.split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"--set {key}: {where} is not a section, so it has no field {parts[i + 1]!r}")
        node = child
    node[parts[-1]] = value


def with_overrides(experiment: Experiment, values: dict[str, Any]) -> Experiment:
    """A copy of ``experiment`` with dotted fields replaced (values already validated)."""
    by_section: dict[str, dict[str, Any]] = {}
    params: dict[str, dict[str, Any]] = {}
    for path, value in values.items():
        section, _, leaf = path.partition(".")
        if section in ("model", "dataset") and leaf.startswith("params."):  # one key of the builder's (loader's) params
            params.setdefault(section, {})[leaf[len("params."):]] = value
            continue
        by_section.setdefault(section, {})[leaf] = value
    for section, keys in params.items():
        fields = by_section.setdefault(section, {})
        fields["params"] = {**fields.get("params", getattr(experiment, section).params), **keys}
    changes = {section: replace_fields(getattr(experiment, section), fields) for section, fields in by_section.items()}
    return replace_fields(experiment, changes)


def replace_fields(config: Any, changes: dict[str, Any]) -> Any:
    """``dataclasses.replace`` for values already validated, ~8x faster: planning a large
    sweep makes several copies per trial. The sections have no ``__post_init__`` to skip."""
    if not changes:
        return config
    copy = object.__new__(type(config))
    copy.__dict__.update(config.__dict__)
    for key, value in changes.items():
        if key not in copy.__dict__:
            raise TypeError(f"{type(config).__name__} has no field {key!r}")
        object.__setattr__(copy, key, value)
    return copy
