"""FxMark's DWAL as its runner runs it: appends until a 32 GiB tmpfs is full.

FxMark mounts its tmpfs with ``size=32G`` (bin/run-fxmark.py: ``DISK_SIZE = "32G"``,
``mount_tmpfs``) and DWAL's workers append 4 KiB blocks until a write fails
(src/DWAL.c); src/bench.c takes ENOSPC for the end of the run and divides the
operations by the workers' elapsed time. So a DWAL point is the whole fill, and its
end is where Linux 4.2's tmpfs changes how it counts (mm/shmem.c shmem_getpage_gfp:
``percpu_counter_compare(&sbinfo->used_blocks, max_blocks)``, then
``percpu_counter_inc``; lib/percpu_counter.c):

* far from the limit the shared count is approximate: a core folds its own count in
  under ``fbc->lock`` every percpu_counter_batch pages (max(32, 2 x CPUs));
* within percpu_counter_batch x CPUs pages of the limit (R: 12,800 pages, 50 MiB, on
  80 CPUs) every page sums every CPU's count under that one lock.

The simulator cannot append 8 M pages a point, so the fill is split there and each
part's rate is simulated (the version tables' ``used_blocks`` rules,
``sim/lockversions.py``): X_far is validate's own DWAL point (a tmpfs far from its
limit); X_near a point whose tmpfs holds just the pages its appends add, each worker
appending percpu_counter_batch pages (N x batch = R pages: every append is within R of
the limit). The fill takes (S - R) / X_far + R / X_near seconds for S = 32 GiB of
pages, and its throughput is S over that. Nothing here is set from the published
finding (DWAL scales to 50 cores, not beyond: ``FXMARK_NOTES``); S and R are
FxMark's and Linux's, the rates the model's.

``python -m cofferos.sim.validate_fill [--kernel K] [--workers 1,40,50,80]
[--iterations N] [--cost NAME=VALUE]... [--jobs N] [--vary LOCK=FACTOR]`` prints one
row per worker count.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from cofferos.sim.lockversions import percpu_counter_batch
from cofferos.sim.validate import ONE, Point, run_point, verdict
from cofferos.sim.validate_sizes import DEFAULT_ITERATIONS

WORKLOAD = "fxmark:DWAL"
PAGE_SIZE = 4096
#: FxMark's tmpfs: bin/run-fxmark.py DISK_SIZE, "32G".
FXMARK_TMPFS_BYTES = 32 << 30
FILL_PAGES = FXMARK_TMPFS_BYTES // PAGE_SIZE
DEFAULT_KERNEL = "linux:4.2"  #: the FxMark paper's kernel
DEFAULT_FILL_WORKERS = (1, 40, 50, 80)


@dataclass(frozen=True)
class FillPoint:
    """One worker count's fill. Each field: meaning."""

    workers: int
    far: float
    """Appends per simulated second far from the limit (validate's DWAL point)."""
    near: float
    """Appends per second within ``region`` pages of the limit."""
    region: int
    """percpu_counter_batch x CPUs: the pages whose appends sum every CPU's count."""

    @property
    def throughput(self) -> float:
        """Appends per second over the whole fill of FILL_PAGES pages."""
        seconds = (FILL_PAGES - self.region) / self.far + self.region / self.near
        return FILL_PAGES / seconds


def _jobs(kernel: str, workers: int, iterations: int,
          costs: Sequence[str]) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """validate's run_point arguments of both parts of a fill at ``workers`` workers."""
    batch = percpu_counter_batch(workers)
    return ((WORKLOAD, kernel, ONE, workers, iterations, tuple(costs)),
            (WORKLOAD, kernel, ONE, workers, batch, tuple(costs), workers * batch))


def _run(job: tuple[tuple[object, ...], tuple[str, float] | None]) -> Point:
    """One point; ``vary``: (lock name, factor) scales that lock's holds in every version
    table first (``coffersim validate --sensitivity``'s variation), in this process."""
    args, vary = job
    if vary is not None:
        from cofferos.sim import lockversions
        from cofferos.sim.validate_sensitivity import _scaled_tables

        for version, table in _scaled_tables(*vary).items():
            lockversions.VERSIONS[version].clear()
            lockversions.VERSIONS[version].update(table)
    return run_point(*args)  # type: ignore[arg-type]


def fill_curve(kernel: str = DEFAULT_KERNEL, workers: Sequence[int] = DEFAULT_FILL_WORKERS,
               iterations: int = DEFAULT_ITERATIONS, costs: Sequence[str] = (),
               jobs: int = 1, vary: tuple[str, float] | None = None) -> list[FillPoint]:
    """Both parts of a fill at each worker count (one container, a core per worker),
    ``jobs`` points at a time, each in a process of its own (a point's guest engines are
    not all returned to the host before the next point starts); ``vary``: as
    :func:`_run`."""
    from concurrent.futures import ProcessPoolExecutor

    counts = sorted(workers)
    pairs = [_jobs(kernel, n, iterations, costs) for n in counts]
    with ProcessPoolExecutor(max(1, jobs), max_tasks_per_child=1) as pool:
        points = list(pool.map(_run, [(job, vary) for pair in pairs for job in pair]))
    found = []
    for index, n in enumerate(counts):
        far, near = points[2 * index], points[2 * index + 1]
        if far.failed or near.failed or not far.throughput or not near.throughput:
            raise RuntimeError(f"{WORKLOAD} at {n} workers failed under {kernel}")
        found.append(FillPoint(n, far.throughput, near.throughput,
                               percpu_counter_batch(n) * n))
    return found


def format_curve(points: Sequence[FillPoint]) -> str:
    """A table: each worker count's two rates, the fill's throughput and its share of
    linear (N x the one-worker fill), then the verdict up to each count (validate's
    thresholds)."""
    first = points[0]
    lines = ["workers  far (ops/s)  near (ops/s)  region (pages)  fill (ops/s)  of linear  "
             "verdict to here"]
    for index, point in enumerate(points):
        linear = point.workers / first.workers * first.throughput
        upto = verdict([(p.workers, p.throughput) for p in points[:index + 1]])
        lines.append(f"{point.workers:>7}  {point.far:>11,.0f}  {point.near:>12,.0f}  "
                     f"{point.region:>14,}  {point.throughput:>12,.0f}  "
                     f"{point.throughput / linear:>9.0%}  {upto}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cofferos.sim.validate_fill",
                                     description=__doc__.split("\n", 1)[0])
    parser.add_argument("--kernel", default=DEFAULT_KERNEL)
    parser.add_argument("--workers", default=",".join(map(str, DEFAULT_FILL_WORKERS)))
    parser.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS)
    parser.add_argument("--cost", action="append", default=[])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--vary", metavar="LOCK=FACTOR", default="",
                        help="scale every hold of one lock, per-CPU part included")
    args = parser.parse_args(argv)
    workers = [int(n) for n in args.workers.split(",")]
    name, _, factor = args.vary.partition("=")
    vary = (name, float(factor)) if name else None
    print(format_curve(fill_curve(args.kernel, workers, args.iterations, args.cost,
                                  args.jobs, vary)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
