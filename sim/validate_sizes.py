"""The default sizes of ``coffersim validate``, importable without the simulator.

The command line builds its parser (and ``--help``) from these on every command,
``coffersim run`` included, so they live apart from :mod:`cofferos.sim.validate`,
whose imports (the machine, the experiment runner, the cost model) would add a
third of a second to every start-up.
"""

from __future__ import annotations

DEFAULT_KERNELS = ("linux:4.2", "linux", "cofferos")
DEFAULT_WORKERS = (1, 8, 40)
DEFAULT_ITERATIONS = 150
