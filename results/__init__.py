"""Outputs of runs: statistics records and how they are written (JSON, tables).

:func:`run_record` turns a :class:`~cofferos.coffers.coffer.RunResult` into the
plain dictionary ``coffersim run --stats`` writes; :func:`write_json` writes any
record atomically so an interrupted run never leaves half a file.
"""

from cofferos.results.records import format_table, run_record, write_json

__all__ = ["format_table", "run_record", "write_json"]
