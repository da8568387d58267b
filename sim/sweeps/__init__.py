"""Sweeps over a design space: a TOML spec in, one point per process, tidy rows out.

:mod:`.spec` reads and checks the spec (:mod:`.spec_keys` checks each key's value,
:mod:`.toml_lines` finds the line an error points at) and resolves it to point
configurations; :mod:`.point` runs one point; :mod:`.run` runs them all, each saved the
moment it finishes, and resumes; :mod:`.local_executor` and :mod:`.dask_executor` are
where points run; :mod:`.dirlock` keeps one sweep per output directory;
:mod:`.interrupts` holds Ctrl-C over work that must not stop half-way.
"""
