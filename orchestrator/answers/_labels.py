"""Words and numbers for plots and reports: short number formats, labels that name only
what varies, log scale when values span decades, plurals that agree with their count."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["space_scales", "short", "plural", "words", "config_labels", "spans_decades", "is_number"]


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def short(value: Any, digits: int = 3) -> str:
    """A value as a person writes it: ``0.0018107254066631083`` -> ``0.00181``, ``1e-05``,
    ``128``, ``0.5``; text as it is; lists as ``[6, 16]``."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value == int(value) and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.{digits}g}"
    if isinstance(value, list):
        return "[" + ", ".join(short(v, digits) for v in value) + "]"
    return str(value)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``plural(1, "trial")`` -> ``"1 trial"``, ``plural(3, "trial")`` -> ``"3 trials"``."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def words(column: str) -> str:
    return column.replace("_", " ")


def spans_decades(values: Sequence[Any]) -> bool:
    """Positive numbers spanning a factor of ten or more (learning rates, batch sizes): a log axis."""
    numbers = [v for v in values if is_number(v)]
    return bool(numbers) and len(numbers) == len(values) and min(numbers) > 0 and max(numbers) / min(numbers) >= 10


def config_labels(keys: Sequence[str], configs: Sequence[Sequence[Any]]) -> list[str]:
    """One short label per config: only the keys whose values differ between the configs,
    values rounded (``lr=0.00181, batch=64``); "all trials" when nothing differs."""
    varying = [i for i, _ in enumerate(keys) if len({repr(c[i]) for c in configs}) > 1]
    labels = []
    for config in configs:
        parts = [f"{_abbreviation(keys[i])}={short(config[i])}" for i in varying]
        labels.append(", ".join(parts) or "all trials")
    return labels


_ABBREVIATIONS = {"learning_rate": "lr", "batch_size": "batch", "activation": "act", "optimizer": "opt"}


def _abbreviation(key: str) -> str:
    return _ABBREVIATIONS.get(key, key)


def space_scales(configs: Iterable[str]) -> dict[str, bool]:
    """Param column -> drawn on a log scale, for the params of the sweeps' search spaces."""
    import yaml

    scales: dict[str, bool] = {}
    for text in configs:
        try:
            space = ((yaml.safe_load(text) or {}).get("sweep") or {}).get("space") or {}
        except (yaml.YAMLError, AttributeError):
            continue
        for path, distribution in space.items():
            if isinstance(distribution, dict):
                parts = str(path).split(".")
                column = f"model_{parts[-1]}" if parts[:2] == ["model", "params"] else parts[-1]
                log = "loguniform" in distribution or bool(distribution.get("log"))
                scales[column] = scales.get(column, False) or log
    return scales
