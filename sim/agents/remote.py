"""The agents' services on another machine: cores of their own, apart from the agents'.

With ``--set remote_model=1`` the model server (and a browsing scenario's web
service) stand for services on another machine, so that only the agents are on
the machine under study. The simulated machine gets :data:`SERVICE_CORES` more
cores; a scheduling policy (the Personality interface's ``scheduling`` slot, whose
``cores`` restrict where a timing machine places a task) keeps the services' tasks
on those cores and every agent's task (its tools' processes too) on the
``cores`` of the machine under study. The virtual network between them is the
same as between coffers of one machine.

What stays shared: the kernel architecture is the machine's, so the services'
own system calls pay the hosting model's per-call costs, and under a shared kernel
(``linux``, ``processes``) they are in its kernel domain and take its locks. The
server sleeps almost all the time (its work is a few calls per engine step), so
this moves the agents' replies by microseconds against the model's seconds.
"""

from __future__ import annotations

from typing import Any

from cofferos.personalities.base import Personality, SchedulingPolicy

#: Cores the services' machine has (the model server and the web service serve one
#: request at a time each and mostly sleep).
SERVICE_CORES = 1


class Placement(Personality):
    """Keeps a coffer's tasks on some cores (not registered: the experiment adds it)."""

    name = "placement"

    def __init__(self, cores: frozenset[int]) -> None:
        super().__init__()
        self.policy = SchedulingPolicy(cores=cores)

    def scheduling(self, task: Any) -> SchedulingPolicy:
        return self.policy


def place(machine: Any, services: tuple[str, ...], cores: int) -> None:
    """Pin the coffers named in ``services`` to the cores past the first ``cores``, and
    every other coffer to those first ``cores`` (a ``run_mix`` ``prepare`` step)."""
    agents = frozenset(range(cores))
    remote = frozenset(range(cores, cores + SERVICE_CORES))
    for coffer in machine.coffers:
        stack = coffer.dispatcher.personalities
        where = remote if coffer.config.name in services else agents
        stack.replace([*stack.personalities, Placement(where)])
