"""Lab 5: measure the scaling curve before and after your change (``python measure.py``).

Prints @metadata's throughput per container at 1, 8 and 16 containers (each on as
many cores) under linux:2.6.35 with the base table and with yours: the numbers
answers.toml asks for. It takes a minute or so of host time.
"""

from __future__ import annotations

import locks

from cofferos.labs.lab5_locks import CONTAINERS, curve

if __name__ == "__main__":
    print("containers", list(CONTAINERS))
    print("before", curve(locks.BASE))
    print("after ", curve(locks.TABLE))
