"""The machine's sockets: which core is on which, and what a lock's cache line costs to move.

A contended lock's hand-off moves its cache line (and the lines of the data it
protects) from the last holder's core to the next holder's. Within a socket the
line comes from the shared last-level cache's coherence agent; across sockets it
crosses the interconnect (QPI/UPI) and the remote socket's home agent, about
2-3 times slower. The lock model charges :attr:`Topology.local` or
:attr:`Topology.remote` by whether the two cores share a socket, and a NUMA-aware
lock (CNA, ``sim/lockalgo.py``) uses :meth:`Topology.socket` to prefer a waiter on
the holder's socket.

Cores are numbered socket by socket: cores ``0 .. socket_cores - 1`` are socket 0,
and so on, as Linux numbers the first hardware thread of each core on Intel Xeons
(the second threads follow in a second pass; will-it-scale places one task per
core before using them). With one socket (the default) every hand-off is local,
``lock.handoff``, as before sockets existed.

Figures (``--cost lock.handoff_remote=CYCLES``, ``lock.ticket_reread=CYCLES``,
``lock.sockets=N``, ``lock.socket_cores=N``):

* local: ``lock.handoff``, 300 cycles (E, sim/kernel_locks.py; docs/calibration.md
  gives 200-400). Intel's Memory Latency Checker measures a modified line moving
  from one core's L2 to another's in the same socket at 40-42 ns on a 2.0 GHz
  Broadwell-EP (John McCalpin, Intel developer forum thread 700477, "Core-to-Core
  Communication Latency in Skylake/Kaby Lake"), 120-130 cycles at 3 GHz; the model's
  300 also pays the lock word's and the protected data's lines.
* ticket re-read (``lock.ticket_reread``, unset by default): :data:`TICKET_REREAD_L3`,
  40 cycles (E), sources in sim/lockalgo.py (ticket spinlocks by sockets).
* remote: 750 cycles (E): 2.5 x local, the ratio of a cross-socket to an in-socket
  modified-line transfer on two-socket Xeons (about 100-130 ns against 40-50 ns in
  published core-to-core latency maps, e.g. chipsandcheese.com "Core to Core Latency
  Data on Large Systems", 2023). Not measured here; the sensitivity of the one result
  that depends on it (unlink2 under CNA, docs/timing.md) is given at x0.5 and x2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cofferos.errors import ConfigError

#: E: a cross-socket cache-line transfer, 2.5 x the in-socket one (module docstring).
REMOTE_PER_LOCAL = 2.5
SOCKETS_KEY = "sockets"  #: --cost lock.sockets=N
SOCKET_CORES_KEY = "socket_cores"  #: --cost lock.socket_cores=N (0: cores / sockets)
REMOTE_KEY = "handoff_remote"  #: --cost lock.handoff_remote=CYCLES
#: --cost lock.ticket_reread=CYCLES: a ticket lock's hand-off grows by this per other waiter
#: on the new holder's socket and by ``remote`` per other socket with waiters
#: (``sim/lockalgo.py``'s ticket_handoff_sockets); unset: Boyd-Wickizer's ``line`` per waiter.
REREAD_KEY = "ticket_reread"
#: E: a re-read of a released ticket line from the socket's inclusive L3, Nehalem's L3 hit
#: (half the ~75 cycles of a read of a line modified in another core; sim/lockalgo.py).
TICKET_REREAD_L3 = 40
KEYS = (SOCKETS_KEY, SOCKET_CORES_KEY, REMOTE_KEY, REREAD_KEY)


@dataclass(frozen=True)
class Topology:
    """Sockets and hand-off costs. Each field: meaning."""

    local: int
    """Cycles to move a lock's line between two cores of one socket (``lock.handoff``)."""
    remote: int
    """Cycles to move it between sockets (``lock.handoff_remote``)."""
    sockets: int = 1
    """Sockets (NUMA nodes)."""
    socket_cores: int = 1
    """Cores per socket; core ``c`` is on socket ``(c // socket_cores) % sockets``."""
    cores: int = 1
    """The machine's cores (its online CPUs: a percpu_counter's batch and sum use them)."""
    reread: int | None = None
    """Cycles a ticket lock's hand-off grows by per other waiter on the new holder's socket
    (``lock.ticket_reread``; None: the per-waiter ``line`` of Boyd-Wickizer et al.)."""

    def socket(self, core: int) -> int:
        """The socket of ``core`` (0 for a one-socket machine or an unknown core, -1)."""
        if self.sockets <= 1 or core < 0:
            return 0
        return (core // self.socket_cores) % self.sockets

    def queue_ahead(self, from_core: int, to_core: int,
                    waiter_cores: list[int]) -> tuple[int, int]:
        """Who re-reads a released ticket line before ``to_core`` may: (the other waiters on
        ``to_core``'s socket, the sockets other than ``to_core``'s and ``from_core``'s (the
        releaser's) with waiters), of the ``waiter_cores`` still queued."""
        mine, releaser = self.socket(to_core), self.socket(from_core)
        sockets = {self.socket(core) for core in waiter_cores}
        same = sum(1 for core in waiter_cores if self.socket(core) == mine)
        return same, len(sockets - {mine, releaser})

    def line(self, from_core: int, to_core: int) -> int:
        """Cycles to move a line from ``from_core`` to ``to_core`` (other cores)."""
        if self.socket(from_core) != self.socket(to_core):
            return self.remote
        return self.local


def topology(overrides: dict[str, int], cores: int, local: int) -> Topology:
    """The machine's topology from its ``lock.*`` overrides (their keys without the prefix;
    the ones read here are removed), for ``cores`` cores and in-socket hand-off ``local``.
    ConfigError for no socket or more sockets than cores."""
    sockets = overrides.pop(SOCKETS_KEY, 1)
    per_socket = overrides.pop(SOCKET_CORES_KEY, 0)
    remote = overrides.pop(REMOTE_KEY, round(local * REMOTE_PER_LOCAL))
    reread = overrides.pop(REREAD_KEY, None)
    if sockets < 1:
        raise ConfigError(f"--cost lock.{SOCKETS_KEY} must be at least 1, got {sockets}")
    if sockets > 1 and not per_socket:
        per_socket = max(1, math.ceil(cores / sockets))
    return Topology(local, remote, sockets, max(1, per_socket), max(1, cores), reread)
