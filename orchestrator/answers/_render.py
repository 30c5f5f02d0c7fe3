"""Rendering rows (or Arrow tables) as an aligned table, CSV, Markdown or JSON, or writing
them to a Parquet file."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import uuid
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["FORMATS", "OUTPUT_FORMATS", "render", "render_table", "write_output"]

FORMATS = ("table", "csv", "markdown", "json")  # text
OUTPUT_FORMATS = (*FORMATS, "parquet")  # parquet goes to a file


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.3g}"  # a learning rate of 1e-5 is not 0.0000
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def render(columns: list[str], rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([{c: _json_value(r[c]) for c in columns} for r in rows], indent=1)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([["" if r[c] is None else r[c] for c in columns] for r in rows])
        return out.getvalue().rstrip("\n")
    cells = [[_cell(r[c]) for c in columns] for r in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        return "\n".join(lines)
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    numeric = [all(_is_number(r[c]) for r in rows) and rows for c in columns]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(row) for row in cells)])


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def render_table(table: pa.Table, fmt: str) -> str:
    """An Arrow table (a query's answer) as text in one of ``FORMATS``."""
    if fmt == "parquet":
        raise ValueError("parquet is binary: write it to a file with write_output(table, 'parquet', path)")
    return render(table.column_names, table.to_pylist(), fmt)


def write_output(table: pa.Table, fmt: str, path: str | None = None) -> str | None:
    """``table`` in ``fmt`` (one of ``OUTPUT_FORMATS``): returned as text when ``path`` is
    None, else written to ``path`` (atomically: a reader never sees half a file) and None
    returned. Parquet keeps the column types, so the file reads back as the same table."""
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(OUTPUT_FORMATS)}")
    if path is None:
        if fmt == "parquet":
            raise ValueError("parquet output needs a file path (e.g. --output results.parquet)")
        return render_table(table, fmt)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}-{os.path.basename(path)}")
    try:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        else:
            with open(tmp, "w", encoding="utf-8") as out:
                out.write(render_table(table, fmt) + "\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return None
