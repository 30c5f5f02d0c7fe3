"""Results store: where every finished trial is kept (Parquet, via pyarrow).

- ``_base``: the contract every store keeps (:class:`ResultsStore`), and what a "latest run" is
- ``_schema``: the trials and epochs tables' explicit Arrow schemas, rows from a spec and result
- ``_parquet``: Parquet files on any pyarrow filesystem, with compaction; ``_files``: that filesystem
- ``_memory``: the in-memory twin the tests use
- ``_claims``: which driver runs which trial when several drivers share a sweep
"""

from orchestrator.store._claims import DEFAULT_CLAIM_EXPIRY, Claim, ClaimBook, ClaimOutcome
from orchestrator.store._files import open_filesystem, write_atomic
from orchestrator.store._base import Compaction, ResultsStore, StoreError, StoreWarning, latest_per_trial
from orchestrator.store._memory import InMemoryResultsStore
from orchestrator.store._parquet import DEFAULT_STORE, ParquetResultsStore
from orchestrator.store._schema import EPOCHS_SCHEMA, PARAM_COLUMNS, SCHEMA_VERSION, TRIALS_SCHEMA

__all__ = [
    "Claim",
    "ClaimBook",
    "ClaimOutcome",
    "DEFAULT_CLAIM_EXPIRY",
    "ResultsStore",
    "StoreError",
    "StoreWarning",
    "Compaction",
    "latest_per_trial",
    "InMemoryResultsStore",
    "ParquetResultsStore",
    "DEFAULT_STORE",
    "TRIALS_SCHEMA",
    "EPOCHS_SCHEMA",
    "PARAM_COLUMNS",
    "SCHEMA_VERSION",
    "open_filesystem",
    "write_atomic",
]
