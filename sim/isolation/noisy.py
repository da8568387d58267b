"""``noisy-neighbor``: a victim container next to neighbours storming one shared kernel path.

Container 0 runs the victim, by default a workload on the storm's own path (see
:data:`MATCHED`); containers 1..N-1 run ``@storm KIND``, a loop over one kernel
path. For each kernel and each storm the victim runs twice on the same machine
and cores: *alone* (its neighbours idle: one storm iteration each, then exit)
and *with* the storm (the neighbours loop until the victim has finished; the
machine stops then). The rows compare its throughput, p99 latency, kernel-lock
wait and page-cache misses between the two runs.

Nothing here is decided per architecture: the neighbours slow the victim through
the locks the timing machine places per kernel (:mod:`cofferos.sim.kernel_locks`: one
lock of each kind for a shared kernel, one per container otherwise), through the
page cache of the kernel domain (:mod:`cofferos.coffers.domain`: one for a shared
kernel, one per container otherwise) and through the shared-hardware model that
applies to every kernel alike.

This module runs the experiment and makes its rows;
:mod:`cofferos.sim.isolation.noisy_summary` reads them (summary table, finding,
isolation checks, figure).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import simpy

from cofferos.coffers.coffer import CofferConfig
from cofferos.coffers.domain import PAGE_BYTES
from cofferos.coffers.program import resolve_program
from cofferos.coffers.syscalls.numbers import SYSCALL_NAMES
from cofferos.errors import ConfigError
from cofferos.sim.experiment import ContainerSpec, RunReport, run_mix
from cofferos.sim.isolation.common import ExperimentParams, ExperimentResult, configuration
from cofferos.sim.isolation.noisy_summary import (  # noqa: F401 - the experiment's interface
    SUMMARY_COLUMNS,
    draw,
    finding,
    isolation_checks,
    redraw,
    summarise,
)
from cofferos.sim.kernel_locks import CALL_LOCKS
from cofferos.sim.kernels import architecture
from cofferos.sim.machine import DEFAULT_SLICE, Machine, MachineConfig
from cofferos.timing import machine_for

NAME = "noisy-neighbor"
DESCRIPTION = "a victim next to neighbours storming shared kernel paths: throughput, p99"
#: The storms run by default: the paths the issue names (file create/stat in a shared
#: tree, fork, network, page cache, mount churn).
STORMS: tuple[str, ...] = ("create", "fork", "net", "pagecache", "mount")
#: Every storm ``--set storms=`` takes: the defaults and ``memory`` (anonymous memory:
#: the page allocator's zone lock, not the page cache).
KINDS: tuple[str, ...] = (*STORMS, "memory")
MATCHED_VICTIM = "matched"  #: the ``victim`` setting's default: :data:`MATCHED`
SAME_VICTIM = "same"  #: ``victim=same``: the victim runs the storm's own loop
#: The victim each storm meets by default: a workload on the storm's path, as
#: (workload, storm.c kind). ``metadata`` creates, reads, stats and unlinks files in
#: the tree the create storm uses, and each of its path walks reads the mount table
#: the mount storm writes; ``reap`` polls the task list (wait4, WNOHANG) that fork and
#: exit lock (a forking victim would hide a 0.5 us lock hold behind fork's own 40 us:
#: ``victim=same`` shows that); ``reread`` re-reads a file that fits the page cache.
MATCHED: dict[str, tuple[str, str | None]] = {
    "create": ("metadata", None), "fork": ("storm", "reap"), "net": ("storm", "net"),
    "pagecache": ("storm", "reread"), "mount": ("metadata", None),
    "memory": ("storm", "memory"),
}
#: E: iterations per victim (by workload, or storm.c kind), each ~1-3 ms of simulated
#: time alone on the default machine: enough marks for a p99, little host time.
ITERATIONS: dict[str, int] = {
    "metadata": 300, "reap": 1_000, "net": 1_000, "reread": 300, "memory": 150,
    "create": 300, "mount": 300, "fork": 30, "pagecache": 100,
}
DEFAULT_ITERATIONS = 300  #: a victim not in ITERATIONS
#: The settings ``--set KEY=VALUE`` takes (see DOC).
OPTIONS = ("storms", "victim", "victim_iterations", "cache_pages")
VICTIM_DIR = "/tmp/shared"  #: metadata.c's default tree, the one storm.c's create uses
STORM_BOUND = 10_000_000  #: iterations no storm reaches: the machine stops it first
IDLE_ITERATIONS = 1  #: an idle neighbour: one iteration, then exit
WATCH_NS = 20_000  #: E: how often (simulated) the machine checks whether the victim is done
#: E: the functional slice (instructions) of every thread: the machine's reordering bound.
#: The machine's default (DEFAULT_SLICE, 100,000) is 30-40 us of user code, but a slice
#: of a kernel-heavy loop lasts far longer: one pagecache storm iteration is ~7,200
#: instructions and 160 us of page-cache misses, so a default slice would apply ~14 reads'
#: evictions at once (2 ms of them) and then nothing until they were replayed. 2,000
#: instructions hold at most one storm read and about one victim iteration, so what a
#: storm does to shared functional state lands within about one of its reads of its time.
SLICE_INSTRUCTIONS = 2_000
#: Its own machine unless --containers/--cores say otherwise: a victim and 7 neighbours
#: (a shared kernel's locks start to matter with that many; with 2 they barely do), and
#: two cores per container, so that a forking container's child finds an idle core
#: instead of queueing behind another container's task (core contention, which every
#: kernel would show alike, would hide what only a shared kernel adds).
DEFAULTS = {"containers": 8, "cores": 16}
MEASURES = ("throughput", "p99_us", "lock_wait_us", "cache_misses")
NS_PER_US = 1_000
REFUSED_MARK = b" failed: "  #: storm.c's first-failure line: "storm KIND: CALL failed: ERR"

# -- the page cache the pagecache storm presses on ----------------------------------------
#: Pages of each kernel domain's page cache in this experiment (1 MiB). A kernel's page
#: cache holds what its RAM does not otherwise need (by default the whole RAM, see
#: KernelDomain.page_cache_capacity); the experiment models a kernel with 1 MiB to spare,
#: so that a storm of a few MiB of reads, cheap to simulate, is pressure. The ratios depend
#: on the victim's working set relative to it, which is why both scale together below.
CACHE_PAGES = 256
MIN_CACHE_PAGES = 16  #: the smallest cache_pages setting (a hot file of 8 pages)
HOT_SHARE = 2  #: the victim's hot file is 1/HOT_SHARE of the cache: it fits alone
STREAM_SHARE = 2  #: each storming neighbour streams a file HOT_SHARE x the cache
HOT_READ_PAGES = 4  #: storm.c HOT_PAGES: pages per pread of reread
STREAM_READ_PAGES = 16  #: storm.c STREAM_PAGES: pages per pread of the pagecache storm
DATA_DIR = "data"
HOT_FILE = f"/{DATA_DIR}/hot.bin"  #: storm.c HOT_FILE: the reread victim's file
STREAM_FILE = f"/{DATA_DIR}/stream{{index}}.bin"  #: container INDEX's stream (its own)

DOC = f"""\
**What it measures.** Whether containers that hammer a kernel path slow a
victim in another container. The other containers run `@storm KIND`, a loop over
one path: `create` (open(O_CREAT)/stat/unlink in a shared directory tree: path
walk, dentry and inode-hash locks), `fork` (fork + wait: the task list lock),
`net` (UDP sendto/recvfrom on loopback: the network stack lock), `pagecache` (a
streaming reader: pread of its own file of the imported image, twice the page
cache, {STREAM_READ_PAGES} pages at a time, front to back: every read misses and evicts the
least recently used pages) and `mount` (mount/umount2 of a tmpfs: a coffer is
root in its own user and mount namespace and may mount a tmpfs, as a rootless
container may; each call walks its path and then holds the mount lock for
writing, the lock every path walk takes to read the mount table);
`--set storms=memory` adds `memory` (mmap, touch 16 anonymous pages, munmap: the
page allocator's zone lock, not the page cache). A storm whose calls fail says
what the kernel answered (`storm_refused`; empty when nothing failed).

**The victims.** Container 0 runs a workload on the storm's path, each iteration
marked as one operation: for `create` and `mount`, `@metadata`
({ITERATIONS["metadata"]} create/write/read/stat/unlink iterations in the create storm's
tree; each path walk also reads the mount table); for `fork`, `@storm reap`
({ITERATIONS["reap"]} wait4(WNOHANG) calls, a supervisor polling the task list: a victim
that forks, `victim=same`, hides the 0.5 us tasklist lock hold behind fork's own
40 us); for `net`, the net loop itself ({ITERATIONS["net"]}); for `pagecache`, `@storm
reread` (it reads a file of half the page cache once, then {ITERATIONS["reread"]} preads
of {HOT_READ_PAGES} pages cycling over it, summing a byte of every 64: alone, every read
after the first pass hits); for `memory`, the memory loop ({ITERATIONS["memory"]}).

**The page cache.** Reads of the imported image's files go through the page
cache of the reader's kernel domain (`coffers/domain.py`): one for all
containers on a shared kernel, one per container otherwise; a page not cached
costs a device read (`page_cache_miss`, 10 us). A domain's cache holds at most its
RAM by default; here each holds {CACHE_PAGES} pages (1 MiB: a kernel with little RAM to
spare, so that a storm of a few MiB, cheap to simulate, is pressure), with plain
LRU eviction (Linux's active/inactive lists shield pages read twice from a
one-pass stream somewhat better, so this is the stream's worst case).

**How.** For each kernel and storm the victim runs *alone* (the neighbours
idle: one iteration each) and *with* the storm (the neighbours loop until the
victim is done, then the machine stops), on the same machine and cores: a victim
and 7 neighbours on 16 cores, two per container, so that a forking container's
child finds an idle core (with one core per container, the fork storm's children
queue behind other containers' tasks and cost a forking victim 7-16% of its
throughput whatever the kernel). Each thread runs functional slices of
{SLICE_INSTRUCTIONS:,} instructions (the machine's default, {DEFAULT_SLICE:,}, would
apply ~14 of a stream's 160 us reads at once). The summary gives, per kernel x
storm, the victim's throughput and p99 latency with the storm over alone, its
time spinning on kernel locks and its page-cache misses (alone, with the storm)
and the locks the storm's calls take (`storm_locks`); the rows (CSV, JSON) have
every value unrounded. Slowdown that every kernel shows is the machine's (the
shared-hardware model, `hardware_contention`, on user time, and context switches
and wake-ups on shared cores); what only a shared kernel adds is lock wait or page-cache misses.

**Settings** (`--set`): `storms=a,b,...` (default `{",".join(STORMS)}`;
also `memory`), `victim=NAME` (default `{MATCHED_VICTIM}`: the victims above; `same`:
the victim runs the storm's own loop; a workload name: that workload for every
storm),
`victim_iterations=N` (N >= 1; default per victim as above), `cache_pages=N`
(the page cache per kernel domain, default {CACHE_PAGES}, at least {MIN_CACHE_PAGES}; the
victim's file and the streams scale with it).
"""


def _storms(params: ExperimentParams) -> tuple[str, ...]:
    storms = tuple(s for s in str(params.option("storms", ",".join(STORMS))).split(",") if s)
    unknown = [s for s in storms if s not in KINDS]
    if unknown or not storms:
        what = f"unknown {', '.join(unknown)}" if unknown else "none given"
        raise ConfigError(f"--set storms: {what}; choose from {', '.join(KINDS)}")
    return storms


def check(params: ExperimentParams) -> None:
    """The settings' errors, before anything runs."""
    _storms(params)
    if "victim_iterations" in params.options:
        params.option("victim_iterations", 1, minimum=1)
    params.option("cache_pages", CACHE_PAGES, minimum=MIN_CACHE_PAGES)


def _stop_when_done(victim: str, cache_pages: int) -> Any:
    """A ``prepare`` hook: give every kernel domain a page cache of ``cache_pages`` and
    stop the machine once container ``victim`` has finished."""
    def prepare(machine: Machine) -> None:
        for coffer in machine.coffers:
            coffer.domain.page_cache_pages = cache_pages

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


def _file(kind: str | None, index: int) -> tuple[str, ...]:
    """The file argument storm.c's ``kind`` takes in container ``index`` (none if none)."""
    if kind == "pagecache":
        return (STREAM_FILE.format(index=index),)
    if kind == "reread":
        return (HOT_FILE,)
    return ()


def _storm_spec(kind: str, iterations: int, index: int) -> ContainerSpec:
    return ContainerSpec(resolve_program("@storm"), (kind, str(iterations), *_file(kind, index)))


def _victim(name: str, storm: str,
            iterations: int | None) -> tuple[str, ContainerSpec, int]:
    """The victim of ``storm`` under setting ``victim=name``: its label, spec, iterations."""
    if name == MATCHED_VICTIM:
        program, kind = MATCHED[storm]
    elif name == SAME_VICTIM:
        program, kind = "storm", storm
    else:
        program, kind = name, None
    count = iterations or ITERATIONS.get(kind or program, DEFAULT_ITERATIONS)
    if kind is not None:
        return f"@{program} {kind}", _storm_spec(kind, count, 0), count
    args = (VICTIM_DIR, str(count)) if program == "metadata" else (str(count),)
    return f"@{program}", ContainerSpec(resolve_program(f"@{program}"), args), count


def _image(directory: str, containers: int, cache_pages: int) -> dict[str, int]:
    """The root filesystem every container imports: the victim's hot file and one stream
    per container (patterned bytes); returns their sizes in pages."""
    hot = max(cache_pages // HOT_SHARE // HOT_READ_PAGES, 1) * HOT_READ_PAGES
    stream = -(-cache_pages * STREAM_SHARE // STREAM_READ_PAGES) * STREAM_READ_PAGES
    os.makedirs(os.path.join(directory, DATA_DIR))
    pattern = bytes(index % 251 for index in range(PAGE_BYTES))
    paths = [(HOT_FILE, hot)] + [(STREAM_FILE.format(index=i), stream)
                                 for i in range(containers)]
    for path, pages in paths:
        with open(os.path.join(directory, path.lstrip("/")), "wb") as out:
            out.write(pattern * pages)
    return {"hot_file_pages": hot, "stream_file_pages": stream}


def _run(kernel: str, params: ExperimentParams, victim: ContainerSpec, storm: str,
         iterations: int, rootfs: str, cache_pages: int) -> tuple[RunReport, Machine]:
    base = CofferConfig(seed=params.seed, slice_instructions=SLICE_INSTRUCTIONS,
                        rootfs=rootfs)
    neighbours = [_storm_spec(storm, iterations, index)
                  for index in range(1, params.containers)]
    hook = _stop_when_done("c0", cache_pages)
    machine = replace(machine_for(kernel, params.cores, base.kernel_costs),
                      slice_instructions=SLICE_INSTRUCTIONS)
    report = run_mix([victim, *neighbours], kernel=kernel, cores=params.cores, base=base,
                     prepare=hook, machine=machine)
    return report, hook.machine


def run(params: ExperimentParams) -> ExperimentResult:
    check(params)
    storms = _storms(params)
    victim_name = str(params.option("victim", MATCHED_VICTIM))
    iterations = (params.option("victim_iterations", 1)
                  if "victim_iterations" in params.options else None)
    cache_pages = params.option("cache_pages", CACHE_PAGES)
    victims = {storm: _victim(victim_name, storm, iterations) for storm in storms}
    rows: list[dict[str, Any]] = []
    neighbours = range(1, params.containers)
    with tempfile.TemporaryDirectory(prefix="noisy-") as rootfs:
        sizes = _image(rootfs, params.containers, cache_pages)
        for kernel in params.each_kernel("noisy-neighbor"):
            for storm in storms:
                label, victim, _ = victims[storm]
                alone, idle = _run(kernel, params, victim, storm, IDLE_ITERATIONS, rootfs,
                                   cache_pages)
                noisy, machine = _run(kernel, params, victim, storm, STORM_BOUND, rootfs,
                                      cache_pages)
                common = {"kernel": kernel, "storm": storm, "victim": label,
                          "shared_kernel": architecture(kernel).shared_kernel,
                          "storm_locks": _storm_locks(machine, idle, neighbours),
                          "storm_refused": _refused(noisy)}
                for measure, before, after in _measures(alone, idle, noisy, machine):
                    ratio = after / before if before and after is not None else None
                    rows.append({**common, "measure": measure, "alone": before,
                                 "with_storm": after, "ratio": ratio})
    summary = summarise(rows)
    return ExperimentResult(
        name=NAME, rows=rows, summary=summary, finding=finding(rows),
        configuration=configuration(
            params, victim=victim_name, victims={s: v[0] for s, v in victims.items()},
            victim_iterations={s: v[2] for s, v in victims.items()},
            storms=list(storms), slice_instructions=SLICE_INSTRUCTIONS,
            cache_pages=cache_pages, **sizes,
            hardware_contention=MachineConfig().hardware_contention),
        draw=lambda path: draw(rows, path), columns=SUMMARY_COLUMNS)


def _measures(alone: RunReport, idle: Machine, noisy: RunReport,
              machine: Machine) -> list[tuple[str, Any, Any]]:
    a, b = alone.containers[0], noisy.containers[0]
    waits = [report.machine.times[a.name].lock_wait / NS_PER_US for report in (alone, noisy)]
    misses = [m.coffers[0].domain.page_cache_misses.get(a.name, 0) for m in (idle, machine)]
    return [("throughput", a.throughput, b.throughput), ("p99_us", a.p99_us, b.p99_us),
            ("lock_wait_us", waits[0], waits[1]), ("cache_misses", misses[0], misses[1])]
