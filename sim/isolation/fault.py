"""The ``fault`` experiment: a kernel bug in one container, and its blast radius.

For each kernel architecture, the same containers run the same workload twice
in the same simulated window: once clean (the baseline) and once with a fault
injected (:mod:`.faults`) into a kernel path called by container 0. Each
container is then classed by comparing its operations after the fault with the
baseline's: ``died`` (the fault killed it), ``failed`` (it ended with an error
of its own: a wrong result, which ``@metadata`` checks on every read), ``hung``
(no operation after the fault, where the baseline made some), ``degraded`` (it
lost more operations after the fault than the spread of repeated clean runs)
or ``ok``. The clean run is repeated :data:`REPEATS` times with the containers
arriving up to :data:`ARRIVAL_JITTER_NS` apart (seeded); the range of each
container's operations after the fault's time over those runs is its spread.
Lost work is the baseline's operations minus the faulted run's, inside the window.
A bystander (any container but the trigger) is *hit* only when harm is observed:
it died, failed, hung or was degraded.

Recovery follows from the same structure: a kernel domain left broken (a panic,
a lock held for ever, a corrupted object, leaked memory, a locked-up core) can
only be repaired by restarting that kernel (``restart_kernel_ns``: reboot the
host, the VM, the sandbox, or make a new coffer), after which every container
it served starts again; a container killed in a sound kernel only restarts
(``restart_container_ns``). A hung container is first noticed by a liveness
probe (:data:`HANG_DETECTION_NS`). Whether a kernel that also serves a bystander
is left broken is reported apart (``shared_kernel_restart``): it must be restarted,
and its bystanders with it, even if none of them has lost work yet.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from cofferos.coffers.coffer import CofferConfig
from cofferos.coffers.program import resolve_program
from cofferos.errors import ConfigError
from cofferos.sim.experiment import ContainerSpec, run_mix
from cofferos.sim.isolation.common import (
    ExperimentParams,
    ExperimentResult,
    configuration,
    stack_label,
)
from cofferos.sim.isolation.faults import FAULT_KINDS, FaultInjector, FaultSpec
from cofferos.sim.kernels import architecture
from cofferos.sim.machine import Machine
from cofferos.timing import machine_for

DESCRIPTION = "a kernel bug in one container: who dies, hangs or loses work, time to recover"
WORKLOAD = "@metadata"
#: The experiment runs once per ``--personality`` stack.
VARIES_PERSONALITIES = True
#: The settings ``--set KEY=VALUE`` takes (see DOC).
OPTIONS = ("kinds", "path", "container", "at_us", "leak_mb", "memory_mb", "repeats")
WORKLOAD_DIR = "/tmp/shared"
ITERATIONS = "1000000"  #: more than the window holds: every container is busy throughout
WINDOW_NS = 2_000_000  #: simulated run after boot: about 250 iterations of each container
FAULT_AT_NS = 500_000  #: simulated time after boot from which the fault can trigger
SLICE_INSTRUCTIONS = 2_000  #: short slices: a fault lands within ~25 iterations of its time
REPEATS = 5  #: E: clean runs whose range is the spread a fault's harm must exceed
ARRIVAL_JITTER_NS = 8_000  #: E: about one @metadata iteration (2 ms / 250): arrival offsets
HANG_DETECTION_NS = 30_000_000_000  #: M: Kubernetes liveness probe defaults, 3 x 10 s
DEFAULT_LEAK_MB = 4  #: E: leaked per call of the path, MiB (a large leak, to be seen quickly)
MEMORY_MB = 256  #: the scaled-down machine's RAM, so a leak exhausts it within the window
MIB = 1 << 20
NS_PER_SECOND = 1e9
NS_PER_US = 1_000

DOC = f"""\
Container 0 (`--set container=N`) triggers a kernel bug in the path of one system call
(`--set path=openat`, the default) at its first call of that path from
{FAULT_AT_NS // 1000} us of simulated time after boot (`--set at_us=T`); every container runs
`{WORKLOAD} {WORKLOAD_DIR}` (create, write, read, stat and unlink files) for a window of
{WINDOW_NS / 1e6:g} ms, once clean and once with the fault. Faults (`--set kinds=...`):
`panic` (the kernel stops), `oops` (the calling task is killed and the path's locks stay
held), `corrupt` (the objects the path touches are corrupted: the next call touching
them oopses), `lockup` (the task spins in the kernel for ever with its core and locks),
`leak` (every call of the path leaks `--set leak_mb=4` MiB of kernel memory; the machine
has `--set memory_mb={MEMORY_MB}` MiB so that the leak runs out within the window).

The fault lands in the kernel that serves the call: the caller's *kernel domain*. The
blast radius then follows from what that domain holds: on `linux` every container
shares the host kernel's domain, locks and RAM; a coffer, a VM's guest kernel and a
sandbox's Sentry each hold their own (a sandbox's memory still comes from the host).
Nothing is decided per architecture. Recovery: a broken kernel domain is restarted
(host reboot {architecture('linux').restart_kernel_ns / 1e9:g} s, microVM boot
{architecture('vm').restart_kernel_ns / 1e6:g} ms, sandbox start
{architecture('sandbox').restart_kernel_ns / 1e6:g} ms, new coffer
{architecture('cofferos').restart_kernel_ns / 1e6:g} ms, all E/M in sim/kernels.py) with
every container it served; a hang is noticed after {HANG_DETECTION_NS / 1e9:g} s (a
Kubernetes liveness probe's defaults).

**Reading the table.** `died`, `failed` (it ended with an error of its own, such as
a wrong result: `@metadata` checks every file it reads back), `hung` (no operation in
the second half of the time after the fault) and `degraded` (it lost more operations
after the fault than `spread_ops`) count containers. `spread_ops` is the widest range,
over the containers, of operations after the fault's time in {REPEATS} clean runs whose
containers arrive up to {ARRIVAL_JITTER_NS / NS_PER_US:g} us apart (`--set repeats=N`).
`bystanders_hit` counts the *other* containers with observed harm: died, failed, hung
or degraded. `shared_kernel_restart` says whether the fault left a kernel that also
serves another container broken (a panic, a lock held for ever, a corrupted object,
leaked kernel memory): that kernel must be restarted, with every container it serves,
even when none of them has lost work yet. `lost_ops_pct` is the work of the window
lost against the clean run; `recovery_s` the longest recovery, counting that restart.
A leak of 0 MiB breaks nothing.
"""

COLUMNS = ("kernel", "personalities", "fault", "died", "failed", "hung", "degraded",
           "bystanders_hit", "shared_kernel_restart", "spread_ops", "lost_ops_pct",
           "recovery_s")
HARMED = ("died", "failed", "hung", "degraded")  #: outcomes that are observed harm


def _config(params: ExperimentParams, memory_mb: int, stack: tuple[str, ...]) -> CofferConfig:
    limit = memory_mb * MIB // params.containers
    return CofferConfig(seed=params.seed, memory_limit=limit, personalities=stack)


def _arrivals(params: ExperimentParams, repeat: int) -> list[int]:
    """Each container's arrival offset (ns) in clean run ``repeat``: none in the first
    (the one the faulted run matches), seeded offsets below ARRIVAL_JITTER_NS after it."""
    if repeat == 0:
        return [0] * params.containers
    draw = random.Random(f"fault-arrivals:{params.seed}:{repeat}")
    return [draw.randrange(ARRIVAL_JITTER_NS) for _ in range(params.containers)]


def _arrive_late(machine: Machine, offsets: list[int], boot_ns: int) -> None:
    """Start each container's first task ``offsets[i]`` ns after the others would: the
    machine starts a task at time 0 unless it has already started it, so mark it started
    and start its thread later (its kernel's boot first, as the machine does)."""
    for coffer, offset in zip(machine.coffers, offsets, strict=True):
        if offset:
            for task in list(coffer.tasks.values()):
                machine.started.add(task)
                machine.env.process(_start_at(machine, task, boot_ns + offset))


def _start_at(machine: Machine, task: Any, at_ns: int) -> Any:
    yield machine.env.timeout(at_ns)
    machine.env.process(machine._thread(task))  # (the machine's own thread body)


def _run(params: ExperimentParams, kernel: str, stack: tuple[str, ...], spec: FaultSpec | None,
         memory_mb: int, arrivals: list[int] | None = None
         ) -> tuple[list[Any], FaultInjector | None, dict[str, list[int]]]:
    """One run; returns the containers' reports, the injector and each one's op times."""
    base = _config(params, memory_mb, stack)
    arch = architecture(kernel)
    machine = replace(machine_for(kernel, params.cores, base.kernel_costs),
                      until_ns=arch.boot_ns + WINDOW_NS, memory_bytes=memory_mb * MIB,
                      slice_instructions=SLICE_INSTRUCTIONS)
    program = resolve_program(WORKLOAD)
    specs = [ContainerSpec(program, (WORKLOAD_DIR, ITERATIONS))] * params.containers
    held: dict[str, Any] = {}

    def prepare(simulated: Machine) -> None:
        held["machine"] = simulated
        if arrivals is not None and any(arrivals):
            _arrive_late(simulated, arrivals, arch.boot_ns)
        if spec is not None:
            held["injector"] = FaultInjector(replace(spec, at_ns=arch.boot_ns + spec.at_ns),
                                             simulated)

    report = run_mix(specs, kernel=kernel, cores=params.cores, base=base,
                     machine=machine, prepare=prepare)
    marks = {c.config.name: [t for t, _label in c.stats.ops] for c in held["machine"].coffers}
    return report.containers, held.get("injector"), marks


@dataclass(frozen=True)
class Baseline:
    """The clean runs: each container's operation times in each (the first is the run
    the faulted run is compared with; the others arrive at other offsets)."""

    runs: tuple[dict[str, list[int]], ...]

    @property
    def first(self) -> dict[str, list[int]]:
        return self.runs[0]

    def spread(self, name: str, fired: float) -> int:
        """The range of ``name``'s operations after ``fired`` over the clean runs."""
        after = [sum(1 for t in run[name] if t > fired) for run in self.runs]
        return max(after) - min(after)


def baseline(params: ExperimentParams, kernel: str, stack: tuple[str, ...], memory_mb: int,
             repeats: int) -> Baseline:
    return Baseline(tuple(_run(params, kernel, stack, None, memory_mb,
                               _arrivals(params, repeat))[2] for repeat in range(repeats)))


def _outcome(name: str, injector: FaultInjector, report: Any, progress: tuple[int, int],
             baseline: tuple[int, int], spread: int) -> str:
    """died, failed, hung, degraded or ok: ``progress`` and ``baseline`` are (operations
    after the fault, operations in the second half of the time after it)."""
    if name in injector.log.killed:
        return "died"
    if report.end_reason == "deadlock":
        return "hung"
    if report.exit_code != 0 and not report.cut_off:
        return "failed"  # it ended with an error of its own: a wrong result, a failed call
    after, tail = progress
    base_after, base_tail = baseline
    if base_tail and not tail:
        return "hung"  # (what a slice already under way finished right after is no progress)
    if base_after - after > spread:
        return "degraded"
    return "ok"


def _progress(times: list[int], fired: float, end: float) -> tuple[int, int]:
    middle = fired + (end - fired) / 2
    return sum(1 for t in times if t > fired), sum(1 for t in times if t > middle)


def _recovery_ns(kernel: str, outcome: str, broken: bool) -> int:
    arch = architecture(kernel)
    detect = HANG_DETECTION_NS if outcome == "hung" else 0
    if broken:
        return detect + arch.restart_kernel_ns + arch.restart_container_ns
    if outcome in ("died", "hung"):
        return detect + arch.restart_container_ns
    return 0


def _rows_for(params: ExperimentParams, kernel: str, stack: tuple[str, ...], kind: str,
              choice: Choice, clean: Baseline) -> list[dict[str, Any]]:
    path = choice.path
    spec = FaultSpec(kind, path=path, container=choice.container, at_ns=choice.at_ns,
                     leak_bytes=choice.leak_mb * MIB)
    reports, injector, marks = _run(params, kernel, stack, spec, choice.memory_mb)
    assert injector is not None
    fired = injector.log.fired_ns
    end = injector.machine.config.until_ns or injector.machine.env.now
    baseline = clean.first
    rows = []
    for index, report in enumerate(reports):
        name = report.name
        spread = 0 if fired is None else clean.spread(name, fired)
        outcome = "ok" if fired is None else _outcome(
            name, injector, report, _progress(marks[name], fired, end),
            _progress(baseline[name], fired, end), spread)
        served_by = injector.machine.coffers[index].domain.name
        broken = served_by in injector.log.broken  # (only a restart of it repairs it)
        lost = max(len(baseline[name]) - len(marks[name]), 0)
        rows.append({
            "kernel": kernel, "personalities": stack_label(stack), "fault": kind, "path": path,
            "container": name,
            "role": "trigger" if index == choice.container else "bystander",
            "outcome": outcome,
            "kernel_domain": served_by, "domain_broken": broken,
            "fired_us": None if fired is None else fired / 1e3,
            "ops_baseline": len(baseline[name]), "ops": len(marks[name]), "lost_ops": lost,
            "spread_ops": spread,
            "recovery_s": _recovery_ns(kernel, outcome, broken) / NS_PER_SECOND,
        })
    return rows


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per kernel x fault: what happened to the containers, in counts. A
    bystander counts as hit only with observed harm (:data:`HARMED`); one left on a
    broken kernel sets ``shared_kernel_restart`` instead."""
    table: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["kernel"], row["personalities"], row["fault"])
        line = table.setdefault(key, {"kernel": key[0], "personalities": key[1],
                                      "fault": key[2], **dict.fromkeys(HARMED, 0),
                                      "bystanders_hit": 0, "shared_kernel_restart": "no",
                                      "spread_ops": 0, "containers": 0, "ops_baseline": 0,
                                      "lost_ops": 0, "recovery_s": 0.0})
        line["containers"] += 1
        bystander = row["role"] == "bystander"
        if row["outcome"] in HARMED:
            line[row["outcome"]] += 1
            line["bystanders_hit"] += bystander
        if bystander and row["domain_broken"]:
            line["shared_kernel_restart"] = "yes"
        line["spread_ops"] = max(line["spread_ops"], row.get("spread_ops", 0))
        line["ops_baseline"] += row["ops_baseline"]
        line["lost_ops"] += row["lost_ops"]
        line["recovery_s"] = max(line["recovery_s"], row["recovery_s"])
    for line in table.values():
        line["lost_ops_pct"] = round(100.0 * line["lost_ops"] / max(line["ops_baseline"], 1), 1)
    return list(table.values())


@dataclass(frozen=True)
class Choice:
    """What ``--set`` chose: the faults, their path, who triggers them and when."""

    kinds: list[str]
    path: str
    container: int
    at_ns: int
    leak_mb: int
    memory_mb: int
    repeats: int


def check(params: ExperimentParams) -> Choice:
    """The faults, path, trigger and time asked for, or a one-line ConfigError first."""
    kinds = [k for k in str(params.option("kinds", ",".join(FAULT_KINDS))).split(",") if k]
    if not kinds:
        raise ConfigError("--set kinds=: name at least one fault")
    path = str(params.option("path", "openat"))
    for kind in kinds:
        FaultSpec(kind, path=path)
    container = params.option("container", 0)
    if not 0 <= container < (params.containers or 0):
        raise ConfigError(f"--set container={container}: choose 0 to {params.containers - 1}")
    at_ns = round(params.option("at_us", FAULT_AT_NS / NS_PER_US, minimum=0) * NS_PER_US)
    if not 0 <= at_ns < WINDOW_NS:
        raise ConfigError(f"--set at_us: the run lasts {WINDOW_NS / NS_PER_US:g} us after boot")
    return Choice(kinds, path, container, at_ns,
                  leak_mb=params.option("leak_mb", DEFAULT_LEAK_MB, minimum=0),
                  memory_mb=params.option("memory_mb", MEMORY_MB, minimum=1),
                  repeats=params.option("repeats", REPEATS, minimum=1))


def run(params: ExperimentParams) -> ExperimentResult:
    choice = check(params)
    rows: list[dict[str, Any]] = []
    for kernel in params.each_kernel("fault"):
        for stack in params.personalities:
            clean = baseline(params, kernel, stack, choice.memory_mb, choice.repeats)
            for kind in choice.kinds:
                rows.extend(_rows_for(params, kernel, stack, kind, choice, clean))
    summary = summarise(rows)
    return ExperimentResult(
        name="fault", rows=rows, summary=summary,
        configuration=configuration(params, workload=[WORKLOAD, WORKLOAD_DIR, ITERATIONS],
                                    window_ns=WINDOW_NS, fault_at_ns=choice.at_ns,
                                    path=choice.path, trigger_container=choice.container,
                                    kinds=choice.kinds, leak_mb=choice.leak_mb,
                                    memory_mb=choice.memory_mb, repeats=choice.repeats,
                                    arrival_jitter_ns=ARRIVAL_JITTER_NS,
                                    hang_detection_ns=HANG_DETECTION_NS),
        finding=_finding(summary, params.containers),
        draw=lambda out: draw(summary, out, params.containers), columns=COLUMNS)


def _finding(summary: list[dict[str, Any]], containers: int) -> str:
    parts = []
    for kernel, stack in dict.fromkeys((x["kernel"], x["personalities"]) for x in summary):
        lines = [x for x in summary if x["kernel"] == kernel and x["personalities"] == stack]
        worst = max(lines, key=lambda line: line["bystanders_hit"])
        label = kernel if stack == "none" else f"{kernel}+{stack}"
        hit = sum(1 for x in lines if x["bystanders_hit"])
        restart = [x["fault"] for x in lines if x["shared_kernel_restart"] == "yes"]
        parts.append(f"{label}: other containers harmed by {hit} of {len(lines)} faults "
                     f"(worst: {worst['fault']}, {worst['bystanders_hit']} of {containers - 1})"
                     + (f", a shared kernel to restart after {len(restart)} "
                        f"({', '.join(restart)})" if restart else ""))
    return "; ".join(parts) + "."


def isolation_checks(result: ExperimentResult) -> dict[tuple[str, str], list[tuple[str, bool]]]:
    """Per (kernel, personalities): one check per fault, passed when no other container
    was harmed and no kernel that serves another container must be restarted (the
    restart takes them down too: the tradeoff experiment's isolation score)."""
    checks: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for line in result.summary:
        passed = line["bystanders_hit"] == 0 and line.get("shared_kernel_restart") != "yes"
        checks.setdefault((line["kernel"], line["personalities"]), []).append(
            (f"fault.{line['fault']}", passed))
    return checks


def draw(summary: list[dict[str, Any]], out: str, containers: int) -> None:
    from cofferos.sim.isolation.figures import fault_figure

    fault_figure(summary, out, containers)


def redraw(result: ExperimentResult, out: str) -> None:
    """The figure of a result, run or loaded from its directory."""
    draw(result.summary or summarise(result.rows), out, result.configuration["containers"])
