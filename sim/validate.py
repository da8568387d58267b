"""Validation: the lock model's scaling curves beside published scalability results.

``coffersim validate`` runs each validation workload (the FxMark microbenchmarks,
``@fxmark``, will-it-scale-style loops, ``@wis``, and, when named, an Exim-like
MOSBENCH delivery loop, ``@mosbench exim``) with 1 to N workers on as many cores, in
either of two placements:

* ``one``: one container, its N workers processes of one kernel (how FxMark ran);
* ``many``: N containers of one worker each (private paths by construction).

under each kernel (``linux:4.2``, the FxMark paper's kernel; ``linux``, 6.x;
``linux:2.6.35``; ``cofferos``): by default :data:`DEFAULT_SERIES`. From each
curve it derives a verdict and a bottleneck and, where a published finding exists
for that kernel version and placement (:mod:`cofferos.sim.validate_published`),
whether they agree.

Throughput of a point is the operations marked on ``/dev/coffer/ops`` while every
worker runs (from the last worker's first mark to the first worker's last: each
worker labels its marks, and its first quarter is warm-up), per simulated second;
the pre-work, the forks, the first-touch faults and the stragglers are outside it.

Verdict, from throughput T(n) at the largest worker count N (thresholds in
:data:`SCALES_AT` and :data:`COLLAPSE_BELOW`):

* ``scales``: T(N) >= 0.7 x N x T(1);
* ``collapses``: T(N) < 0.8 x the curve's peak (adding cores loses throughput);
* ``saturates``: otherwise.

Bottleneck: the lock name (``sim/lockversions.py``) whose instances were waited
on longest at N workers, spinning or asleep, when that wait is at least
:data:`BOTTLENECK_SHARE` of the measured window's core time; else none.
Each row also gives the share of that core time spent spinning (:func:`spinning`:
the waits whose waiter spun, on a spinlock or on a sleeping lock's running owner) and
every lock waited on with its share (:func:`waits`).

The model's inputs are the version tables and the cost table only: nothing here
passes a workload's name to the machine except as the guest's own argument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cofferos.coffers.coffer import CofferConfig
from cofferos.errors import ConfigError
from cofferos.sim.experiment import ContainerSpec, run_mix
from cofferos.sim.lockversions import split_kernel
from cofferos.sim.machine import Machine
from cofferos.sim.validate_published import (
    BOTTLENECK_ONLY,
    COLLAPSES,
    DOES_NOT_SCALE,
    PUBLISHED,
    PUBLISHED_SPINNING,
    SATURATES,
    SCALES,
    UNJUDGED,
)
from cofferos.sim.validate_sizes import (
    DEFAULT_ITERATIONS,
    DEFAULT_WORKERS,
)
from cofferos.timing import kernel_costs

FXMARK_BENCHES = ("MRPL", "MRPM", "MRPH", "MRDL", "MRDM", "MWCL", "MWCM", "MWUL", "MWUM",
                  "MWRL", "MWRM", "DRBL", "DRBM", "DRBH", "DWOL", "DWOM", "DWAL", "DWTL")
#: @wis tests run by validate (mmap1's workers are threads of one process, the others'
#: processes).
WIS_TESTS = ("getppid1", "open1", "open3", "unlink2", "mmap1", "page_fault2",
             "context_switch1")
#: MOSBENCH applications run by validate (an Exim-like delivery loop, @mosbench).
MOSBENCH_APPS = ("exim",)
WORKLOADS = (*(f"fxmark:{b}" for b in FXMARK_BENCHES), *(f"wis:{t}" for t in WIS_TESTS),
             *(f"mosbench:{a}" for a in MOSBENCH_APPS))
#: What runs by default: the MOSBENCH Exim loop forks two processes per message (its six
#: points at 1, 8 and 40 workers under two kernels: 117 s of host CPU), so it runs when
#: named (docs/timing.md).
DEFAULT_WORKLOADS = tuple(w for w in WORKLOADS if not w.startswith("mosbench:"))
ONE, MANY = "one", "many"  #: placements: one container of N workers, N containers of one
PLACEMENTS = (ONE, MANY)
#: What runs by default (kernel, placement): the published findings' kernel and the
#: current one as one container (how FxMark runs), and cofferos as N containers.
DEFAULT_SERIES = (("linux:4.2", "one"), ("linux", "one"), ("cofferos", "many"))
QUICK_WORKLOADS = ("fxmark:MRPL", "fxmark:MWCM", "fxmark:DWOM", "fxmark:DWOL")
QUICK_SERIES = (("linux:4.2", "one"), ("cofferos", "many"))
#: Where each guest works (each container's own tmpfs).
ROOTS = {"fxmark": "/tmp/fxmark", "wis": "/tmp/wis", "mosbench": "/tmp/mosbench"}
#: Arguments after ROOT, per program: MOSBENCH's published runs lay out their file systems
#: as its config.py's fs = "tmpfs-separate" (mkmounts: the spool, its input
#: subdirectories, the mail directory and the log on their own tmpfs mounts)
LAYOUTS = {"mosbench": ("tmpfs-separate",)}

SCALES_AT = 0.7  #: scales: T(N) at least this fraction of linear (N x T(1))
COLLAPSE_BELOW = 0.8  #: collapses: T(N) below this fraction of the peak
BOTTLENECK_SHARE = 0.05  #: a lock is a bottleneck when waited on this share of core time
#: "mostly": a finding's named functions took at least this share of the lock waits
MOSTLY = 0.5
WAIT_SHOWN = 0.005  #: a row's ``waits`` lists the locks waited on at least this share
NS_PER_SECOND = 1e9
PAGE_SIZE = 4096  #: (a file system's limit in pages, run_point's ``free_pages``)
#: A worker's first 1/WARMUP_PART operations are its warm-up, outside the measured
#: window: a forked child's first-touch page faults, and its first slice's marks, which
#: the machine stamps together (at the slice's replayed start) when that slice began
#: before the coffer had a second live task.
WARMUP_PART = 4


@dataclass(frozen=True)
class ValidateConfig:
    """What ``coffersim validate`` runs. Each field: meaning."""

    workloads: tuple[str, ...] = DEFAULT_WORKLOADS
    """Validation workloads (``fxmark:BENCH``, ``wis:TEST``, ``mosbench:exim``)."""
    series: tuple[tuple[str, str], ...] = DEFAULT_SERIES
    """(kernel, placement) pairs; a kernel ``linux:VERSION`` names a Linux version."""
    workers: tuple[int, ...] = DEFAULT_WORKERS
    """Worker counts (cores = workers); the last is N, where the verdict is read."""
    iterations: int = DEFAULT_ITERATIONS
    """Operations per worker."""
    jobs: int = 1
    """Points run at once, each in its own process."""
    costs: tuple[str, ...] = ()
    """``--cost NAME=VALUE`` overrides (``lock.NAME``, ``lock.handoff``...), as for run."""


@dataclass
class Point:
    """One run: a workload at ``workers`` workers, its throughput and lock waits."""

    workload: str
    kernel: str
    placement: str
    workers: int
    throughput: float
    lock_wait_ns: dict[str, float]
    """Simulated ns waited on each lock name, by waits that ended in the measured window."""
    core_ns: float
    """Core time of the measured window (workers x its length)."""
    failed: bool
    taken: tuple[str, ...] = ()
    """The lock names the run took (only their constants can change it)."""
    spun_ns: dict[str, float] = field(default_factory=dict)
    """Of ``lock_wait_ns``, the ns waited spinning (spinlocks, atomics, and sleeping locks
    whose waiter spun on a running owner), by lock name."""
    caller_ns: dict[str, float] = field(default_factory=dict)
    """``lock_wait_ns`` by the Linux function that took the lock (its rule's source), as a
    profile that charges a lock's spinning to its caller sees it."""


def program(workload: str) -> tuple[str, str]:
    """``fxmark:MWCM`` -> (``@fxmark``, ``MWCM``). ConfigError for an unknown workload."""
    if workload not in WORKLOADS:
        raise ConfigError(f"unknown validation workload {workload!r}; choose from "
                          f"{', '.join(WORKLOADS)}")
    name, _, bench = workload.partition(":")
    return f"@{name}", bench


def _throughput(workers: Sequence[Sequence[int]]) -> tuple[float, float, float]:
    """Operations per simulated second while every worker runs, that window's length and
    its start in ns: the marks between the last worker's first mark after its warm-up and the first
    worker's last (each list: one worker's mark times); all marks from first to last when
    the workers never overlap."""
    stamps = sorted(t for marks in workers for t in marks)
    start = max(sorted(marks)[len(marks) // WARMUP_PART] for marks in workers if marks) \
        if stamps else 0
    end = min(max(marks) for marks in workers if marks) if stamps else 0
    if end <= start:
        start, end = (stamps[0], stamps[-1]) if stamps else (0, 0)
    inside = sum(1 for t in stamps if start <= t <= end)
    if end <= start:
        return 0.0, 0.0, 0.0
    return (inside - 1) * NS_PER_SECOND / (end - start), float(end - start), float(start)


def _lock_name(label: str) -> str:
    """``i_mutex#1234@kernel`` -> ``i_mutex``."""
    return label.split("@", 1)[0].split("#", 1)[0]


def run_point(workload: str, kernel: str, placement: str, workers: int, iterations: int,
              costs: Sequence[str] = (), free_pages: int = 0) -> Point:
    """Run one point on ``workers`` cores and measure it. ``free_pages``: each container's
    file system is limited to what it holds when the run starts and this many pages more
    (as FxMark's runner mounts its tmpfs with a size, sim/validate_fill.py); 0: its
    usual limit."""
    from cofferos.workloads.build import resolve

    path_spec, bench = program(workload)
    path, root = str(resolve(path_spec)), ROOTS[path_spec[1:]]
    layout = LAYOUTS.get(path_spec[1:], ())
    base = CofferConfig(kernel_costs=kernel_costs(costs)) if costs else CofferConfig()
    if placement == ONE:
        specs = [ContainerSpec(path, (bench, str(workers), str(iterations), root, *layout))]
    else:
        specs = [ContainerSpec(path, (bench, "1", str(iterations), root, *layout))] * workers
    seen: list[Machine] = []

    def prepare(machine: Machine) -> None:
        machine.locks.wait_log = []
        seen.append(machine)
        for coffer in machine.coffers if free_pages else ():
            coffer.disk.limit_bytes = coffer.disk.used_bytes + free_pages * PAGE_SIZE

    report = run_mix(specs, kernel=kernel, cores=workers, base=base, prepare=prepare)
    machine = seen[0]
    by_worker: dict[tuple[int, str], list[int]] = {}
    for index, coffer in enumerate(machine.coffers):
        for stamp, label in coffer.stats.ops:
            by_worker.setdefault((index, label), []).append(stamp)
    throughput, window, start = _throughput(list(by_worker.values()))
    waits: dict[str, float] = {}
    spun: dict[str, float] = {}
    for label, ended, wait, slept in machine.locks.wait_log or ():
        if start <= ended <= start + window:  # (the start barrier's waits are outside)
            name = _lock_name(label)
            waits[name] = waits.get(name, 0.0) + wait
            if not slept:
                spun[name] = spun.get(name, 0.0) + wait
    taken = tuple(sorted({_lock_name(lock.name) for lock in machine.locks.locks.values()}))
    callers = _by_caller(machine.locks.wait_log or [], machine.locks.wait_callers,
                         start, window)
    return Point(workload, kernel, placement, workers, throughput, waits, window * workers,
                 any(c.failed for c in report.containers), taken, spun, callers)


def _by_caller(log: Sequence[tuple[str, float, float, bool]], callers: Sequence[str],
               start: float, window: float) -> dict[str, float]:
    """The waits of ``log`` that ended in the window, by the function that took the lock."""
    found: dict[str, float] = {}
    for (_label, ended, wait, _slept), caller in zip(log, callers, strict=True):
        if start <= ended <= start + window:
            found[caller] = found.get(caller, 0.0) + wait
    return found


def _caller_shares(point: Point) -> str:
    """The functions whose lock waits were longest, each with its share of core time."""
    shares = sorted(((wait / point.core_ns, name) for name, wait in point.caller_ns.items()
                     if point.core_ns and wait / point.core_ns >= WAIT_SHOWN), reverse=True)
    return ", ".join(f"{name} {share:.0%}" for share, name in shares) or "-"


def top_caller(point: Point) -> str | None:
    """The function whose lock waits were longest, if a real share of core time."""
    if not point.caller_ns or not point.core_ns:
        return None
    name, wait = max(point.caller_ns.items(), key=lambda item: item[1])
    return name if wait >= BOTTLENECK_SHARE * point.core_ns else None


def spinning(point: Point) -> float:
    """The share of the measured window's core time spent spinning for a lock: the waits
    whose waiter did not sleep (spinlocks, atomics, and the optimistic spinning of
    mutexes and rw-semaphores on a running owner), as the machine logged them."""
    if not point.core_ns:
        return 0.0
    return sum(point.spun_ns.values()) / point.core_ns


def waits(point: Point) -> str:
    """The locks waited on in ``point``'s window, longest first, each with its share of
    the window's core time: ``i_mutex 75%, tasklist_lock 1%``."""
    shares = sorted(((wait / point.core_ns, name) for name, wait in point.lock_wait_ns.items()
                     if point.core_ns and wait / point.core_ns >= WAIT_SHOWN), reverse=True)
    return ", ".join(f"{name} {share:.0%}" for share, name in shares) or "-"


def verdict(curve: Sequence[tuple[int, float]]) -> str:
    """SCALES, SATURATES or COLLAPSES from (workers, throughput) points, by workers."""
    ordered = sorted(curve)
    (one, base), (top, last) = ordered[0], ordered[-1]
    peak = max(t for _n, t in ordered)
    if base > 0 and last >= SCALES_AT * (top / one) * base:
        return SCALES
    if last < COLLAPSE_BELOW * peak:
        return COLLAPSES
    return SATURATES


def bottleneck(point: Point) -> str | None:
    """The lock name waited on longest, if its wait is a real share of core time."""
    if not point.lock_wait_ns:
        return None
    name, wait = max(point.lock_wait_ns.items(), key=lambda item: item[1])
    return name if point.core_ns and wait >= BOTTLENECK_SHARE * point.core_ns else None


def judge(workload: str, kernel: str, placement: str, predicted: str,
          lock: str | None, caller_ns: dict[str, float] | None = None,
          workers: int | None = None) -> tuple[str, str]:
    """(published verdict, agreement) for one row: agreement is ``yes``, ``no`` or
    UNJUDGED when no published finding covers this kernel version and placement. A
    finding that says its spinning was mostly in some functions (``Published.callers``)
    is judged on the waits the model charges to them (``caller_ns``, by function):
    at least :data:`MOSTLY` of all, instead of on ``lock``.

    A finding that scales up to a core count (``Published.scales_to``) is read at the
    row's ``workers``: at or below it the published curve scales (and names no
    bottleneck there); above it, it does not."""
    published = PUBLISHED.get(workload)
    arch, version = split_kernel(kernel)
    if (published is None or placement != ONE or arch != "linux"
            or version != published.version):
        return (published.verdict if published else UNJUDGED), UNJUDGED
    if published.scales_to and workers is not None and workers <= published.scales_to:
        return SCALES, "yes" if predicted == SCALES else "no"
    scales_ok = (predicted == SCALES) == (published.verdict == SCALES)
    lock_ok = (lock in published.bottleneck) if published.bottleneck else True
    if published.callers:
        total = sum((caller_ns or {}).values())
        theirs = sum((caller_ns or {}).get(name, 0.0) for name in published.callers)
        lock_ok = total > 0 and theirs >= MOSTLY * total
    if published.verdict == DOES_NOT_SCALE and predicted in (SATURATES, COLLAPSES):
        scales_ok = True
    if published.verdict == BOTTLENECK_ONLY:  # (no scaling figure: the lock is judged)
        scales_ok = True
    return published.verdict, "yes" if scales_ok and lock_ok else "no"


def rows_for(points: Sequence[Point]) -> list[dict[str, Any]]:
    """One row per (workload, kernel, placement): the curve, verdict, bottleneck, agreement."""
    groups: dict[tuple[str, str, str], list[Point]] = {}
    for point in points:
        groups.setdefault((point.workload, point.kernel, point.placement), []).append(point)
    rows = []
    for (workload, kernel, placement), curve in groups.items():
        curve.sort(key=lambda p: p.workers)
        first, last = curve[0], curve[-1]
        predicted = verdict([(p.workers, p.throughput) for p in curve])
        lock, caller = bottleneck(last), top_caller(last)
        published, agrees = judge(workload, kernel, placement, predicted, lock,
                                  last.caller_ns, last.workers)
        source = PUBLISHED[workload] if workload in PUBLISHED else None
        linear = (last.workers / first.workers) * first.throughput
        rows.append({
            "workload": workload, "kernel": kernel, "placement": placement,
            "workers": [p.workers for p in curve],
            "throughput": [round(p.throughput, 1) for p in curve],
            "of_linear": round(last.throughput / linear, 3) if linear else None,
            "verdict": predicted, "bottleneck": lock or "-",
            "published": published,
            "published_bottleneck": "/".join(source.bottleneck) if source else "",
            "agrees": agrees, "source": source.source if source else "",
            "failed": any(p.failed for p in curve),
            "spinning": round(spinning(last), 3), "waits": waits(last),
            "caller": caller or "-", "callers": _caller_shares(last),
        })
        if agrees != UNJUDGED and workload in PUBLISHED_SPINNING:
            rows[-1]["published_spinning"] = PUBLISHED_SPINNING[workload]
    return rows


def _run_job(job: tuple[str, str, str, int, int, tuple[str, ...]]) -> Point:
    return run_point(*job)


def run_validation(config: ValidateConfig,
                   progress: Callable[[int, int, str], None] | None = None) -> list[Point]:
    """Every point of ``config``, workloads outermost, ``config.jobs`` at a time;
    ``progress(i, total, label)`` as each finishes."""
    for kernel, _placement in config.series:
        split_kernel(kernel)  # (a bad version: one error before any run)
    for workload in config.workloads:
        program(workload)
    jobs = [(w, k, p, n, config.iterations, config.costs) for w in config.workloads
            for k, p in config.series for n in config.workers]
    labels = [f"{w} {k} {p} x{n}" for w, k, p, n, _i, _c in jobs]
    if config.jobs <= 1:
        points = []
        for index, job in enumerate(jobs):
            points.append(_run_job(job))
            if progress is not None:
                progress(index + 1, len(jobs), labels[index])
        return points
    from concurrent.futures import ProcessPoolExecutor, as_completed

    results: dict[int, Point] = {}
    with ProcessPoolExecutor(config.jobs) as pool:
        futures = {pool.submit(_run_job, job): index for index, job in enumerate(jobs)}
        for done, future in enumerate(as_completed(futures), 1):
            index = futures[future]
            results[index] = future.result()
            if progress is not None:
                progress(done, len(jobs), labels[index])
    return [results[index] for index in range(len(jobs))]


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many judged rows agree, and how many were judged."""
    judged = [r for r in rows if r["agrees"] != UNJUDGED]
    return {"judged": len(judged), "agree": sum(1 for r in judged if r["agrees"] == "yes")}
