"""Simulated time, machines and experiments: from counted cycles to results.

The functional kernel (:mod:`cofferos.coffers`) says what each system call does
and which kernel locks it would take; this layer says how long it takes on a
machine of N cores under a kernel architecture, and runs the experiments.

- The timing machine: :mod:`.machine` (N cores in SimPy time), :mod:`.kernels`
  (CofferOS, shared Linux, VMs, a sandbox: what differs between them),
  :mod:`.costmodel` (cycles per call, with sources) and ``costprofiles/`` (cost
  profiles as data), :mod:`.hardware` (what containers do to each other through the
  shared hardware), :mod:`.kernel_locks`, :mod:`.lockalgo` and :mod:`.lockversions`
  (kernel locks in time: instances, algorithms, and kernel versions as data),
  :mod:`.timeline` (what every core did, as a Chrome trace).
- Experiments: :mod:`.experiment` (containers on a machine, and what to report),
  ``isolation/`` (what one container can do to the others), ``agents/`` (AI
  agents as tenants), :mod:`.fuzz` (a hostile guest beside victims),
  :mod:`.conformance` (CPython's own tests in a coffer against native),
  :mod:`.validate` (scalability against published results).
- ``sweeps/``: design-space sweeps (a TOML spec in, one point per process, tidy rows
  out).
"""
