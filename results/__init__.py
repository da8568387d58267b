"""Outputs of runs: statistics records and how they are written (JSON, tables).

:func:`run_record` turns a :class:`~cofferos.coffers.coffer.RunResult` into the
plain dictionary ``coffersim run --stats`` writes; :func:`write_json` writes any
record atomically so an interrupted run never leaves half a file.
:mod:`~cofferos.results.resultdir` writes and reads the one result-directory
format of compare, experiments and sweeps (a tidy Parquet table, the manifest of
:mod:`~cofferos.results.manifest`, one record per point);
:mod:`~cofferos.results.plot` and :mod:`~cofferos.results.figures` draw figures
(imported on demand: they need matplotlib), from the points, configurations and
series :mod:`~cofferos.results.sweep_frame` reads out of a sweep's table.
"""

from cofferos.results.records import format_table, run_record, write_json

__all__ = ["format_table", "run_record", "write_json"]
