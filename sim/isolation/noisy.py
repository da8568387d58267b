"""``noisy-neighbor``: a victim container next to neighbours storming one shared kernel path.

Container 0 runs the victim (``@metadata`` by default, which marks every
iteration on ``/dev/coffer/ops``); containers 1..N-1 run ``@storm KIND``, a
loop over one kernel path. For each kernel and each storm the victim runs twice
on the same machine and cores: *alone* (its neighbours idle: one storm
iteration each, then exit) and *with* the storm (the neighbours loop until the
victim has finished; the machine stops then). The rows compare its throughput,
p99 latency and kernel-lock wait between the two runs.

Nothing here is decided per architecture: the neighbours slow the victim through
the locks the timing machine places per kernel (:mod:`cofferos.sim.locks`: one
lock of each kind for a shared kernel, one per container otherwise) and through
the shared-hardware model that applies to every kernel alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import simpy

from cofferos.api import resolve_program
from cofferos.coffers.coffer import CofferConfig
from cofferos.coffers.syscalls.numbers import SYSCALL_NAMES
from cofferos.sim.experiment import ContainerSpec, RunReport, run_mix
from cofferos.sim.isolation.common import ExperimentParams, ExperimentResult, configuration
from cofferos.sim.kernels import architecture
from cofferos.sim.locks import CALL_LOCKS
from cofferos.sim.machine import DEFAULT_SLICE, Machine, MachineConfig
from cofferos.timing import machine_for

NAME = "noisy-neighbor"
DESCRIPTION = "a victim next to neighbours storming shared kernel paths: throughput, p99"
STORMS: tuple[str, ...] = ("create", "fork", "net", "pagecache", "mount")
VICTIM = "metadata"
#: The settings ``--set KEY=VALUE`` takes (see DOC).
OPTIONS = ("storms", "victim", "victim_iterations")
VICTIM_DIR = "/tmp/shared"  #: metadata.c's default tree, the one storm.c's create uses
VICTIM_ITERATIONS = 300  #: E: ~2.5 ms of simulated time, p99 over 300 marks
STORM_BOUND = 10_000_000  #: iterations no storm reaches: the machine stops it first
IDLE_ITERATIONS = 1  #: an idle neighbour: one iteration, then exit
WATCH_NS = 20_000  #: E: how often (simulated) the machine checks whether the victim is done
#: The functional slice of every coffer: the timing machine's own (its reordering bound).
SLICE_INSTRUCTIONS = DEFAULT_SLICE
#: Its own machine unless --containers/--cores say otherwise: a victim and 7 neighbours on
#: 8 cores, where a shared kernel's locks start to matter (with 2 neighbours they barely do).
DEFAULTS = {"containers": 8, "cores": 8}
KEEPS = 0.9  #: a victim keeping this share of its throughput alone passes the isolation check
MEASURES = ("throughput", "p99_us", "lock_wait_us")
NS_PER_US = 1_000
REFUSED_MARK = b" failed: "  #: storm.c's first-failure line: "storm KIND: CALL failed: ERR"
SLOWED = 0.05  #: a ratio this far below the private kernels' is reported as a slowdown

DOC = f"""\
**What it measures.** Whether containers that hammer a kernel path slow a
victim in another container. Container 0 runs the victim (`@{VICTIM}`,
{VICTIM_ITERATIONS} create/write/read/stat/unlink iterations, each marked as
one operation); the other containers run `@storm KIND`, a loop over one path:
`create` (open(O_CREAT)/stat/unlink in the victim's directory tree: path walk,
dentry and inode-hash locks), `fork` (fork + wait: the task list lock), `net`
(UDP sendto/recvfrom on loopback: the network stack lock), `pagecache` (mmap,
touch 16 pages, munmap: the zone lock) and `mount` (mount/umount2 of a tmpfs:
a coffer is root in its own user and mount namespace and may mount a tmpfs, as a
rootless container may; each call walks its path and then holds the mount lock
for writing, the lock every path walk takes to read the mount table). A storm
whose calls fail says what the kernel answered (`storm_refused`; empty when
nothing failed).

**How.** For each kernel and storm the victim runs *alone* (the neighbours
idle: one iteration each) and *with* the storm (the neighbours loop until the
victim is done, then the machine stops), on the same machine and cores. Rows
give, per kernel x storm x measure, the value alone, with the storm and their
ratio: victim throughput (ops/s), p99 latency of one operation (us) and the
victim's time spinning on kernel locks (us), plus the locks the storm's calls
take (`storm_locks`). Slowdown that every kernel shows comes from the
shared-hardware model (`hardware_contention`, user time only); what only a shared
kernel shows is lock wait. Contention grows with the number of neighbours, so
this experiment's own default is a victim and 7 neighbours on 8 cores (with 2
neighbours on 4 cores linux keeps 99% of its victim's throughput on the create
storm; with 7, 83%).

**Settings** (`--set`): `storms=a,b,...` (default all five), `victim=NAME`
(default `{VICTIM}`; `same`: the victim runs the storm's own path, marking each
iteration), `victim_iterations=N` (default {VICTIM_ITERATIONS}).
"""


def _stop_when_done(victim: str) -> Any:
    """A ``prepare`` hook: stop the machine once container ``victim`` has finished."""
    def prepare(machine: Machine) -> None:
        def watch() -> Any:
            while victim not in machine.finished_ns:
                yield machine.env.timeout(WATCH_NS)
            stop = machine.env.event()
            stop.callbacks.append(simpy.core.StopSimulation.callback)
            stop.succeed()
        machine.env.process(watch())
        prepare.machine = machine  # type: ignore[attr-defined]
    return prepare


def _storm_locks(machine: Machine, idle: Machine, neighbours: Sequence[int]) -> str:
    """The lock kinds taken by the calls of the neighbours' storm loops: the calls they
    made beyond what the same neighbours made idle (start-up and one iteration)."""
    kinds: set[str] = set()
    for index in neighbours:
        before = idle.coffers[index].stats.calls
        for nr, count in enumerate(machine.coffers[index].stats.calls):
            if count > (before[nr] if nr < len(before) else 0):
                kinds.update(use.lock for use in CALL_LOCKS.get(SYSCALL_NAMES.get(nr, ""), ()))
    return ",".join(sorted(kinds)) or "none"


def _refused(report: RunReport) -> str:
    """What the kernel answered a neighbour's failing call ('' when nothing failed)."""
    for container in report.containers[1:]:
        for line in container.stdout.splitlines():
            if REFUSED_MARK in line:
                return line.split(b": ", 1)[1].decode(errors="replace")
    return ""


def _run(kernel: str, params: ExperimentParams, victim: ContainerSpec, storm: str,
         iterations: int) -> tuple[RunReport, Machine]:
    base = CofferConfig(seed=params.seed, slice_instructions=SLICE_INSTRUCTIONS)
    neighbour = ContainerSpec(resolve_program("@storm"), (storm, str(iterations)))
    hook = _stop_when_done("c0")
    report = run_mix([victim] + [neighbour] * (params.containers - 1), kernel=kernel,
                     cores=params.cores, base=base, prepare=hook,
                     machine=machine_for(kernel, params.cores, base.kernel_costs))
    return report, hook.machine


def _victim(name: str, storm: str, iterations: int) -> ContainerSpec:
    if name == "same":
        return ContainerSpec(resolve_program("@storm"), (storm, str(iterations)))
    args = (VICTIM_DIR, str(iterations)) if name == VICTIM else (str(iterations),)
    return ContainerSpec(resolve_program(f"@{name}"), args)


def run(params: ExperimentParams) -> ExperimentResult:
    storms = tuple(s for s in str(params.option("storms", ",".join(STORMS))).split(",") if s)
    unknown = [s for s in storms if s not in STORMS]
    if unknown:
        from cofferos.errors import ConfigError
        raise ConfigError(f"--set storms: unknown {', '.join(unknown)}; choose from "
                          f"{', '.join(STORMS)}")
    victim_name = str(params.option("victim", VICTIM))
    iterations = params.option("victim_iterations", VICTIM_ITERATIONS)
    rows: list[dict[str, Any]] = []
    neighbours = range(1, params.containers)
    for kernel in params.each_kernel("noisy-neighbor"):
        alone_cache: dict[str, tuple[RunReport, Machine]] = {}
        for storm in storms:
            victim = _victim(victim_name, storm, iterations)
            key = storm if victim_name == "same" else ""
            if key not in alone_cache:
                alone_cache[key] = _run(kernel, params, victim, storm, IDLE_ITERATIONS)
            alone, idle = alone_cache[key]
            noisy, machine = _run(kernel, params, victim, storm, STORM_BOUND)
            common = {"kernel": kernel, "storm": storm,
                      "shared_kernel": architecture(kernel).shared_kernel,
                      "storm_locks": _storm_locks(machine, idle, neighbours),
                      "storm_refused": _refused(noisy)}
            for measure, before, after in _measures(alone, noisy):
                ratio = after / before if before and after is not None else None
                rows.append({**common, "measure": measure, "alone": before, "with_storm": after,
                             "ratio": ratio})
    return ExperimentResult(
        name=NAME, rows=rows, finding=finding(rows),
        configuration=configuration(params, victim=victim_name, victim_iterations=iterations,
                                    storms=list(storms), slice_instructions=SLICE_INSTRUCTIONS,
                                    hardware_contention=MachineConfig().hardware_contention),
        draw=lambda path: draw(rows, path),
        columns=("kernel", "storm", "measure", "alone", "with_storm", "ratio", "storm_locks",
                 "storm_refused"))


def _measures(alone: RunReport, noisy: RunReport) -> list[tuple[str, Any, Any]]:
    a, b = alone.containers[0], noisy.containers[0]
    waits = [report.machine.times[a.name].lock_wait / NS_PER_US for report in (alone, noisy)]
    return [("throughput", a.throughput, b.throughput), ("p99_us", a.p99_us, b.p99_us),
            ("lock_wait_us", waits[0], waits[1])]


def _ratio(rows: list[dict[str, Any]], kernel: str, storm: str, measure: str) -> float | None:
    for row in rows:
        if (row["kernel"], row["storm"], row["measure"]) == (kernel, storm, measure):
            return row["ratio"]
    return None


def finding(rows: list[dict[str, Any]]) -> str:
    """The storms that slow the victim only where kernels are shared, from the rows."""
    kernels = list(dict.fromkeys(row["kernel"] for row in rows))
    storms = list(dict.fromkeys(row["storm"] for row in rows))
    shared = {row["kernel"] for row in rows if row["shared_kernel"]}
    private = [k for k in kernels if k not in shared]
    parts = []
    for storm in storms:
        ratios = {k: _ratio(rows, k, storm, "throughput") for k in kernels}
        floor = min((r for k, r in ratios.items() if k in private and r is not None),
                    default=1.0)
        slowed = [k for k in shared if ratios[k] is not None and ratios[k] < floor - SLOWED]
        waits = [k for k in kernels if any(
            row["kernel"] == k and row["storm"] == storm and row["measure"] == "lock_wait_us"
            and (row["with_storm"] or 0) > (row["alone"] or 0) for row in rows)]
        text = ", ".join(f"{k} {r:.2f}" for k, r in ratios.items() if r is not None)
        verdict = (f"slows the victim on {', '.join(sorted(slowed))} (lock wait)" if slowed
                   else "no shared-kernel slowdown beyond the private kernels'")
        refused = next((row["storm_refused"] for row in rows
                        if row["storm"] == storm and row["storm_refused"]), "")
        note = f"; the storm's calls were refused ({refused})" if refused else ""
        lock_note = f"; victim lock wait on {', '.join(waits)}" if waits else ""
        parts.append(f"`{storm}`: throughput with/alone {text}: {verdict}{lock_note}{note}.")
    hardware = min((r for k in private for s in storms
                    if (r := _ratio(rows, k, s, "throughput")) is not None), default=None)
    tail = (f" On kernels with private state the worst ratio is {hardware:.2f}: the "
            "shared-hardware slowdown, the same for every kernel." if hardware is not None else "")
    return " ".join(parts) + tail


def draw(rows: list[dict[str, Any]], path: str) -> None:
    """Victim throughput and p99 ratios (with storm / alone), grouped by storm."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from cofferos.results.plot import OKABE_ITO

    kernels = list(dict.fromkeys(row["kernel"] for row in rows))
    storms = list(dict.fromkeys(row["storm"] for row in rows))
    figure = Figure(figsize=(9, 3.6))
    FigureCanvasAgg(figure)
    width = 0.8 / max(len(kernels), 1)
    for panel, (measure, label) in enumerate((
            ("throughput", "victim throughput, with storm / alone"),
            ("p99_us", "victim p99 latency, with storm / alone"))):
        axes = figure.add_subplot(1, 2, panel + 1)
        for index, kernel in enumerate(kernels):
            values = [_ratio(rows, kernel, storm, measure) or 0.0 for storm in storms]
            axes.bar([s + (index - (len(kernels) - 1) / 2) * width for s in range(len(storms))],
                     values, width, label=kernel, color=OKABE_ITO[index % len(OKABE_ITO)])
        axes.axhline(1.0, color="black", linewidth=0.8)
        axes.set_xticks(range(len(storms)), storms)
        axes.set_xlabel("neighbours' storm")
        axes.set_ylabel(f"{label} (ratio)")
    figure.axes[0].legend(title="kernel", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=150)


def isolation_checks(result: ExperimentResult) -> dict[tuple[str, str], list[tuple[str, bool]]]:
    """One check per kernel x storm, passed when the victim kept :data:`KEEPS` of its
    throughput alone (``tradeoff``). Personalities are not varied: it counts for each."""
    checks: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for row in result.rows:
        if row["measure"] == "throughput":
            kept = row["ratio"] is not None and row["ratio"] >= KEEPS
            checks.setdefault((row["kernel"], "none"), []).append((f"noisy.{row['storm']}", kept))
    return checks
