"""The Markov model of one contended lock, solved: a cross-check of the simulated locks.

Boyd-Wickizer, Kaashoek, Morris and Zeldovich ("Non-scalable locks are dangerous",
Linux Symposium 2012) model ``n`` cores that each alternate between work outside a
lock, exponentially distributed with mean ``Z`` cycles, and one acquisition of it. The
number ``k`` of cores holding or waiting for the lock is then a birth-death chain: it
rises at rate ``(n - k) / Z`` and falls at rate ``1 / S(k)``, where ``S(k)`` is how
long the lock stays with one holder while ``k`` cores want it: the hold, and the
hand-off from the last holder's core, which for a ticket lock grows with the waiters
and for a queued lock does not. The chain's steady state gives the lock's throughput
and the share of the cores' time spent waiting for it; the paper solves it to show
that a ticket lock's throughput *falls* once it saturates.

``sim/lockalgo.py`` does not solve the chain: the timed machine charges each
acquisition the same hand-off (:meth:`~cofferos.sim.lockalgo.Algorithm.handoff`, with
``k`` the cores wanting the lock when it is granted) in simulated time, and the
queue forms on its own. This module solves the chain with that same ``S(k)``, so the
two can be compared: ``tests/test_lock_markov.py`` runs ``n`` simulated cores through
:meth:`~cofferos.sim.kernel_locks.LockTable.take` and checks their throughput against
the chain's. Once the lock is loaded they agree within 1-7% (8 to 80 cores). Near the
knee they part: the chain's service times are exponential and re-rated as waiters
arrive, the simulation's holds are fixed when granted (less variance), so at 4 and 6
cores with 2,000 cycles of work between acquisitions the simulation gets 19% and 26%
more throughput than the chain. ``python -m cofferos.sim.lockmarkov`` applies the chain to the Exim
row of ``coffersim validate`` (docs/timing.md): what the ticket model predicts for
Linux 2.6.38's root ``d_lock``, and what the published profile would need.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from cofferos.sim.kernel_locks import HANDOFF_CYCLES
from cofferos.sim.lockalgo import ALGORITHMS, QSPINLOCK, TICKET, ticket_handoff_sockets
from cofferos.sim.lockholds import DENTRY_REF

#: The Exim row's inputs, from docs/timing.md ("A message as heavy as a real Exim's"):
#: one worker's rate (`coffersim validate --workloads mosbench:exim --kernels
#: linux:2.6.38 ... --workers 1,8,40 --iterations 60`: 869 messages a second; 1,769
#: before a message had Exim's page faults and fork sizes) and the root dentry's d_lock
#: acquisitions per message (49 absolute walks, 5 each on the root), at 3 GHz.
EXIM_ONE_WORKER = 869.2
EXIM_ROOT_LOCKS = 245
EXIM_WORKERS = 40
CLOCK_HZ = 3e9  #: the cost model's default clock (``frequency_hz``)
PUBLISHED_SPINNING = 0.528  #: Kleen and Chen's profile: 52.8% of cycles in _raw_spin_lock
PUBLISHED_GAIN = 1.97  #: ... and their fix's gain (2.6.39's absolute RCU-walk)
#: Linux 2.6.39's share of linear at 40 workers in the same run (18,599 messages/s against
#: 40 x 870: its zone lock saturates; 0.92 before, when it scaled): its root d_lock is
#: not contended, so its rate is taken as this share of linear for any work a message,
#: and a gain is 2.6.39's rate over the chain's 2.6.38.
EXIM_2639_SHARE = 0.534


@dataclass(frozen=True)
class ChainResult:
    """The chain's steady state. Each field: meaning."""

    throughput: float
    """Acquisitions per cycle."""
    waiting: float
    """The mean number of cores waiting (wanting the lock, not holding it)."""
    spinning: float
    """The share of the cores' time spent waiting: ``waiting / n``."""


def service_cycles(algorithm: str, hold: float, line: float, wanting: int,
                   reread: float | None = None) -> float:
    """``S(k)``: the hold and the hand-off with ``wanting`` cores wanting the lock (the
    holder included), as the timed machine charges it (``Algorithm.handoff``). With
    ``reread`` a ticket lock's hand-off is the machine's by sockets on one socket
    (``--cost lock.ticket_reread``, :func:`~cofferos.sim.lockalgo.ticket_handoff_sockets`):
    each other waiter's re-read of the released line costs that much."""
    if reread is not None:
        return hold + ticket_handoff_sockets(line, reread, 0, wanting - 1, 0)
    return hold + ALGORITHMS[algorithm].handoff(line, wanting)


def solve(cores: int, think: float, hold: float, line: float, algorithm: str = TICKET,
          reread: float | None = None) -> ChainResult:
    """The steady state of ``cores`` cores, each working ``think`` cycles on average
    between acquisitions of one lock (held ``hold`` cycles, its line moving in ``line``)."""
    if cores < 1 or think <= 0 or hold < 0 or line < 0:
        raise ValueError("solve: cores >= 1, think > 0, hold and line >= 0")
    service = [0.0] + [service_cycles(algorithm, hold, line, k, reread)
                       for k in range(1, cores + 1)]
    # (weights in logs: a product of n ratios overflows a float past a few hundred cores)
    logs = [0.0]
    for k in range(1, cores + 1):
        logs.append(logs[-1] + math.log((cores - k + 1) * service[k] / think))
    top = max(logs)
    weights = [math.exp(value - top) for value in logs]
    total = sum(weights)
    shares = [weight / total for weight in weights]
    throughput = sum(shares[k] / service[k] for k in range(1, cores + 1))
    waiting = sum(shares[k] * (k - 1) for k in range(1, cores + 1))
    return ChainResult(throughput, waiting, waiting / cores)


def reread_for(spinning: float, cores: int, think: float, hold: float,
               line: float) -> float | None:
    """The ticket re-read cost (``lock.ticket_reread``) at which the chain spends
    ``spinning`` of the cores' time waiting (bisection; the share grows with it); None
    when even a constant hand-off (no re-read cost) waits more than that."""
    if solve(cores, think, hold, line, TICKET, 0.0).spinning > spinning:
        return None
    low, high = 0.0, line
    while solve(cores, think, hold, line, TICKET, high).spinning < spinning:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        if solve(cores, think, hold, line, TICKET, middle).spinning < spinning:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def think_for(spinning: float, cores: int, hold: float, line: float) -> float:
    """The mean work between acquisitions at which the Boyd-Wickizer ticket chain spends
    ``spinning`` of the cores' time waiting (bisection; the share falls as it grows)."""
    low, high = 1.0, 1.0
    while solve(cores, high, hold, line).spinning > spinning:
        high *= 2
    for _ in range(60):
        middle = math.sqrt(low * high)
        if solve(cores, middle, hold, line).spinning > spinning:
            low = middle
        else:
            high = middle
    return math.sqrt(low * high)


def _between(message: float, root_locks: int) -> float:
    """Cycles of work between two root d_locks in a message of ``message`` cycles."""
    return message / root_locks - DENTRY_REF


def exim_at(message: float, root_locks: int, workers: int, algorithm: str = TICKET,
            share: float = EXIM_2639_SHARE) -> tuple[float, ChainResult, float]:
    """The chain for Exim messages of ``message`` cycles of work on one worker (their root
    d_locks uncontended included): (2.6.38's messages a second, its chain, the gain of
    2.6.39 over it, 2.6.39 taken as ``share`` of linear)."""
    chain = solve(workers, _between(message, root_locks), DENTRY_REF, HANDOFF_CYCLES,
                  algorithm)
    rate = chain.throughput * CLOCK_HZ / root_locks
    return rate, chain, workers * share * CLOCK_HZ / message / rate


def exim_lines(one_worker: float, root_locks: int, workers: int,
               messages: tuple[float, ...] = (), share: float = EXIM_2639_SHARE) -> list[str]:
    """The chain applied to the Exim row: the root d_lock as the only contended lock."""
    message = CLOCK_HZ / one_worker  # cycles a message, one worker (its locks uncontended)
    think = _between(message, root_locks)
    hold, line = DENTRY_REF, HANDOFF_CYCLES
    lines = [f"inputs: {one_worker:,.0f} messages/s on one worker ({message:,.0f} cycles a "
             f"message at {CLOCK_HZ / 1e9:g} GHz), {root_locks} root d_locks a message: "
             f"{think:,.0f} cycles of work between two, a hold of {hold}, a line of {line}; "
             f"{workers} workers"]
    for algorithm in (TICKET, QSPINLOCK):
        rate, chain, gain = exim_at(message, root_locks, workers, algorithm, share)
        lines.append(f"{algorithm:>9}: {rate:,.0f} messages/s, {chain.spinning:.1%} of the "
                     f"cores' time waiting ({chain.waiting:.1f} cores on average), a gain "
                     f"of {gain:.2f}x")
    reread = reread_for(PUBLISHED_SPINNING, workers, think, hold, line)
    needed = think_for(PUBLISHED_SPINNING, workers, hold, line)
    target = f"for {PUBLISHED_SPINNING:.1%} waiting (the published profile)"
    if reread is None:
        lines.append(f"{target}: no ticket re-read cost will do (a constant hand-off, of "
                     f"{line} cycles, already waits more: the qspinlock line)")
    else:
        lines.append(f"{target}: lock.ticket_reread={reread:.1f} (the model: the line, "
                     f"{line})")
    work = (needed + hold) * root_locks
    _rate, _chain, gain = exim_at(work, root_locks, workers, share=share)
    lines.append(f"{target}, with the model's growth of {line / 2:g} cycles a waiter: "
                 f"{needed:,.0f} cycles of work between root d_locks, {needed / think:.1f}x "
                 f"the model's ({work / CLOCK_HZ * 1e3:.2f} ms a message, or "
                 f"{root_locks * think / needed:.0f} root d_locks a message), solved for "
                 f"that share; there the gain, not solved for, is {gain:.2f}x (published "
                 f"{PUBLISHED_GAIN}x)")
    for cycles in messages:
        rate, chain, gain = exim_at(cycles, root_locks, workers, share=share)
        lines.append(f"at {cycles:,.0f} cycles a message ({cycles / CLOCK_HZ * 1e3:.2f} ms "
                     f"at {CLOCK_HZ / 1e9:g} GHz): {rate:,.0f} messages/s, "
                     f"{chain.spinning:.1%} waiting, a gain of {gain:.2f}x")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cofferos.sim.lockmarkov",
        description="The Markov chain of one contended lock applied to the Exim row.")
    parser.add_argument("--one-worker", type=float, default=EXIM_ONE_WORKER,
                        help="messages a second on one worker (default %(default)s)")
    parser.add_argument("--root-locks", type=int, default=EXIM_ROOT_LOCKS,
                        help="root d_lock acquisitions a message (default %(default)s)")
    parser.add_argument("--workers", type=int, default=EXIM_WORKERS,
                        help="workers, one a core (default %(default)s)")
    parser.add_argument("--scaling-share", type=float, default=EXIM_2639_SHARE,
                        help="2.6.39's share of linear at WORKERS, which the gains divide "
                        "by 2.6.38's rate (default %(default)s)")
    parser.add_argument("--message-cycles", type=float, action="append", default=[],
                        metavar="CYCLES", help="also the chain at CYCLES of work a message "
                        "(e.g. a native measurement, benchmarks/exim/measure.sh cpu, times "
                        "the host's clock); repeatable")
    args = parser.parse_args(argv)
    if args.one_worker <= 0 or args.root_locks < 1 or args.workers < 1:
        parser.error("--one-worker must be positive, --root-locks and --workers at least 1")
    if not 0 < args.scaling_share <= 1:
        parser.error("--scaling-share must be in (0, 1]")
    floor = args.root_locks * DENTRY_REF  # (a message holds its root d_locks at least)
    if CLOCK_HZ / args.one_worker <= floor or any(c <= floor for c in args.message_cycles):
        parser.error("a message must take longer than its root d_locks' holds")
    print("\n".join(exim_lines(args.one_worker, args.root_locks, args.workers,
                               tuple(args.message_cycles), args.scaling_share)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
