"""SQL over the results store with DuckDB (an optional extra: ``pip install "tf-orchestrator[sql]"``).

Three views, read through the store (so SQL sees exactly what the query API sees: each row
once even during a compaction, damaged files skipped with a warning, columns older files
lack as NULL, epochs of interrupted writes hidden):

- ``trials``: every run of every trial (``TRIALS_SCHEMA``);
- ``latest_trials``: each trial's result, as ``orch results`` shows them (a final run before a
  later failed one, else the latest: ``orchestrator.store.latest_per_trial``);
- ``epochs``: per-epoch rows, joined to ``trials`` on ``run_id`` (read only when the query
  mentions it).

The views live in an in-memory DuckDB: no statement can change the store.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from orchestrator.errors import InputError
from orchestrator.store import ResultsStore

__all__ = ["SQL_EXTRA_HINT", "SqlError", "run_sql"]

SQL_EXTRA_HINT = 'pip install "tf-orchestrator[sql]"'

_LATEST = """
CREATE VIEW latest_trials AS
SELECT * EXCLUDE (_rank) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY sweep, trial_id ORDER BY status = 'failed', ended_at DESC, started_at DESC, run_id DESC
    ) AS _rank FROM trials
) WHERE _rank = 1
"""


class SqlError(InputError):
    """DuckDB is missing, or it rejected the statement; the message is DuckDB's first line."""


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:
        raise SqlError(f"SQL queries need DuckDB, an optional extra: {SQL_EXTRA_HINT}") from None
    return duckdb


def run_sql(store: ResultsStore, query: str, sweep: str | None = None) -> pa.Table:
    """The result of ``query`` (e.g. ``SELECT optimizer, avg(test_accuracy) FROM latest_trials
    GROUP BY ALL``) over the store's tables (of one sweep, if given), as an Arrow table."""
    duckdb = _duckdb()
    connection = duckdb.connect(":memory:")
    try:
        connection.register("trials", store.read_trials(sweep))
        connection.execute(_LATEST)
        if re.search(r"\bepochs\b", query, re.IGNORECASE):  # a trials column has this name too: harmless
            connection.register("epochs", store.read_epochs(sweep))
        # No file access from SQL: COPY ... TO cannot write into the store, read_csv cannot
        # wander off; the views above are all there is.
        connection.execute("SET enable_external_access = false")
        try:
            relation = connection.sql(query)
            if relation is None:
                raise SqlError("the statement returned no rows; run a SELECT over trials, latest_trials or epochs")
            # DuckDB 1.4+ names it to_arrow_table; earlier versions fetch_arrow_table.
            fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
            return fetch()
        except duckdb.Error as e:
            raise SqlError(f"{str(e).strip().splitlines()[0]} (tables: trials, latest_trials, epochs)") from None
    finally:
        connection.close()
