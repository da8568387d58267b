"""Simulated time, machines and experiments: from counted cycles to results.

The functional kernel (:mod:`cofferos.coffers`) says what each system call does
and which kernel locks it would take; this layer says how long it takes on a
machine of N cores under a kernel architecture, and runs the experiments.

- The timing machine: :mod:`.machine` (N cores in SimPy time), :mod:`.kernels`
  (CofferOS, shared Linux, VMs, a sandbox: what differs between them),
  :mod:`.costmodel` (cycles per call, with sources), :mod:`.hardware` (what
  containers do to each other through the shared hardware), :mod:`.locks`,
  :mod:`.lockalgo` and :mod:`.lockversions` (kernel locks in time: instances,
  algorithms, and kernel versions as data).
- Experiments: :mod:`.experiment` (containers on a machine, and what to report),
  ``isolation/`` (what one container can do to the others), ``agents/`` (AI
  agents as tenants), :mod:`.fuzz` (a hostile guest beside victims),
  :mod:`.conformance` (CPython's own tests in a coffer against native).
- Sweeps over a design space: :mod:`.sweep_spec` (the TOML spec),
  :mod:`.sweep_point`, :mod:`.sweep_run`, :mod:`.sweep_local`,
  :mod:`.sweep_dask`, :mod:`.sweep_lock`, :mod:`.toml_lines`; and
  :mod:`.interrupts` (Ctrl-C held over work that must not stop half-way).
"""
