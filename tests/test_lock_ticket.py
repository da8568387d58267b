"""A ticket lock's hand-off by sockets (``--cost lock.ticket_reread``, issue #15's Exim row).

Boyd-Wickizer et al.'s form (``sim/lockalgo.py``, the default) charges the line once per
two waiters, whatever socket they wait on. With ``lock.ticket_reread`` set, a waiter on the
new holder's socket costs that many cycles (a re-read from the socket's inclusive L3) and
another socket with waiters costs one cross-socket transfer (``lock.handoff_remote``),
each half of the time on average (``ticket_handoff_sockets``).
"""

from __future__ import annotations

import pytest
import simpy

from cofferos.errors import ConfigError
from cofferos.sim.kernel_locks import LockTable
from cofferos.sim.lockalgo import ALGORITHMS, QSPINLOCK, TICKET, SimLock, ticket_handoff_sockets
from cofferos.sim.topology import Topology, topology
from cofferos.timing import parse_cost

#: The published Exim machine's shape: 4 sockets of 10 cores (cores 0-9 on socket 0, ...).
FOUR_BY_TEN = Topology(local=300, remote=750, sockets=4, socket_cores=10, cores=40,
                       reread=40)


def test_one_socket_with_the_line_as_reread_is_boyd_wickizers_form() -> None:
    for waiters in (1, 2, 8, 40):
        assert ticket_handoff_sockets(300, 300, 750, waiters - 1, 0) == pytest.approx(
            ALGORITHMS[TICKET].handoff(300, waiters))


def test_the_handoff_grows_by_half_a_reread_per_local_waiter_and_half_a_remote_socket() -> None:
    assert ticket_handoff_sockets(300, 40, 750, 0, 0) == 300  # nobody else: one line
    assert ticket_handoff_sockets(300, 40, 750, 39, 0) == 300 + 39 * 40 / 2  # 1,080
    assert ticket_handoff_sockets(750, 40, 750, 9, 2) == 750 + (9 * 40 + 2 * 750) / 2


def test_queue_ahead_counts_the_holders_socket_and_the_other_sockets_with_waiters() -> None:
    # released on core 0 (socket 0) to core 12 (socket 1); waiters: 13, 14 (socket 1),
    # 25 (socket 2), 1 (socket 0, the releaser's: its L3 has the line, no transfer)
    assert FOUR_BY_TEN.queue_ahead(0, 12, [13, 14, 25, 1]) == (2, 1)
    assert FOUR_BY_TEN.queue_ahead(0, 1, [2, 3, 35]) == (2, 1)
    assert Topology(300, 750).queue_ahead(0, 1, [2, 3, 35]) == (3, 0)  # one socket


def _handoff(table: LockTable, algorithm: str, last: int, to: int, waiters: list[int]) -> float:
    lock = SimLock(table.env, "d_lock")
    lock.last_core = last
    lock.queue.extend((False, table.env.event(), core) for core in waiters)
    return table._handoff(ALGORITHMS[algorithm], lock, to)


def test_the_lock_table_charges_the_socket_form_only_when_the_key_is_set() -> None:
    env = simpy.Environment()
    # released by core 0 to core 5; still queued: the 38 other cores but 0 and 5
    waiters = [core for core in range(1, 40) if core != 5]
    old = LockTable(env, True, topology=Topology(300, 750, 4, 10, 40))
    new = LockTable(env, True, topology=FOUR_BY_TEN)
    # Boyd-Wickizer: the in-socket line per two of the 38 still waiting
    assert _handoff(old, TICKET, 0, 5, waiters) == 300 * (1 + 38 / 2)
    # by sockets: the 8 others queued on socket 0 (cores 1-9 but 5) re-read from its L3,
    # and sockets 1-3 each bring the line across once
    same = sum(1 for core in waiters if core < 10)
    assert same == 8
    assert _handoff(new, TICKET, 0, 5, waiters) == 300 + (40 * same + 750 * 3) / 2
    assert _handoff(new, TICKET, 0, 5, waiters) < _handoff(old, TICKET, 0, 5, waiters) / 2
    # a queued spinlock ignores it: one line whatever the queue
    assert _handoff(new, QSPINLOCK, 0, 15, waiters) == 750


def test_the_cost_key_reaches_the_topology_and_rejects_bad_values() -> None:
    assert parse_cost("lock.ticket_reread=40") == ("lock.ticket_reread", 40)
    overrides = {"ticket_reread": 40, "sockets": 4}
    made = topology(overrides, 40, 300)
    assert (made.reread, made.sockets, overrides) == (40, 4, {})
    assert topology({}, 40, 300).reread is None  # unset: Boyd-Wickizer's form
    with pytest.raises(ConfigError, match="must be >= 0"):
        parse_cost("lock.ticket_reread=-1")
