"""Answers: questions over the results store, as Arrow tables, and the forms they are shown in.

Every question takes and returns ``pyarrow.Table`` (Arrow compute, no loops over rows):

- ``_where``: which trials (``--where`` conditions, typed and checked)
- ``_query``: select, aggregate over seeds or groups, best, pivot
- ``_compare``, ``_curves``, ``_timing``: two sweeps side by side, learning curves, where the time went
- ``_tables``: the tables ``orch results`` prints (per trial, per config)
- ``_pareto``: the trade-offs between metrics
- ``_sql``: SQL over the store (DuckDB, an optional extra)
- ``_render``: tables as text, CSV, Markdown, JSON or Parquet; ``_plots``: PNG plots (matplotlib,
  imported only when a plot is drawn); ``_labels``: short numbers, labels and plurals for both
- ``_importance``: hyperparameter importance (Optuna's evaluators over an in-memory study)
- ``_artifacts``: what trainers left beside the results (saved models, TensorBoard logs), from any store
- ``_report``: ``orch report``, one self-contained HTML page (``_report_data`` gathers what it
  shows, ``_report_figures`` draws it with Plotly, imported only when a report is made)
"""

from orchestrator.answers._artifacts import load_model, model_path, sync_tensorboard
from orchestrator.answers._compare import compare_sweeps, sweep_differences
from orchestrator.answers._curves import curve_stats, learning_curves
from orchestrator.answers._pareto import Objective, pareto_front, parse_objectives
from orchestrator.answers._plots import (
    DPI,
    FIGURE_SIZE,
    best_so_far,
    plot_curves,
    plot_metric,
    plot_search,
    plot_time_vs_batch,
)
from orchestrator.answers._importance import Importance, param_importance
from orchestrator.answers._query import STATS, aggregate, best, higher_is_better, pivot, select_trials, varying_params
from orchestrator.answers._report import Report, build_report
from orchestrator.answers._render import FORMATS, OUTPUT_FORMATS, render, render_table, write_output
from orchestrator.answers._sql import SQL_EXTRA_HINT, SqlError, run_sql
from orchestrator.answers._tables import SHOWN_METRICS, result_rows, results_table
from orchestrator.answers._timing import TIMING_TABLE_COLUMNS, timing, with_timing_columns
from orchestrator.answers._where import Condition, QueryError, Where, check_column, parse_where

__all__ = [
    "load_model",
    "model_path",
    "sync_tensorboard",
    "QueryError",
    "Condition",
    "Where",
    "parse_where",
    "check_column",
    "STATS",
    "select_trials",
    "varying_params",
    "aggregate",
    "best",
    "pivot",
    "higher_is_better",
    "sweep_differences",
    "compare_sweeps",
    "learning_curves",
    "curve_stats",
    "TIMING_TABLE_COLUMNS",
    "timing",
    "with_timing_columns",
    "SHOWN_METRICS",
    "results_table",
    "result_rows",
    "Objective",
    "parse_objectives",
    "pareto_front",
    "SQL_EXTRA_HINT",
    "SqlError",
    "run_sql",
    "FORMATS",
    "OUTPUT_FORMATS",
    "render",
    "render_table",
    "write_output",
    "FIGURE_SIZE",
    "DPI",
    "plot_metric",
    "plot_curves",
    "plot_time_vs_batch",
    "plot_search",
    "best_so_far",
    "Importance",
    "param_importance",
    "Report",
    "build_report",
]
