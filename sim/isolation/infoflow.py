"""``infoflow``: a differential check for information channels between containers.

Container A (index 0) runs twice with a different secret: run 1 quiet, run 2
busy (processes, memory, descriptors, a file of the shared image read into the
page cache). Container B (index 1) runs the same observer program in both runs;
any other container runs the quiet program both times. Everything B can observe
is compared between the two runs: its stdout (one labelled line per observable,
see ``workloads/src/observer.c``), its exit status, and its sequence of
(system call, return value). Whatever differs is a channel from A to B, named by
the observable that differs.

Every channel is a *kernel* channel: shared caches and memory bandwidth are
turned off (``hardware_contention=0``) and the machine has a core for every
task, so only the kernel's state can carry information. Each says *via* what:
``state`` when a value the kernel returned differs, or a timing whose difference
the kernel's work made (B's functional kernel cycles or its lock waits differ
between runs); ``scheduler`` when a timing differs with neither: the CPU
scheduler, which is kernel state too, placed A's tasks on B's core.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from cofferos.coffers.coffer import CofferConfig
from cofferos.coffers.domain import PAGE_BYTES
from cofferos.coffers.syscalls.table import name_of
from cofferos.coffers.syscalls.uaccess import signed
from cofferos.sim.experiment import ContainerSpec, RunReport, run_mix
from cofferos.sim.isolation.common import ExperimentParams, ExperimentResult, configuration
from cofferos.sim.machine import Machine, MachineConfig
from cofferos.workloads.build import resolve

DESCRIPTION = "differential check: what container B observes of container A's secret activity"

DOC = """\
**What it measures.** Whether one container (A) can send information to another
(B) through the kernel, by a *differential* test: A runs twice with a different
secret (run 1 quiet: it sleeps; run 2 busy: it forks 8 children, maps 64 MiB,
opens 32 files and reads a 4-page file of the shared image), while B runs the
identical observer (`@observer`) in both runs. B prints one labelled line per
observable (`/proc/loadavg`, `/proc/meminfo`, `/proc/stat`, `sysinfo(2)`, the pid
`fork` returns, the time to read the image file and the time of a `stat` loop),
and the simulator also records B's exit status and every (system call, return
value) pair. Any observable that differs between the two runs is a channel; it
is named by the label that differs (a return value that differs is
`ret.CALL`).

**How.** Both containers import the same temporary root filesystem, so on a
shared kernel they share its page cache (as overlayfs lower layers do on
Linux): the first read of a page in a kernel domain costs a page-cache miss
(`KernelCosts.page_cache_miss`), later reads in the same domain hit. The
machine has a core for every task and `hardware_contention=0`, so shared
caches and memory bandwidth do not carry information. A channel is *kernel*
when a kernel value differs, or when a timing differs and the kernel did
different work for B (its kernel cycles or its lock waits differ); a timing that
differs with neither comes *via the scheduler* (the kernel's CPU scheduler put one
of A's tasks on B's core: a context switch). Both are kernel channels: the CPU
scheduler's run queues are kernel state. The headline counts every kernel channel,
and says how many came via the scheduler.

**Options** (`--set KEY=VALUE`): `delay_us` (B observes after this, default 2000),
`hold_us` (A's lifetime, default 5000), `stat_loops` (B's timed `stat` calls,
default 200), `data_pages` (pages of the image file, default 4), `cores` (default:
one per task, at least `--cores`).

**Reading the result.** What differs follows only from where kernel state lives:
on `linux` every container is in one kernel domain, so B sees A's tasks, RAM and
page cache, and waits on the locks A's `stat` loops hold; elsewhere each
container has its own, and B's view does not depend on A's kernel state. What
can remain is the cores: while B sleeps, one of A's tasks may run on B's idle
core (the core scheduler takes the least loaded core, as Linux's wake-up
placement may), so B pays a context switch when it wakes and its clock runs a
few microseconds later; a timing B measures then differs by the rounding of
that shift (1 ns). That is a kernel channel via the scheduler, counted with the
others (and shown apart in `scheduler`): pinning each container to its own cores
(cpusets) would close it. PID numbers are per
container on every kernel (a PID namespace), so the pid `fork` returns is no
channel; the kernel's global PID allocation shows instead in `/proc/stat`
`processes`, the count of forks since boot, which Linux keeps kernel-wide.
"""

#: The settings ``--set KEY=VALUE`` takes, and their defaults.
OPTIONS = ("delay_us", "hold_us", "stat_loops", "data_pages", "cores")
DELAY_US = 2_000  #: E: B observes after A has set up (A's setup takes < 1 ms simulated)
HOLD_US = 5_000  #: E: A holds its activity past B's observations (< 1 ms after the delay)
STAT_LOOPS = 200  #: E: enough stat calls to meet A's stat spinners on a shared lock
DATA_PAGES = 4  #: the image file B and A read: a few pages
BUSY_TASKS = 1 + 6 + 2  #: A busy: itself, SLEEPERS and SPINNERS (workloads/src/secret.c)
OBSERVER_TASKS = 2  #: B: itself and the child it forks
DATA_DIR, DATA_NAME = "data", "pages.bin"
TIMING_SUFFIX = "_ns"  #: observer labels that are timings
SHOWN_CHARS = 60  #: run values are truncated to this many characters in rows
KERNEL = "kernel"  #: every channel's kind: kernel state carried it
STATE, SCHEDULER = "state", "scheduler"  #: what carried it: a kernel value or work, or the
#: CPU scheduler's placement (kernel state as well: its run queues)
LEGEND_HEADROOM = 1.4  #: y range above the tallest bar, for the legend


@dataclass
class CallLog:
    """A dispatcher tracer that keeps (pid, call, return value) of every completed call."""

    calls: list[tuple[int, str, int]] = field(default_factory=list)
    _pending: dict[int, str] = field(default_factory=dict)

    def enter(self, task: Any, nr: int, entry: Any, regs: object) -> None:
        self._pending[task.pid] = name_of(nr)

    def leave(self, task: Any, result: int | None, cycles: int, blocked: bool = False) -> None:
        name = self._pending.pop(task.pid, "?")
        if not blocked:
            self.calls.append((task.pid, name, -1 if result is None else signed(result)))


@dataclass
class Observation:
    """What B saw in one run, and the kernel's work for B (to tell timing channels apart)."""

    values: dict[str, str]
    calls: list[tuple[int, str, int]]
    kernel_cycles: int
    lock_wait_ns: float


@dataclass(frozen=True)
class Settings:
    """What ``--set`` chose (checked before anything runs)."""

    delay_us: int
    stat_loops: int
    hold_us: int
    data_pages: int
    cores: int


def check(params: ExperimentParams) -> Settings:
    """The experiment's settings, each a clear error when out of range."""
    tasks = BUSY_TASKS + OBSERVER_TASKS * ((params.containers or 2) - 1)
    return Settings(delay_us=params.option("delay_us", DELAY_US, minimum=0),
                    stat_loops=params.option("stat_loops", STAT_LOOPS, minimum=1),
                    hold_us=params.option("hold_us", HOLD_US, minimum=0),
                    data_pages=params.option("data_pages", DATA_PAGES, minimum=1),
                    cores=params.option("cores", max(params.cores or 1, tasks), minimum=1))


def _observe(kernel: str, secret: str, params: ExperimentParams, rootfs: str,
             settings: Settings) -> Observation:
    data = f"/{DATA_DIR}/{DATA_NAME}"
    cores = settings.cores
    observer = ContainerSpec(str(resolve("@observer")),
                             (data, str(settings.delay_us), str(settings.stat_loops)))
    hold = str(settings.hold_us)
    secret_program = str(resolve("@secret"))
    specs = [ContainerSpec(secret_program, (secret, data, hold)), observer,
             *[ContainerSpec(secret_program, ("quiet", data, hold))] * (params.containers - 2)]
    log = CallLog()
    seen: dict[str, Any] = {}

    def prepare(machine: Machine) -> None:
        seen["observer"] = machine.coffers[1]
        machine.coffers[1].dispatcher.tracer = log

    report: RunReport = run_mix(
        specs, kernel=kernel, cores=cores, base=CofferConfig(rootfs=rootfs, seed=params.seed),
        machine=MachineConfig(hardware_contention=0.0), prepare=prepare)
    b = report.containers[1]
    values = {"exit_status": str(b.exit_code)}
    for line in b.stdout.decode(errors="replace").splitlines():
        label, _, value = line.partition(" ")
        values[label] = value
    return Observation(values, log.calls, seen["observer"].stats.kernel_cycles,
                       report.machine.times[b.name].lock_wait)


def _call_channels(run1: list[tuple[int, str, int]],
                   run2: list[tuple[int, str, int]]) -> dict[str, tuple[str, str]]:
    """``ret.CALL`` for each call whose return value differs (first difference each)."""
    found: dict[str, tuple[str, str]] = {}
    for one, two in zip(run1, run2, strict=False):
        if one != two:
            name = f"ret.{one[1]}" if one[1] == two[1] else f"call.{one[1]}/{two[1]}"
            found.setdefault(name, (str(one[2]), str(two[2])))
    if len(run1) != len(run2):
        found.setdefault("calls.count", (str(len(run1)), str(len(run2))))
    return found


def _channels(one: Observation, two: Observation) -> list[dict[str, Any]]:
    kernel_work_differs = (one.kernel_cycles != two.kernel_cycles
                           or round(one.lock_wait_ns) != round(two.lock_wait_ns))
    rows = []
    for label in sorted(set(one.values) | set(two.values)):
        first, second = one.values.get(label, "-"), two.values.get(label, "-")
        if first == second:
            continue
        timing = label.endswith(TIMING_SUFFIX)
        via = SCHEDULER if timing and not kernel_work_differs else STATE
        rows.append({"channel": label, "kind": KERNEL, "via": via,
                     "run1": first[:SHOWN_CHARS], "run2": second[:SHOWN_CHARS]})
    for label, (first, second) in _call_channels(one.calls, two.calls).items():
        rows.append({"channel": label, "kind": KERNEL, "via": STATE, "run1": first,
                     "run2": second})
    return rows


def _rootfs(directory: str, pages: int) -> None:
    """The image both containers import: one data file of ``pages`` patterned pages."""
    os.makedirs(os.path.join(directory, DATA_DIR))
    with open(os.path.join(directory, DATA_DIR, DATA_NAME), "wb") as out:
        out.write(bytes(index % 251 for index in range(pages * PAGE_BYTES)))


def run(params: ExperimentParams) -> ExperimentResult:
    settings = check(params)
    cores = settings.cores
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    found: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="infoflow-") as rootfs:
        _rootfs(rootfs, settings.data_pages)
        for kernel in params.each_kernel("infoflow"):
            quiet = _observe(kernel, "quiet", params, rootfs, settings)
            busy = _observe(kernel, "busy", params, rootfs, settings)
            channels = found[kernel] = _channels(quiet, busy)
            rows += [{"kernel": kernel, **row} for row in channels]
            kernel_names = [r["channel"] for r in channels if r["kind"] == KERNEL]
            scheduler_names = [r["channel"] for r in channels if _via(r) == SCHEDULER]
            summary.append({"kernel": kernel, "kernel_channels": len(kernel_names),
                            "scheduler_channels": len(scheduler_names),
                            "channels": ", ".join(kernel_names),
                            "scheduler": ", ".join(scheduler_names),
                            "observables": len(quiet.values),
                            "calls_compared": len(quiet.calls)})
    return ExperimentResult(
        name="infoflow", rows=rows, summary=summary,
        configuration=configuration(params, machine_cores=cores, hardware_contention=0.0,
                                    observer="@observer", secret="@secret quiet|busy"),
        finding=_finding(found), draw=lambda path: _draw(found, path),
        columns=("kernel", "kernel_channels", "channels", "scheduler_channels", "scheduler"))


def _via(row: dict[str, Any]) -> str:
    """What carried a channel (a result saved before ``via`` was recorded called the
    scheduler's channels ``hardware``)."""
    return row.get("via") or (SCHEDULER if row.get("kind") == "hardware" else STATE)


def _finding(found: dict[str, list[dict[str, Any]]]) -> str:
    parts, scheduler = [], []
    for kernel, channels in found.items():
        names = [r["channel"] for r in channels]
        parts.append(f"{kernel} {len(names)}" + (f" ({', '.join(names)})" if names else ""))
        scheduler += [f"{kernel}: {r['channel']}" for r in channels if _via(r) == SCHEDULER]
    text = "Kernel channels from A to B: " + "; ".join(parts) + "."
    if scheduler:
        text += (" Of these, via the CPU scheduler (kernel state; cpusets would close "
                 "them): " + ", ".join(scheduler) + ".")
    return text


def _draw(found: dict[str, list[dict[str, Any]]], path: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    from cofferos.results.plot import OKABE_ITO

    kernels = list(found)
    channels = sorted({r["channel"] for rows in found.values() for r in rows})
    figure = Figure(figsize=(11.0, max(3.0, 1.6 + 0.28 * len(channels))))
    FigureCanvasAgg(figure)
    bars, matrix = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 2]})
    kernel_counts = [sum(_via(r) == STATE for r in found[k]) for k in kernels]
    scheduler_counts = [sum(_via(r) == SCHEDULER for r in found[k]) for k in kernels]
    bars.bar(kernels, kernel_counts, color=OKABE_ITO[5], label="kernel values and work")
    bars.bar(kernels, scheduler_counts, bottom=kernel_counts, color=OKABE_ITO[4],
             label="CPU scheduler (kernel)", hatch="//")
    bars.set_ylabel("channels from A to B (count)")
    bars.set_xlabel("kernel")
    bars.set_title("Channels found")
    bars.set_ylim(0, max([a + b for a, b in zip(kernel_counts, scheduler_counts,
                                                strict=True)] + [1]) * LEGEND_HEADROOM)
    bars.legend(loc="upper right")
    codes = {STATE: 2, SCHEDULER: 1}
    grid = [[next((codes[_via(r)] for r in found[k] if r["channel"] == c), 0)
             for k in kernels] for c in channels] or [[0] * len(kernels)]
    matrix.imshow(grid, cmap=ListedColormap(["#EEEEEE", OKABE_ITO[4], OKABE_ITO[5]]),
                  vmin=0, vmax=2, aspect="auto")
    matrix.set_xticks(range(len(kernels)), kernels)
    matrix.set_yticks(range(len(grid)), channels or ["(none)"])  # (one empty row if none)
    matrix.set_xticks([x + 0.5 for x in range(len(kernels) - 1)], minor=True)
    matrix.set_yticks([y + 0.5 for y in range(len(channels) - 1)], minor=True)
    matrix.grid(which="minor", color="white", linewidth=2)
    matrix.tick_params(which="minor", length=0)
    matrix.set_title("Observable that differs (dark: kernel values, light: scheduler)")
    matrix.set_xlabel("kernel")
    figure.tight_layout()
    figure.savefig(path, dpi=150)


def redraw(result: ExperimentResult, out: str) -> None:
    """The figure of a result, run or loaded from its directory (a kernel without a
    channel has no row: the manifest's kernels say which ran)."""
    kernels = result.configuration.get("kernels") or list(dict.fromkeys(
        row["kernel"] for row in result.rows))
    _draw({kernel: [{k: v for k, v in row.items() if k != "kernel"}
                    for row in result.rows if row["kernel"] == kernel]
           for kernel in kernels}, out)


def isolation_checks(result: ExperimentResult) -> dict[tuple[str, str], list[tuple[str, bool]]]:
    """One check per kernel, passed when no kernel channel was found, the scheduler's
    included (the ``tradeoff`` score). The experiment does not vary personalities: it
    counts for every stack."""
    return {(line["kernel"], "none"): [("infoflow", line["kernel_channels"] == 0)]
            for line in result.summary}
