"""Cycles per iteration, natively and simulated under each cycle model (issue #16 item 2).

    .venv/bin/python -m benchmarks.uarch_validate [--repeats 7] [--mca-cpu native]
        [--programs lua expat]

For @compute and four real programs linked statically against Debian's libraries
(Lua 5.4, SQLite, zlib, and expat, added as a held-out program after the model's
mechanisms were fixed; sources in ``benchmarks/uarch/``), each run at two sizes N1
and N2, cycles per iteration are (cycles(N2) - cycles(N1)) / (N2 - N1), which
cancels start-up and exit:

- natively: ``tscrun`` (``benchmarks/uarch/tscrun.c``) runs the program
  (fork+exec+wait4), reading the TSC around it, and measures the core cycles per
  TSC tick with a chain of dependent register adds (the TSC ticks at a fixed
  rate; the core runs at its turbo clock; a chain of dependent multiplies must
  agree, or the run stops: a core that folded adds would fool the add chain). Two
  figures, best of
  ``--repeats`` runs per size: the child's CPU time (rusage) x TSC ticks per ns x
  core cycles per tick, which excludes time spent waiting for a core on a shared
  machine (the figure the errors are taken against), and the TSC ticks around the
  run x core cycles per tick (wall time: only honest on an idle machine);
- simulated: the run's user plus kernel cycles, in a coffer, under ``simple`` and
  under ``mca`` (the disk cache warmed by the first run), with first-touch page
  faults charged (``page_faults=True``, as in every timed run).

``mca`` is a user-mode model, so the loops must not spend their steady state in the
kernel: every program, on both sides, runs with ``ENV``, which has glibc's malloc keep
the memory it frees instead of trimming it back to the kernel. Without it zlib's
allocator gives back and re-faults about 20 pages an iteration (natively about 40% of
its CPU time, in the kernel); the others take the same faults either way (none an
iteration; SQLite about one per hundred as its page cache grows).

Prints a Markdown table (the one in docs/accounting.md). The machine is shared, so
native figures are best-of and still move by several percent between runs.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cofferos.api import run_program
from cofferos.coffers.config import CofferConfig
from cofferos.workloads import build

SOURCES = Path(__file__).with_name("uarch")
LUA = ("-I/usr/include/lua5.4", "/usr/lib/x86_64-linux-gnu/liblua5.4.a", "-lm")
SQLITE = ("-lsqlite3", "-lm", "-lpthread", "-ldl")
ZLIB = ("-lz",)
EXPAT = ("-lexpat",)  #: Debian's libexpat1-dev
NATIVE_TIMEOUT_S = 600
#: Given to every program, natively and in the coffer: malloc keeps up to 256 MiB it
#: frees rather than give it back to the kernel (glibc's M_TRIM_THRESHOLD tunable), so a
#: loop that frees and allocates again takes no page faults (module docstring).
ENV = (("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=268435456"),)
_TSCRUN = re.compile(r"ticks=(\d+) core_per_tick=([\d.]+) cpu_ns=(\d+) ticks_per_ns=([\d.]+) "
                     r"imul_per_tick=([\d.]+)")
#: The add chain and the multiply chain must agree this closely, or the add chain does
#: not count core cycles on this core (one that folds or eliminates adds).
CHAIN_AGREEMENT = 0.02


@dataclass(frozen=True)
class Program:
    name: str
    source: str | None  #: a C file in benchmarks/uarch, or None for a built-in workload
    link: tuple[str, ...]
    sizes: tuple[int, int]  #: N1, N2 iterations


PROGRAMS = (
    Program("@compute", None, (), (2_000_000, 20_000_000)),
    Program("lua", "lua_loop.c", LUA, (20_000, 100_000)),
    Program("sqlite", "sqlite_loop.c", SQLITE, (2_000, 10_000)),
    Program("zlib", "zlib_loop.c", ZLIB, (20, 100)),
    Program("expat", "expat_loop.c", EXPAT, (500, 2_500)),
)


def _compile(source: Path, out: Path, flags: list[str]) -> Path:
    subprocess.run(["gcc", "-O2", "-o", str(out), str(source), *flags],
                   check=True, capture_output=True, timeout=NATIVE_TIMEOUT_S)
    return out


def binary(program: Program, work: Path) -> Path:
    if program.source is None:
        return build(program.name.lstrip("@"))
    link = list(program.link)
    includes = [flag for flag in link if flag.startswith("-I")]
    rest = [flag for flag in link if not flag.startswith("-I")]
    return _compile(SOURCES / program.source, work / Path(program.source).stem,
                    ["-static", *includes, *rest])


@dataclass(frozen=True)
class Native:
    ticks: int  #: least TSC ticks around a run
    core_per_tick: float  #: greatest measured (a preempted chain only looks slower)
    cpu_ns: int  #: least CPU time of a run
    ticks_per_ns: float  #: the TSC's rate, median
    imul_per_tick: float  #: core cycles per tick from multiplies, greatest


def native_runs(tscrun: Path, path: Path, n: int, repeats: int) -> Native:
    """Best of ``repeats`` native runs of ``path`` with ``n`` iterations."""
    rows = []
    for _ in range(repeats):
        done = subprocess.run([str(tscrun), str(path), str(n)], capture_output=True,
                              text=True, check=True, timeout=NATIVE_TIMEOUT_S,
                              env={**os.environ, **dict(ENV)})
        found = _TSCRUN.search(done.stderr)
        assert found, done.stderr
        rows.append((int(found.group(1)), float(found.group(2)), int(found.group(3)),
                     float(found.group(4)), float(found.group(5))))
    rates = sorted(row[3] for row in rows)
    return Native(min(r[0] for r in rows), max(r[1] for r in rows), min(r[2] for r in rows),
                  rates[len(rates) // 2], max(r[4] for r in rows))


def simulated_cycles(path: Path, n: int, model: str, mca_cpu: str) -> int:
    config = CofferConfig(cycle_model=model, mca_cpu=mca_cpu, page_faults=True, env=ENV)
    result = run_program(str(path), [str(n)], config=config, stdout=io.BytesIO())
    assert result.exit_code == 0, result
    return result.user_cycles + result.kernel_cycles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="native runs per size")
    parser.add_argument("--mca-cpu", default="native")
    parser.add_argument("--programs", nargs="+", choices=[p.name for p in PROGRAMS],
                        help="only these (default: all)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="uarch-"))
    try:
        tscrun = _compile(SOURCES / "tscrun.c", work / "tscrun", [])
        probe = native_runs(tscrun, Path("/bin/true"), 0, 1)
        if abs(probe.imul_per_tick / probe.core_per_tick - 1) > CHAIN_AGREEMENT:
            raise SystemExit(f"add chain {probe.core_per_tick:.3f} and multiply chain "
                             f"{probe.imul_per_tick:.3f} core cycles per tick disagree: the "
                             "add chain does not count cycles on this core")
        print(f"TSC {probe.ticks_per_ns:.3f} GHz; core {probe.core_per_tick:.3f} cycles per "
              f"tick ({probe.ticks_per_ns * probe.core_per_tick:.2f} GHz; multiplies "
              f"{probe.imul_per_tick:.3f}); cycles per iteration:\n")
        print("| program | N1, N2 | native, CPU time | native, TSC wall | simple | error "
              "| mca | error |")
        print("|---|---|---|---|---|---|---|---|")
        for program in PROGRAMS:
            if args.programs and program.name not in args.programs:
                continue
            path = binary(program, work)
            n1, n2 = program.sizes
            small = native_runs(tscrun, path, n1, args.repeats)
            large = native_runs(tscrun, path, n2, args.repeats)
            ratio = max(small.core_per_tick, large.core_per_tick)
            rate = (small.ticks_per_ns + large.ticks_per_ns) / 2
            native = (large.cpu_ns - small.cpu_ns) / (n2 - n1) * rate * ratio
            wall = (large.ticks - small.ticks) / (n2 - n1) * ratio
            row = [program.name, f"{n1:,}, {n2:,}", f"{native:,.1f}", f"{wall:,.1f}"]
            for model in ("simple", "mca"):
                c1 = simulated_cycles(path, n1, model, args.mca_cpu)
                c2 = simulated_cycles(path, n2, model, args.mca_cpu)
                sim = (c2 - c1) / (n2 - n1)
                row += [f"{sim:,.1f}", f"{(sim - native) / native:+.0%}"]
            print("| " + " | ".join(row) + " |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
