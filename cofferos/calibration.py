"""Calibration: the lmbench suite in simulated time, natively, and beside published figures.

What ``coffersim calibrate`` does, minus argument parsing (re-exported by
:mod:`cofferos.timing`). :func:`calibrate` runs the ``lmbench`` workload
(``workloads/src/lmbench.c``) in one container under one kernel architecture and,
with ``native=True``, the *same* binary as a host process (:func:`run_native`),
so each operation has three figures: simulated, measured on this host, and
published (``docs/calibration.md``). The host's CPU model is recorded with the
native figures: they are a measurement of that machine, not of the reference's.
Fitting the model's shared parameters on some operations and judging it on the
others is :mod:`cofferos.calibration_fit`.
"""

from __future__ import annotations

import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from cofferos.api import resolve_program
from cofferos.coffers.coffer import CofferConfig
from cofferos.errors import ProgramError
from cofferos.sim.experiment import RunReport, run_containers
from cofferos.workloads.calibration import (
    CALIBRATION_OPS,
    LMBENCH_WORKLOAD,
    CalibrationOp,
    parse_lmbench_output,
)

#: A calibrated operation is "within" when simulated / reference is within this of 1.
CALIBRATION_TOLERANCE = 0.30
#: lmbench iterations per op for ``calibrate``: steady figures in about 20 s of host time
#: (the program's own defaults, 500-20,000, take minutes in the simulator).
CALIBRATION_ITERATIONS = 1_000
#: As on real hardware: lmbench's ops run on a two-core machine (the pipe round trip
#: is cross-core, as in ipc-bench), except ctx, which lmbench pins to one CPU.
CALIBRATION_CORES = 2
PINNED_OPS = ("ctx",)
#: Host seconds the native run may take: ``lmbench all 1000`` takes well under one.
NATIVE_TIMEOUT_S = 120
CPUINFO = Path("/proc/cpuinfo")
CPUINFO_MODEL = "model name"


@dataclass(frozen=True)
class CalibrationRow:
    """One operation's simulated latency beside its native and published figures."""

    op: CalibrationOp
    simulated_us: float | None
    """None: the program printed no line for this op."""
    native_us: float | None = None
    """The same binary on this host (``--native``); None: not run natively."""

    @property
    def ratio(self) -> float | None:
        return None if self.simulated_us is None else self.simulated_us / self.op.reference_us

    @property
    def native_ratio(self) -> float | None:
        """Native / published: how this host compares with the reference machine."""
        return None if self.native_us is None else self.native_us / self.op.reference_us

    @property
    def within_tolerance(self) -> bool:
        return self.ratio is not None and abs(self.ratio - 1.0) <= CALIBRATION_TOLERANCE

    def as_dict(self) -> dict[str, object]:
        return {"op": self.op.name, "simulated_us": self.simulated_us,
                "native_us": self.native_us, "reference_us": self.op.reference_us,
                "ratio": self.ratio, "native_ratio": self.native_ratio,
                "within_tolerance": self.within_tolerance, "source": self.op.source}


@dataclass(frozen=True)
class NativeRun:
    """The calibration binary run on this host: its figures and the host's CPU."""

    cpu_model: str
    iterations: int
    us: dict[str, float] = field(default_factory=dict)


@dataclass
class Calibration:
    kernel: str
    iterations: int
    rows: list[CalibrationRow]
    report: RunReport
    native: NativeRun | None = None

    @property
    def outside(self) -> list[CalibrationRow]:
        return [row for row in self.rows if not row.within_tolerance]


def host_cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The host CPU's model name (/proc/cpuinfo), else what the platform says."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() == CPUINFO_MODEL and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def run_native(iterations: int = CALIBRATION_ITERATIONS) -> NativeRun:
    """``lmbench all ITERATIONS`` as a host process: the binary the coffer runs.

    Raises ProgramError if it fails, times out or prints something else than
    lmbench output (WorkloadError, from the parser).
    """
    path = resolve_program(f"@{LMBENCH_WORKLOAD}")
    try:
        done = subprocess.run([path, "all", str(iterations)], capture_output=True, text=True,
                              timeout=NATIVE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ProgramError(f"{LMBENCH_WORKLOAD} natively took more than "
                           f"{NATIVE_TIMEOUT_S} s") from None
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise ProgramError(f"{LMBENCH_WORKLOAD} failed natively with status "
                           f"{done.returncode}: {said[0]}")
    return NativeRun(host_cpu_model(), iterations, parse_lmbench_output(done.stdout))


def _lmbench(kernel: str, args: list[str], cores: int,
             config: CofferConfig) -> tuple[RunReport, dict[str, float]]:
    from cofferos.timing import machine_for  # (cofferos.timing re-exports this module)

    path = resolve_program(f"@{LMBENCH_WORKLOAD}")
    report = run_containers(path, args, kernel=kernel, containers=1, cores=cores, base=config,
                            machine=machine_for(kernel, cores, config.kernel_costs))
    guest = report.containers[0]
    if guest.exit_code != 0:
        said = guest.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise ProgramError(f"{LMBENCH_WORKLOAD} failed under {kernel} with status "
                           f"{guest.exit_code}: {said[0]}")
    return report, parse_lmbench_output(guest.stdout.decode(errors="replace"))


def simulate(kernel: str, iterations: int, config: CofferConfig) -> tuple[RunReport,
                                                                          dict[str, float]]:
    """Simulated microseconds per op: ``lmbench all`` on two cores, the pinned ops on one."""
    report, measured = _lmbench(kernel, ["all", str(iterations)], CALIBRATION_CORES, config)
    for op in PINNED_OPS:
        measured[op] = _lmbench(kernel, [op, str(iterations)], 1, config)[1][op]
    return report, measured


def calibrate(kernel: str = "linux", iterations: int = CALIBRATION_ITERATIONS,
              config: CofferConfig | None = None, native: bool = False) -> Calibration:
    """Run ``lmbench all ITERATIONS`` in one container under ``kernel`` (and natively).

    Two cores, as lmbench runs on a multi-core machine; the pinned ops (ctx)
    again on one core. Raises ProgramError (with the guest's stderr) if the
    program fails, and WorkloadError if what it printed is not lmbench output.
    """
    config = config or CofferConfig()
    host = run_native(iterations) if native else None
    report, measured = simulate(kernel, iterations, config)
    rows = [CalibrationRow(op, measured.get(op.name),
                           host.us.get(op.name) if host is not None else None)
            for op in CALIBRATION_OPS]
    return Calibration(kernel=kernel, iterations=iterations, rows=rows, report=report,
                       native=host)
