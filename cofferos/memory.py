"""Host memory a run needs, checked before it starts.

Every coffer costs the host memory whatever it runs: its kernel objects (task
tables, file system, /proc, system call tables). A coffer whose program runs
also holds a Unicorn engine, its page tables and the program's loaded image. A
run of many containers that the machine cannot hold does not fail cleanly: the
host's OOM killer ends it after minutes (``run --containers 100000`` grew to
22 GB). :func:`check_fits` refuses such a run up front, with the estimate and
what the machine has.

A timed run of many containers (``run --containers``, ``compare``) starts each
container only when it is first given a core and hands the engine of each one
that ends to the next (:meth:`cofferos.sim.machine.Machine.defer_start`,
:mod:`cofferos.coffers.engines`), so at least one container per core holds an
engine and a program at once, and every other one only its kernel objects.
The experiments start every container first: all of them hold both.

The figures were measured with ``/usr/bin/time -v coffersim run --kernel
linux --containers N -- @hello`` (Python 3.11, unicorn 2.1.4, the 745 kB
static program, 4 cores, commit 84f9605): 60 MB at N=1 and 3,602 MB at N=10,000, so 0.34 MiB
a container (kernel objects, most of them of containers that have ended; a
coffer that never ran holds 214 kB). The estimate is a lower bound: it cannot
know how much memory the guests will touch, nor how many long-running
containers will have started at once (a program that runs for more than a
slice keeps its engine while the others take their turns), so a run
that passes may still be too big.
"""

from __future__ import annotations

import os
from pathlib import Path

from cofferos.errors import ConfigError

MIB = 1 << 20
GB = 1e9
#: Host memory of the simulator before the first coffer (interpreter, unicorn, numpy).
BASE_BYTES = 60 * MIB
#: Host memory of one coffer that is not running: its kernel objects, before it
#: starts (214 kB) or once it has ended (zombie, statistics, files: 0.34 MiB).
COFFER_BYTES = 320 * 1024
#: Host memory of a running coffer's engine with its page tables, and the copies of
#: its program it holds (the loaded image, and what its inode has read of the file).
RUNNING_BYTES = MIB
PROGRAM_COPIES = 2
MEMINFO = Path("/proc/meminfo")
KIB = 1024


def available_bytes() -> int | None:
    """Memory the host can give without swapping (MemAvailable), None if unknown."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * KIB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def estimate_bytes(containers: int, program_bytes: int = 0, running: int | None = None) -> int:
    """At least this much host memory for ``containers`` coffers of a program of
    ``program_bytes`` bytes, ``running`` of them (all by default) running at once."""
    at_once = containers if running is None else max(min(running, containers), 1)
    return (BASE_BYTES + containers * COFFER_BYTES
            + at_once * (RUNNING_BYTES + PROGRAM_COPIES * program_bytes))


def program_size(path: str | os.PathLike[str] | None) -> int:
    try:
        return os.path.getsize(path) if path is not None else 0
    except OSError:
        return 0


def check_sweep_fits(containers: list[int], jobs: int) -> None:
    """For a local sweep: the ``jobs`` biggest points at once, each in its own process
    (a ConfigError that says so when they cannot fit)."""
    biggest = sorted(containers, reverse=True)[:jobs]
    need = sum(estimate_bytes(n) for n in biggest)
    have = available_bytes()
    if have is not None and need > have:
        raise ConfigError(
            f"{len(biggest)} points at once (--jobs {jobs}) of up to {max(biggest):,} "
            f"containers need at least {need / GB:.1f} GB of host memory, but this machine "
            f"has {have / GB:.1f} GB available: use fewer --jobs or containers")


def check_fits(containers: int, program: str | os.PathLike[str] | None = None,
               running: int | None = None) -> None:
    """A one-line ConfigError if ``containers`` coffers of ``program`` cannot fit in the
    host's available memory (nothing is checked when the host does not say).
    ``running``: how many run at once at least (a timed run's cores; None: all)."""
    need = estimate_bytes(containers, program_size(program), running)
    have = available_bytes()
    if have is not None and need > have:
        raise ConfigError(
            f"{containers:,} containers need at least {need / GB:.1f} GB of host memory "
            f"(about {(need - BASE_BYTES) / containers / MIB:.2f} MB each), but this "
            f"machine has {have / GB:.1f} GB available: use fewer containers")
