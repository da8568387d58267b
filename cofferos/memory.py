"""Host memory a run needs, checked before it starts.

Every coffer costs the host memory whatever it runs: a Unicorn engine, its page
tables, the kernel objects and the copy of the program the coffer keeps (its
inode) and maps (the loaded image). A run of many containers that the machine
cannot hold does not fail cleanly: the host's OOM killer ends it after minutes
(``run --containers 100000`` grew to 22 GB). :func:`check_fits` refuses such a
run up front, with the estimate and what the machine has.

The figures were measured with ``/usr/bin/time -f %M coffersim run --kernel
linux --containers N -- @hello`` (Python 3.11, unicorn 2.1.4): 205 MB at N=1,
349 MB at N=32, 785 MB at N=128, so 4.5 MB per coffer of which 1.5 MB are
two copies of the 745 kB program. The estimate is a lower bound: it cannot know
how much memory the guests will touch, so a run that passes may still be too big.
"""

from __future__ import annotations

import os
from pathlib import Path

from cofferos.errors import ConfigError

MIB = 1 << 20
GB = 1e9
#: Host memory of the simulator before the first coffer (interpreter, unicorn, numpy, numba).
BASE_BYTES = 205 * MIB
#: Host memory of one coffer, without its program (engine, page tables, kernel objects).
COFFER_BYTES = 3 * MIB
#: Copies of the program each coffer holds: its inode's data and the loaded image.
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


def estimate_bytes(containers: int, program_bytes: int = 0) -> int:
    """At least this much host memory for ``containers`` coffers of a program of
    ``program_bytes`` bytes."""
    return BASE_BYTES + containers * (COFFER_BYTES + PROGRAM_COPIES * program_bytes)


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


def check_fits(containers: int, program: str | os.PathLike[str] | None = None) -> None:
    """A one-line ConfigError if ``containers`` coffers of ``program`` cannot fit in the
    host's available memory (nothing is checked when the host does not say)."""
    need = estimate_bytes(containers, program_size(program))
    have = available_bytes()
    if have is not None and need > have:
        raise ConfigError(
            f"{containers:,} containers need at least {need / GB:.1f} GB of host memory "
            f"(about {(need - BASE_BYTES) / containers / MIB:.1f} MB each), but this "
            f"machine has {have / GB:.1f} GB available: use fewer containers")
