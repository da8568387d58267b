"""Outputs of runs: statistics records and how they are written (JSON, tables).

:func:`run_record` turns a :class:`~cofferos.coffers.coffer.RunResult` into the
plain dictionary ``coffersim run --stats`` writes; :func:`write_json` writes any
record atomically so an interrupted run never leaves half a file.
:mod:`~cofferos.results.manifest` writes result directories (rows and the
manifest that made them), :mod:`~cofferos.results.plot` draws comparisons
(imported on demand: it needs matplotlib).
"""

from cofferos.results.records import format_table, run_record, write_json

__all__ = ["format_table", "run_record", "write_json"]
