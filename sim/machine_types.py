"""The timed machine's configuration and what a run of it reports.

:class:`MachineConfig` is what :class:`cofferos.sim.machine.Machine` is built with
(one frozen dataclass, a default and a line of meaning per field, written into every
run's resolved configuration); :class:`MachineResult` is what its ``run`` returns:
the simulated time, and where each container's core time went
(:class:`ContainerTimes`). Kept apart from the machine so that the sweeps, the
experiments and the CLI that only configure a machine or read its results need not
read the machine itself; ``cofferos.sim.machine`` names them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_SLICE = 100_000


@dataclass(frozen=True)
class MachineConfig:
    """The simulated machine. Each field: default, then meaning."""

    cores: int = 4
    """Cores of the machine."""
    kernel: str = "cofferos"
    """Kernel architecture: cofferos, linux, vm or sandbox; ``linux:2.6.35`` (or vm:)
    names the Linux version whose lock table the machine uses (sim/lockversions.py)."""
    frequency_hz: int = 3_000_000_000
    """Core clock."""
    slice_instructions: int = DEFAULT_SLICE
    """Instructions a thread runs before the replay (and the bound of reordering)."""
    hardware_contention: float = 0.10
    """Shared memory/LLC slowdown of user time at full load (see sim/hardware.py)."""
    until_ns: int | None = None
    """Stop the machine at this simulated time (None: when every container is done)."""
    memory_bytes: int = 64 << 30
    """The machine's RAM: what a shared kernel (or host-backed sandboxes) hand out."""
    threads_max: int = 32_768
    """A shared kernel's task limit: PID_MAX_DEFAULT (include/linux/threads.h)."""
    disk_bytes: int = 1 << 40
    """The host disk that containers with ``storage_from_host`` write their files to."""


@dataclass
class ContainerTimes:
    """Where one container's simulated core time went (ns)."""

    user: float = 0.0
    kernel: float = 0.0
    lock_wait: float = 0.0
    virtualization: float = 0.0

    @property
    def busy(self) -> float:
        return self.user + self.kernel + self.lock_wait + self.virtualization


@dataclass
class MachineResult:
    elapsed_ns: float
    cores: int
    kernel: str
    times: dict[str, ContainerTimes] = field(default_factory=dict)
    idle_ns: float = 0.0
    boot_ns: int = 0
    memory_overhead: int = 0
    finished_ns: dict[str, float] = field(default_factory=dict)
    cut_off: frozenset[str] = frozenset()
    """Coffers still running when ``until_ns`` stopped the machine (then killed)."""

    def breakdown(self) -> dict[str, float]:
        """Fractions of all core time: user, kernel, lock wait, virtualization, idle."""
        total = self.elapsed_ns * self.cores or 1.0
        sums = ContainerTimes()
        for t in self.times.values():
            sums.user += t.user
            sums.kernel += t.kernel
            sums.lock_wait += t.lock_wait
            sums.virtualization += t.virtualization
        return {"user": sums.user / total, "kernel": sums.kernel / total,
                "lock_wait": sums.lock_wait / total,
                "virtualization": sums.virtualization / total,
                "idle": max(0.0, 1.0 - sums.busy / total)}
