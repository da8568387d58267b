"""``exhaustion``: one container exhausts a kernel resource; do the others still get theirs?

Container 0 runs ``@hog KIND`` (a fork bomb, descriptor exhaustion, a memory hog
or a disk fill: it takes until the kernel refuses, holds what it got, then
exits); containers 1..N-1 run ``@bystander``, which needs each resource a
little and exits 0 only if it got all of it. Every kernel runs the same
programs; what differs is where the limits live:

* each container's own limits (``CofferConfig.nproc_limit``, ``memory_limit``,
  ``nofile_limit``, ``disk_limit``): for a resource the architecture takes from
  the host (a shared kernel's task table, ``memory_from_host``,
  ``storage_from_host``) they are set at the machine's size, Docker's default
  (no pids, memory or storage limit); otherwise each container's share of the
  machine is its own reservation (the machine's amount / containers);
* the machine's (``MachineConfig.threads_max``, ``memory_bytes``,
  ``disk_bytes``), drawn on by every container that takes from the host
  (:func:`cofferos.sim.experiment.run_mix`).

A kernel that takes any resource from the host runs twice: with Docker's
defaults (above; labelled by the kernel) and with the limits a careful operator
sets (``KERNEL+limits``: pids.max, memory.max and a storage quota at each
container's 1/N share of the machine, :data:`LIMITS`).
"""

from __future__ import annotations

import re
from typing import Any

from cofferos.coffers.coffer import CofferConfig
from cofferos.coffers.program import resolve_program
from cofferos.errors import ConfigError
from cofferos.sim.experiment import ContainerSpec, RunReport, run_mix
from cofferos.sim.isolation.common import (
    ExperimentParams,
    ExperimentResult,
    configuration,
    stack_label,
)
from cofferos.sim.kernels import architecture
from cofferos.sim.machine import MachineConfig
from cofferos.timing import machine_for

NAME = "exhaustion"
DESCRIPTION = "fork bomb, descriptors, memory, disk in one container: effect on the others"
ATTACKS: tuple[str, ...] = ("fork", "files", "memory", "disk")
#: The experiment runs once per ``--personality`` stack.
VARIES_PERSONALITIES = True
#: The settings ``--set KEY=VALUE`` takes (see DOC).
OPTIONS = ("attacks", "threads_max", "memory_mb", "disk_mb", "hold_ms", "limits")
MIB = 1 << 20
# The machine, scaled down so that a fork bomb ends in seconds of host time (each
# simulated fork copies an address space on the host): E, a run-time choice.
THREADS_MAX = 64
MEMORY_MB = 2048  #: large enough that a fork bomb meets the task limit before RAM
DISK_MB = 64
HOLD_MS = 200  #: E: the hog holds what it took well past the bystanders' rounds
ROUNDS = 5
GAP_MS = 10
DELAY_MS = 30  #: E: the bystanders start once the hog has reached its limit (~20 ms)
AGENT_PROCESSES = 16  #: E: a quota an agent platform might give one container
SLOWED = 1.10  #: a bystander whose busy time grew by this factor is reported as slowed
IDLE_ATTACK = ("files", "1", "0")  #: the baseline's container 0: one descriptor, no hold
HOG_LINE = re.compile(rb"hog \w+: (\d+) (\w+), stopped by (.+)")
#: Who sets the limits of what a container takes from the host: ``docker``, Docker's
#: defaults (none: the machine's size); ``operator``, a careful operator (each
#: container's share). Reported as the kernel's name, and KERNEL+limits.
LIMIT_SETTERS = ("docker", "operator")
#: RLIMIT_NOFILE in every container: the soft limit Docker's containers start with
#: (containerd's default; systemd's too), set here rather than taken from the host
#: so that the descriptor attack is the same on every machine.
NOFILE = 1024
LIMITS = "+limits"

DOC = f"""\
**What it measures.** Whether one container exhausting a kernel resource
denies it to the others. Container 0 runs `@hog KIND`: a fork bomb (`fork`:
children that sleep {HOLD_MS} ms), descriptor exhaustion (`files`), a memory
hog (`memory`: 1 MiB mappings) or a disk fill (`disk`: 64 KiB writes); it
stops at the kernel's first refusal, holds what it got for {HOLD_MS} ms and
exits. The other containers run `@bystander`: {ROUNDS} rounds, {GAP_MS} ms
apart, starting after {DELAY_MS} ms, each forking a child, opening 8
descriptors, mapping 1 MiB and writing 64 KiB; it exits 1 naming what failed.

**How.** Each kernel runs the same programs; limits follow from where state
lives. A resource the architecture takes from the host (the task table of a
shared kernel; RAM when `memory_from_host`; disk when `storage_from_host`) is
one machine-wide pool, and each container's own limit is set at the machine's
size: Docker's default (no pids, memory or storage limit). Otherwise each
container's limit is its reservation, the machine's amount divided by the
containers. Such a kernel runs a second time as `KERNEL+limits`, with the limits
a careful operator sets: `pids.max`, `memory.max` and a storage quota at each
container's share of the machine (the machine's amount divided by the containers,
as the reservations are). Descriptors are per process everywhere (RLIMIT_NOFILE,
1024 in both; the model has no kernel-wide descriptor table to share). The machine
is scaled down to keep runs short: `threads_max` {THREADS_MAX} tasks, `memory_mb`
{MEMORY_MB}, `disk_mb` {DISK_MB}. Each kernel also runs with every container
under each personality stack given (`--personality`; default none and the
`agent` quotas: {AGENT_PROCESSES} processes, memory and bytes written at the
container's share). A row per kernel x stack x attack gives what the attacker
got and what stopped it (`EAGAIN`, `EMFILE`, `ENOMEM`, `ENOSPC`, `EDQUOT`), how
many bystanders failed and their first failure, and the bystanders' slowdown
(core time with the attack / with an idle container 0, slowed past {SLOWED}).

**Settings** (`--set`): `attacks=a,b,...` (default all four), `threads_max`,
`memory_mb`, `disk_mb`, `hold_ms`, `limits=docker,operator` (default both: who
sets the limits of a kernel that takes resources from the host).
"""


def agent_stack(containers: int, memory: int = MEMORY_MB * MIB,
                disk: int = DISK_MB * MIB) -> tuple[str, ...]:
    """The agent personality with quotas of one container's share of the machine (and
    writes to /dev/coffer, the simulator's operation counter, allowed besides /tmp)."""
    return (f"agent:write=/tmp:/dev/coffer,max_processes={AGENT_PROCESSES},"
            f"max_memory={memory // containers},max_bytes_written={disk // containers}",)


def takes_from_host(kernel: str) -> bool:
    """Whether ``kernel`` takes a resource from a machine-wide pool (where Docker's
    defaults and a careful operator's limits differ)."""
    arch = architecture(kernel)
    return arch.shared_kernel or arch.memory_from_host or arch.storage_from_host


def variants(kernel: str, setters: tuple[str, ...] = LIMIT_SETTERS) -> list[str]:
    """The configurations ``kernel`` is reported as: itself (Docker's defaults) and,
    when it takes from the host, ``KERNEL+limits`` (the operator's)."""
    return [kernel if setter == "docker" else kernel + LIMITS for setter in setters
            if setter == "docker" or takes_from_host(kernel)]


def base_kernel(label: str) -> str:
    """The kernel of a configuration label (``linux+limits`` -> ``linux``)."""
    return label.removesuffix(LIMITS)


def _configs(params: ExperimentParams, kernel: str, stack: tuple[str, ...], machine: dict[str,
             int], operator: bool = False) -> list[CofferConfig]:
    """Each container's limits: the machine's size for what comes from the host pool
    (Docker's defaults) unless ``operator`` sets them, else its share of the machine."""
    arch = architecture(kernel)
    share = params.containers
    pooled = {"threads_max": arch.shared_kernel and not operator,
              "memory": arch.memory_from_host and not operator,
              "disk": arch.storage_from_host and not operator}
    tasks, memory, disk = (machine[name] if pooled[name] else machine[name] // share
                           for name in ("threads_max", "memory", "disk"))
    return [CofferConfig(name=f"c{index}", seed=params.seed + index, nproc_limit=tasks,
                         memory_limit=memory, disk_limit=disk, personalities=stack,
                         nofile_limit=NOFILE)
            for index in range(params.containers)]


def _run(label: str, params: ExperimentParams, stack: tuple[str, ...], hog: tuple[str, ...],
         machine: dict[str, int]) -> RunReport:
    kernel = base_kernel(label)
    configs = _configs(params, kernel, stack, machine, operator=label != kernel)
    bystander = (str(ROUNDS), str(GAP_MS), str(DELAY_MS))
    specs = [ContainerSpec(resolve_program("@hog"), hog, configs[0])] + [
        ContainerSpec(resolve_program("@bystander"), bystander, config)
        for config in configs[1:]]
    base = MachineConfig(threads_max=machine["threads_max"], memory_bytes=machine["memory"],
                         disk_bytes=machine["disk"])
    return run_mix(specs, kernel=kernel, cores=params.cores,
                   machine=machine_for(kernel, params.cores, configs[0].kernel_costs, base))


def _hog_args(attack: str, machine: dict[str, int], hold_ms: int) -> tuple[str, ...]:
    # N: past anything the machine has, so only a kernel limit stops the hog.
    amounts = {"fork": machine["threads_max"] + 1, "files": 1 << 20,
               "memory": machine["memory"] // MIB + 1, "disk": machine["disk"] // MIB + 1}
    return (attack, str(amounts[attack]), str(hold_ms))


def _busy(report: RunReport, name: str) -> float:
    return report.machine.times[name].busy


def setters(params: ExperimentParams) -> tuple[str, ...]:
    """Who sets the limits (``--set limits=...``), or a one-line ConfigError."""
    chosen = tuple(s for s in str(params.option("limits", ",".join(LIMIT_SETTERS))).split(",")
                   if s)
    if unknown := [s for s in chosen if s not in LIMIT_SETTERS]:
        raise ConfigError(f"--set limits: unknown {', '.join(unknown)}; choose from "
                          f"{', '.join(LIMIT_SETTERS)}")
    if not chosen:
        raise ConfigError("--set limits=: name docker, operator or both")
    return chosen


def check(params: ExperimentParams) -> tuple[tuple[str, ...], dict[str, int], int]:
    """The attacks, machine limits and hold time asked for, or a one-line ConfigError."""
    setters(params)
    attacks = tuple(a for a in str(params.option("attacks", ",".join(ATTACKS))).split(",") if a)
    if unknown := [a for a in attacks if a not in ATTACKS]:
        raise ConfigError(f"--set attacks: unknown {', '.join(unknown)}; choose from "
                          f"{', '.join(ATTACKS)}")
    if not attacks:
        raise ConfigError("--set attacks=: name at least one attack")
    machine = {"threads_max": params.option("threads_max", THREADS_MAX, minimum=1),
               "memory": params.option("memory_mb", MEMORY_MB, minimum=1) * MIB,
               "disk": params.option("disk_mb", DISK_MB, minimum=1) * MIB}
    return attacks, machine, params.option("hold_ms", HOLD_MS, minimum=0)


def run(params: ExperimentParams) -> ExperimentResult:
    attacks, machine, hold_ms = check(params)
    stacks = params.personalities
    if stacks == ((),):  # the default: compare no personality with the agent's quotas
        stacks = ((), agent_stack(params.containers, machine["memory"], machine["disk"]))
    rows: list[dict[str, Any]] = []
    for kernel in params.each_kernel("exhaustion"):
        for label in variants(kernel, setters(params)):
            for stack in stacks:
                idle = _run(label, params, stack, IDLE_ATTACK, machine)
                for attack in attacks:
                    report = _run(label, params, stack, _hog_args(attack, machine, hold_ms),
                                  machine)
                    rows.append(_row(label, stack, attack, report, idle))
    return ExperimentResult(
        name=NAME, rows=rows, finding=finding(rows),
        configuration=configuration(params, attacks=list(attacks),
                                    threads_max=machine["threads_max"],
                                    memory_bytes=machine["memory"], disk_bytes=machine["disk"],
                                    hold_ms=hold_ms, stacks=[list(s) for s in stacks],
                                    limits=list(setters(params))),
        draw=lambda path: draw(rows, path),
        columns=("kernel", "personality", "attack", "attacker_got", "attacker_stopped_by",
                 "bystanders_failed", "bystander_failure", "bystander_slowdown", "outcome"))


def _row(kernel: str, stack: tuple[str, ...], attack: str, report: RunReport,
         idle: RunReport) -> dict[str, Any]:
    hog = report.containers[0]
    found = HOG_LINE.search(hog.stdout)
    got = f"{int(found[1])} {found[2].decode()}" if found else ""
    stopped = found[3].decode() if found else f"exit {hog.exit_code}"
    bystanders = report.containers[1:]
    failed = [c for c in bystanders if c.exit_code != 0]
    failure = next((c.stdout.decode(errors="replace").strip().splitlines()[0]
                    for c in failed if c.stdout.strip()), "")
    if failed and not failure:
        failure = f"exit {failed[0].exit_code}"
    slowdown = max((_busy(report, c.name) / _busy(idle, c.name)  # (of those that finished:
                    for c in bystanders if _busy(idle, c.name) and c not in failed),
                   default=None)  # a failed run's time says nothing)
    outcome = ("bystander failed" if failed else
               "bystander slowed" if slowdown is not None and slowdown > SLOWED else "contained")
    return {"kernel": kernel, "personality": stack_label(stack), "attack": attack,
            "attacker_got": got, "attacker_stopped_by": stopped,
            "bystanders": len(bystanders), "bystanders_failed": len(failed),
            "bystander_failure": failure, "bystander_slowdown": slowdown,
            "outcome": outcome}


def finding(rows: list[dict[str, Any]]) -> str:
    """Which kernel x stack x attack let the attack reach the bystanders, from the rows."""
    reached = [f"{r['attack']} on {r['kernel']} ({r['personality']}: {r['bystander_failure']})"
               for r in rows if r["outcome"] == "bystander failed"]
    slowed = [f"{r['attack']} on {r['kernel']} ({r['personality']}, "
              f"x{r['bystander_slowdown']:.2f})"
              for r in rows if r["outcome"] == "bystander slowed"]
    contained = sum(1 for r in rows if r["outcome"] == "contained")
    parts = [f"{contained} of {len(rows)} kernel x personality x attack runs contained the "
             "attack in its container (the hog stopped at its own limit, every bystander "
             "succeeded)."]
    if reached:
        parts.append("Bystanders failed for " + "; ".join(reached) + ".")
    if slowed:
        parts.append("Bystanders slowed for " + "; ".join(slowed) + ".")
    return " ".join(parts)


def draw(rows: list[dict[str, Any]], path: str) -> None:
    """A grid: kernel x personality (rows) by attack (columns), coloured by outcome."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from cofferos.results.labels import short_labels
    from cofferos.results.plot import OKABE_ITO

    colours = {"contained": OKABE_ITO[2], "bystander slowed": OKABE_ITO[1],
               "bystander failed": OKABE_ITO[5]}
    lines = list(dict.fromkeys((r["kernel"], r["personality"]) for r in rows))
    attacks = list(dict.fromkeys(r["attack"] for r in rows))
    figure = Figure(figsize=(1.8 * len(attacks) + 3, 0.45 * len(lines) + 1.6))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for y, line in enumerate(lines):
        for x, attack in enumerate(attacks):
            row = next((r for r in rows if (r["kernel"], r["personality"]) == line
                        and r["attack"] == attack), None)
            if row is None:
                continue
            axes.add_patch(_cell(x, y, colours[row["outcome"]]))
            axes.text(x, y, row["attacker_stopped_by"], ha="center", va="center",
                      fontsize="small")
    axes.set_xlim(-0.5, len(attacks) - 0.5)
    axes.set_ylim(len(lines) - 0.5, -0.5)
    axes.set_xticks(range(len(attacks)), attacks)
    short = short_labels(p for _, p in lines)  # stacks without their options
    axes.set_yticks(range(len(lines)), [f"{k} / {short[p]}" for k, p in lines])
    axes.set_xlabel("attack in container 0 (cell text: what stopped the attacker)")
    axes.legend(handles=[Patch(color=c, label=o) for o, c in colours.items()],
                loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=150)


def redraw(result: ExperimentResult, out: str) -> None:
    """The figure of a result, run or loaded from its directory."""
    draw(result.rows, out)


def _cell(x: int, y: int, colour: str) -> Any:
    from matplotlib.patches import Rectangle
    return Rectangle((x - 0.48, y - 0.45), 0.96, 0.9, color=colour)


def isolation_checks(result: ExperimentResult) -> dict[tuple[str, str], list[tuple[str, bool]]]:
    """One check per kernel x personalities x attack, passed when the attack stayed in its
    container and no bystander was slowed (``tradeoff``)."""
    checks: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for row in result.rows:
        checks.setdefault((row["kernel"], row["personality"]), []).append(
            (f"exhaustion.{row['attack']}", row["outcome"] == "contained"))
    return checks
