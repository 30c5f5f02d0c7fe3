"""Finding a field of the schema by its dotted path (``training.learning_rate``)."""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any

from orchestrator.config._fields import PARAM_KEY_RE, ParamValue, Range, field_range
from orchestrator.config._sections import SECTIONS

__all__ = ["field_type", "field_spec", "all_fields", "PARAMS_PREFIX", "DATASET_PARAMS_PREFIX"]

# Dotted paths of the builder's own settings: model.params.<key>; and of the loader's
# arguments: dataset.params.<key>.
PARAMS_PREFIX = "model.params."
DATASET_PARAMS_PREFIX = "dataset.params."


@functools.cache
def _hints(section: str) -> dict[str, Any]:
    return typing.get_type_hints(SECTIONS[section])


@functools.cache
def _fields(section: str) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(SECTIONS[section])}


def field_spec(path: str) -> tuple[Any, Range | None]:
    """Declared type and range of a dotted field path; KeyError if there is no such field.
    ``model.params.<key>`` is a field for any key a builder's params may have."""
    for prefix in (PARAMS_PREFIX, DATASET_PARAMS_PREFIX):
        if path.startswith(prefix) and PARAM_KEY_RE.match(path[len(prefix):]):
            return ParamValue, None
    section, _, leaf = path.partition(".")
    if section not in SECTIONS or leaf not in _fields(section):
        raise KeyError(path)
    return _hints(section)[leaf], field_range(_fields(section)[leaf])


def field_type(path: str) -> Any:
    """The declared type of a dotted field path such as ``training.learning_rate``."""
    return field_spec(path)[0]


def all_fields() -> list[str]:
    return [f"{s}.{f}" for s in SECTIONS for f in _fields(s)]
