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
#: ``--quick``'s worker counts and operations per worker. (Not 8 workers: a mutex
#: waiter spins on its running owner, so 8 workers creating in one directory still
#: get ~90% of linear; one directory lock saturates past ~20 workers.)
QUICK_WORKERS = (1, 32)
QUICK_ITERATIONS = 100
