"""Hosting models of the agents experiment: a kernel, and how agents are placed in containers.

``linux``, ``cofferos``, ``vm`` and ``sandbox`` are the kernel architectures of
:mod:`cofferos.sim.kernels`, each agent in a container of its own (a coffer, a
Linux container, a microVM, a sandbox). ``processes`` is how agents are often run
today: all of them as processes of ONE container on the shared Linux kernel
(Docker's seccomp filter included), started by a shell that is the container's
init. The agents then share one filesystem, one process table and one set of
kernel objects: nothing keeps one agent's tools out of another's workspace, and
the container is started once for all of them.

The choice of Linux rather than one coffer for ``processes``: the model is "what
people run now" (a dev box, one container of agents), and its difference from
``linux`` is then placement alone, with the same per-call costs.

The experiment (:mod:`.experiment`) asks :func:`hosting` for a name's kernel and
placement; :func:`processes_init` is the shell script the shared container runs,
and :func:`split_outputs` cuts its output back into one part per agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cofferos.errors import ConfigError
from cofferos.sim.isolation.common import ALL_KERNELS
from cofferos.sim.kernels import architecture

PROCESSES = "processes"
#: The kernel the ``processes`` model runs on (see the module's docstring for why).
PROCESSES_KERNEL = "linux"
#: Every hosting model, in the order tables and figures show them.
ALL_HOSTING: tuple[str, ...] = (PROCESSES, *ALL_KERNELS)
#: Where the agent's program sits in the shared container's tree.
AGENT_IN_TREE = "/bin/agent"
#: The line the shared container's init prints before each agent's output.
OUTPUT_MARK = "== agent"
_MARK_LINE = re.compile(rf"^{OUTPUT_MARK} (\d+) (\d+)$")


@dataclass(frozen=True)
class Hosting:
    """One hosting model."""

    name: str
    kernel: str
    """The kernel architecture (with an optional version) its containers run on."""
    one_container: bool
    """All agents are processes of one container (else one container each)."""


def hosting(name: str) -> Hosting:
    """The hosting model called ``name`` (a kernel name is one; ConfigError otherwise)."""
    if name == PROCESSES:
        return Hosting(PROCESSES, PROCESSES_KERNEL, one_container=True)
    try:
        architecture(name)
    except ConfigError:
        raise ConfigError(f"unknown hosting model {name!r}; choose from "
                          f"{', '.join(ALL_HOSTING)}") from None
    return Hosting(name, name, one_container=False)


def hosting_list(text: str) -> tuple[str, ...]:
    """Comma-separated hosting models, each checked (one-line ConfigError)."""
    names = tuple(part.strip() for part in text.split(","))
    if "" in names:
        raise ConfigError(f"empty hosting model in {text!r}")
    for name in names:
        hosting(name)
    return names


def processes_init(argvs: list[tuple[str, ...]]) -> str:
    """The ``sh -c`` script of the shared container: start every agent (``argvs``: each
    one's arguments) in the background, its output to a file of its own, then wait
    for each in turn and print its exit status and its output after a mark line."""
    lines = [f"{AGENT_IN_TREE} {' '.join(argv)} > /tmp/a{index}.out 2>&1 & p{index}=$!"
             for index, argv in enumerate(argvs)]
    lines += [f'wait $p{index}; echo "{OUTPUT_MARK} {index} $?"; cat /tmp/a{index}.out'
              for index in range(len(argvs))]
    return "\n".join(lines)


def split_outputs(stdout: bytes, agents: int) -> list[tuple[int | None, bytes]]:
    """Each agent's (exit status, output) from the shared container's output (None, b""
    for an agent whose part is missing: its container was killed before it printed)."""
    parts: dict[int, tuple[int, list[str]]] = {}
    current: list[str] | None = None
    for line in stdout.decode(errors="replace").splitlines():
        mark = _MARK_LINE.match(line)
        if mark:
            current = []
            parts[int(mark.group(1))] = (int(mark.group(2)), current)
        elif current is not None:
            current.append(line)
    found: list[tuple[int | None, bytes]] = []
    for index in range(agents):
        if index in parts:
            status, lines = parts[index]
            found.append((status, "".join(f"{line}\n" for line in lines).encode()))
        else:
            found.append((None, b""))
    return found
