"""The agents' services on another simulated machine, joined to the one under study by a link.

With ``--set remote_model=1`` the model server (and a browsing scenario's web
service) run on a machine of their own, so that only the agents are on the machine
under study. The two are separate :class:`~cofferos.sim.machine.Machine` objects,
each with its own cores, kernel architecture, kernel locks, kernel domains and time
accounting, that share one SimPy clock and one virtual network
(:func:`run_two`). The services' machine runs :data:`REMOTE_KERNEL` on
:data:`REMOTE_CORES` cores whatever the hosting model under study; the run's report
is the agents' machine's (its elapsed time, busy time and breakdown), with the
services' machine's result beside it (``RunReport.remote``).

**The link** (:class:`LinkModel`): a message between the two machines arrives
``latency_ns + bytes / bytes_per_s`` after it was sent; between coffers of one
machine, at once (as before). Defaults, each with its source (M: measured by the
source; E: an estimate):

* latency_ns 250 us (M): half of the 500 us "round trip within same datacenter" of
  J. Dean's "Numbers Everyone Should Know" (LADIS 2009 keynote, Google);
* bytes_per_s 1.25 GB/s (E): a 10 Gb Ethernet link, no other traffic.

**How a message is delayed.** The virtual network hands the bytes to the peer socket
at once (coffers/network.py); what the link delays is the *wake-up* of the task
waiting for them on the other machine: it happens at the sending call's time in
its slice plus the link's delay, and not before (:meth:`Link.event`). A task that
is not asleep when the message comes (a server polling between its engine steps)
can read it up to one link delay early; the agents always block for their replies,
so what they measure is exact to the machine's bound (one slice).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import simpy

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.network import VirtualNetwork
from cofferos.coffers.sched import EXIT_EVENT
from cofferos.sim.experiment import (
    NS_PER_SECOND,
    ContainerSpec,
    RunReport,
    addressed,
    build_coffers,
    container_report,
)
from cofferos.sim.machine import NO_EVENTS_LEFT, Machine, MachineConfig

#: The services' machine's kernel: a model server is a process on a Linux host.
REMOTE_KERNEL = "linux"
#: E: the services' machine's cores (the model server and web service mostly sleep).
REMOTE_CORES = 2
LINK_LATENCY_NS = 250_000  #: M: half a datacenter round trip (Dean 2009: 500 us)
LINK_BYTES_PER_S = 1_250_000_000  #: E: 10 Gb/s Ethernet


@dataclass(frozen=True)
class LinkModel:
    """The network link between the agents' machine and the services' machine."""

    latency_ns: int = LINK_LATENCY_NS
    bytes_per_s: int = LINK_BYTES_PER_S

    def delay_ns(self, nbytes: int) -> int:
        """One message's delay: the wire's latency plus its bytes' serialization."""
        return self.latency_ns + nbytes * int(NS_PER_SECOND) // self.bytes_per_s


class Link:
    """Joins machines that share one SimPy clock: a task woken by a coffer of the other
    machine wakes the link's delay after the waking call (see the module docstring)."""

    def __init__(self, model: LinkModel, remote_addresses: set[str]) -> None:
        self.model = model
        self.remote = remote_addresses
        self.machines: list[Machine] = []
        self.messages = 0  #: messages that crossed the link
        self.delay_ns = 0  #: their summed delays
        self._last: tuple[tuple[int, int], int] | None = None  #: (sending call, delay)

    def latency(self, source: Any, destination: Any, nbytes: int) -> int:
        """The virtual network's latency hook: the delay of a message crossing the link."""
        if (str(source.address) in self.remote) == (str(destination.address) in self.remote):
            return 0
        delay = self.model.delay_ns(nbytes)
        self.messages += 1
        self.delay_ns += delay
        waker = self._running()
        if waker is not None:
            self._last = (self._call(waker), delay)
        return delay

    def join(self, *machines: Machine) -> None:
        """Route every coffer's task events of ``machines`` through :meth:`event`."""
        self.machines = list(machines)
        for machine in machines:
            for coffer in machine.coffers:
                coffer.scheduler.listener = self._listener(machine)

    def _listener(self, machine: Machine) -> Callable[[Any, str], None]:
        return lambda task, event: self.event(machine, task, event)

    def _running(self) -> Machine | None:
        return next((m for m in self.machines if m.running is not None), None)

    @staticmethod
    def _call(machine: Machine) -> tuple[int, int]:
        """Where the running slice is: its coffer and its cycles so far."""
        running: Coffer = machine.running  # type: ignore[assignment]
        return id(running), running.cycles

    def event(self, machine: Machine, task: Any, event: str) -> None:
        """A task of ``machine`` is woken (or born, or ended): by its own machine's slice
        as the machine decides; by the other machine's, at the waking call's time plus
        the link's delay (the last message's if that call sent one, else the latency)."""
        waker = self._running()
        if waker is None or waker is machine or event == EXIT_EVENT:
            machine._on_task_event(task, event)
            return
        running: Coffer = waker.running  # type: ignore[assignment]
        _base_ns, base_cycles = running.clock_base or (0, 0)
        offset = (running.cycles - base_cycles) * waker.ns_per_cycle
        last = self._last
        delay = last[1] if last is not None and last[0] == self._call(waker) \
            else self.model.latency_ns
        if task in machine.started:
            machine.held.add(task)  # runnable in its kernel, but not before the message
        machine.env.process(machine._later(task, event, machine.env.now + offset + delay))


def run_two(specs: Sequence[ContainerSpec], remote: Sequence[str], *, kernel: str,
            machine: MachineConfig, link: LinkModel = LinkModel(),
            prepare: Callable[[Machine], None] | None = None) -> RunReport:
    """Run the coffers named in ``remote`` on the services' machine and the others on the
    machine under study (``kernel``, ``machine``), joined by ``link``. The containers'
    reports are in the specs' order; the report's machine is the one under study;
    ``prepare`` sees that machine only. The services' machine stops with it."""
    configs = addressed(specs, CofferConfig())
    far = [i for i, config in enumerate(configs) if config.name in remote]
    near = [i for i in range(len(specs)) if i not in far]
    joined = Link(link, {str(configs[i].address) for i in far})
    network = VirtualNetwork(latency=joined.latency)
    here_config = replace(machine, kernel=kernel)
    there_config = replace(machine, kernel=REMOTE_KERNEL, cores=REMOTE_CORES)
    built: dict[int, tuple[Coffer, Any]] = {}
    for indices, chosen_kernel, config in ((far, REMOTE_KERNEL, there_config),
                                           (near, kernel, here_config)):
        coffers, streams, _no_starts = build_coffers([specs[i] for i in indices],
                                                     [configs[i] for i in indices],
                                                     chosen_kernel, config, network)
        built.update(zip(indices, zip(coffers, streams, strict=True), strict=True))
    env = simpy.Environment()
    here = Machine(here_config, [built[i][0] for i in near], env)
    there = Machine(there_config, [built[i][0] for i in far], env)
    joined.join(here, there)
    if prepare is not None:
        prepare(here)
    started = time.perf_counter()
    here.start()
    there.start()
    stop: simpy.Event = env.all_of([here.all_finished, there.all_finished])
    if machine.until_ns is not None:
        stop = env.any_of([stop, env.timeout(machine.until_ns)])
    try:
        env.run(until=stop)
    except RuntimeError as err:  # the events ran out first: a deadlock (collect says so)
        if stop.triggered or NO_EVENTS_LEFT not in str(err):
            raise
    result, remote_result = here.collect(), there.collect()
    host = time.perf_counter() - started
    reports = [container_report(coffer, out, err, remote_result if i in far else result, None)
               for i, (coffer, (out, err)) in sorted(built.items())]
    return RunReport(kernel=kernel, cores=here_config.cores, containers=reports,
                     machine=result, host_seconds=host,
                     simulated_seconds=result.elapsed_ns / NS_PER_SECOND,
                     breakdown=result.breakdown(), remote=remote_result,
                     link={"messages": joined.messages, "delay_ns": joined.delay_ns,
                           **vars(link)})
