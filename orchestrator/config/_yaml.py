"""Reading YAML text safely, the way people write numbers in experiment files."""

from __future__ import annotations

import re
from typing import Any

import yaml

from orchestrator.errors import ConfigError

__all__ = ["yaml_load"]


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3``, which nobody writes)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def yaml_load(text: str, origin: str) -> Any:
    """Parse ``text``; any YAML problem (syntax, a tag SafeLoader refuses, nesting too deep
    for the parser) is one ConfigError line naming ``origin``."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as e:
        raise ConfigError(f"{origin}: not valid YAML: {' '.join(str(e).split())}") from e
    except (RecursionError, ValueError, OverflowError) as e:  # e.g. "1_0e99999" in an odd spot
        raise ConfigError(f"{origin}: cannot read this YAML ({type(e).__name__}: {e}); simplify the value") from e
