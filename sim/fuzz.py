"""Fuzzing campaigns: a hostile guest beside victims, and what it did to anyone.

:func:`run_campaign` runs the built-in ``@fuzz`` workload (``workloads/src/fuzz.c``:
seeded random system calls with adversarial arguments, made by children a
supervisor forks and reaps) in one coffer, beside one coffer per victim, on one
simulated machine (:func:`cofferos.sim.experiment.run_mix`). Each victim is a small
known workload whose output depends only on its arguments, so it is first run
alone, under the same kernel and cores: with the attacker beside it, its exit,
stdout and stderr must be the same, and no task of it may be oopsed.

What a campaign reports (:class:`FuzzReport`):

* the calls the fuzzer drew and the system calls its coffer's kernel served;
* oopses, distinct by traceback (its frames and the exception's type; the message,
  which carries values, is left out), each with the first traceback and the call
  that raised it (number and argument registers, read when the kernel recorded it);
* harm to each victim (what differs from its run alone);
* the host's peak memory (``ru_maxrss`` of this process) against a stated bound:
  :attr:`FuzzConfig.host_memory_base` plus every coffer's memory and disk limits;
* host time (wall and CPU) and the rate.

The command line is ``coffersim fuzz`` (:mod:`cofferos.cli_fuzz`).
"""

from __future__ import annotations

import re
import resource
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from cofferos.errors import ConfigError

if TYPE_CHECKING:  # the kernel model is imported when a campaign runs, not for --help
    from cofferos.coffers.coffer import Coffer
    from cofferos.sim.experiment import ContainerReport, ContainerSpec
    from cofferos.sim.machine import Machine

MIB = 1 << 20
KIB = 1 << 10
FUZZER = "@fuzz"
#: The fuzzing coffer's name; victims are victim0, victim1, ...
FUZZER_NAME = "fuzzer"
#: A file loop (create, write, read, stat, rename, readdir, unlink) and a clock, pipe,
#: poll, timerfd, eventfd and epoll loop with forked children: their output is fixed.
DEFAULT_VICTIMS: tuple[tuple[str, ...], ...] = (("@fileio", "16"), ("@pipeline", "3"))
#: The fuzzer's last line (workloads/src/fuzz.c): the end of its output, after whatever its
#: children wrote (which need not end with a newline).
SUMMARY = re.compile(rb"fuzz: calls (\d+) children (\d+) seed (\d+)\n\Z")
#: Lines of a traceback that name a frame.
FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>\S+)$',
                   re.MULTILINE)


@dataclass(frozen=True)
class FuzzConfig:
    """One campaign. Each field: default, then meaning."""

    calls: int = 20_000
    """System calls the fuzzer draws (in ceil(calls / batch) children)."""
    seed: int = 0
    """The fuzzer's seed: same seed, same calls, same campaign."""
    batch: int = 64
    """Calls per fuzzing child."""
    victims: tuple[tuple[str, ...], ...] = DEFAULT_VICTIMS
    """Each victim's program (``@workload`` or a host path) and arguments."""
    kernel: str = "cofferos"
    """Kernel architecture of the machine (cofferos, linux, vm, sandbox)."""
    cores: int = 2
    """Cores of the simulated machine."""
    memory_limit: int = 256 * MIB
    """Each coffer's memory limit (bytes of address space it may map)."""
    disk_limit: int = 64 * MIB
    """Each coffer's disk quota (bytes its regular files may hold)."""
    host_memory_base: int = 2048 * MIB
    """The host's peak memory bound without the coffers' own limits: the interpreter,
    Unicorn's engines and code caches, the kernel model's objects."""

    @property
    def host_memory_bound(self) -> int:
        """The bound on the host's peak memory: the base plus every coffer's limits."""
        coffers = 1 + len(self.victims)
        return self.host_memory_base + coffers * (self.memory_limit + self.disk_limit)

    def check(self) -> None:
        if self.calls < 1 or self.batch < 1 or self.cores < 1:
            raise ConfigError("fuzz: calls, batch and cores must be at least 1")
        if self.memory_limit < MIB or self.disk_limit < 0 or self.host_memory_base < 0:
            raise ConfigError("fuzz: the memory limit must be at least 1 MiB, and the disk "
                              "limit and host memory base not negative")
        if not all(self.victims):
            raise ConfigError("fuzz: a victim needs a program")


@dataclass
class Oops:
    """One distinct oops: the first traceback, the call that raised it, how often."""

    traceback: str
    call: str
    count: int = 1

    @property
    def first_line(self) -> str:
        """The exception line (what the report lists for each)."""
        lines = self.traceback.strip().splitlines()
        return lines[-1] if lines else ""


@dataclass
class FuzzReport:
    config: FuzzConfig
    calls_drawn: int
    children: int
    syscalls: int
    """System calls the fuzzing coffer's kernel served (every process, setup included)."""
    fuzzer_exit: int
    oopses: list[Oops] = field(default_factory=list)
    harm: list[str] = field(default_factory=list)
    peak_rss_bytes: int = 0
    host_seconds: float = 0.0
    cpu_seconds: float = 0.0
    simulated_seconds: float = 0.0

    @property
    def oops_total(self) -> int:
        return sum(oops.count for oops in self.oopses)

    @property
    def memory_exceeded(self) -> bool:
        return self.peak_rss_bytes > self.config.host_memory_bound

    @property
    def finished(self) -> bool:
        """The fuzzer's supervisor printed its summary: nothing ended it early."""
        return self.children > 0

    @property
    def ok(self) -> bool:
        return (self.finished and not self.oopses and not self.harm
                and not self.memory_exceeded)


def oops_key(traceback: str) -> str:
    """What makes two oopses the same: the frames and the exception's type."""
    frames = [f"{m['file']}:{m['line']}:{m['function']}" for m in FRAME.finditer(traceback)]
    last = traceback.strip().splitlines()[-1] if traceback.strip() else ""
    return "\n".join([*frames, last.split(":", 1)[0]])


class _OopsLog(list[str]):
    """A coffer's oops list that also notes the call on the CPU when each is recorded.

    The dispatcher appends the traceback while the oopsed task is still current and
    before RAX is written, so its registers hold the call's number and arguments.
    """

    def __init__(self, coffer: Coffer) -> None:
        super().__init__()
        self.coffer = coffer
        self.calls: list[str] = []

    def append(self, text: str) -> None:  # type: ignore[override]
        super().append(text)
        self.calls.append(self._current_call())

    def _current_call(self) -> str:
        task = self.coffer.current
        if task is None or task.cpu is None:
            return "(no task on the CPU)"
        from cofferos.coffers.syscalls.table import name_of

        nr, *args = task.cpu.syscall_args()
        return f"{name_of(nr)}({', '.join(hex(arg) for arg in args)}) by pid {task.tgid}"


def _specs(config: FuzzConfig, with_fuzzer: bool) -> list[ContainerSpec]:
    from cofferos.coffers.config import CofferConfig
    from cofferos.coffers.program import resolve_program
    from cofferos.sim.experiment import ContainerSpec

    base = CofferConfig(memory_limit=config.memory_limit, disk_limit=config.disk_limit)
    specs = []
    if with_fuzzer:
        specs.append(ContainerSpec(
            resolve_program(FUZZER), (str(config.calls), str(config.seed), str(config.batch)),
            replace(base, name=FUZZER_NAME, seed=config.seed)))
    for index, (program, *args) in enumerate(config.victims):
        specs.append(ContainerSpec(resolve_program(program), tuple(args),
                                   replace(base, name=f"victim{index}", seed=index)))
    return specs


def _run(config: FuzzConfig, with_fuzzer: bool) -> tuple[list[ContainerReport], list[Coffer],
                                                         float]:
    from cofferos.sim.experiment import run_mix
    from cofferos.sim.machine import MachineConfig

    coffers: list[Coffer] = []

    def prepare(machine: Machine) -> None:
        coffers.extend(machine.coffers)
        for coffer in machine.coffers:
            coffer.stats.oopses = _OopsLog(coffer)

    report = run_mix(_specs(config, with_fuzzer), kernel=config.kernel, cores=config.cores,
                     machine=MachineConfig(), prepare=prepare)
    return report.containers, coffers, report.simulated_seconds


def _differences(alone: ContainerReport, attacked: ContainerReport) -> list[str]:
    found = []
    for what in ("exit_code", "killed_by", "stdout", "stderr"):
        before, after = getattr(alone, what), getattr(attacked, what)
        if before != after:
            found.append(f"{what} {before!r:.80} became {after!r:.80}")
    return found


def _collect_oopses(coffers: list[Coffer]) -> list[Oops]:
    distinct: dict[str, Oops] = {}
    for coffer in coffers:
        log = coffer.stats.oopses
        calls = log.calls if isinstance(log, _OopsLog) else [""] * len(log)
        for text, call in zip(log, calls, strict=True):
            key = oops_key(text)
            if key in distinct:
                distinct[key].count += 1
            else:
                distinct[key] = Oops(text, f"{coffer.config.name}: {call}")
    return list(distinct.values())


def run_campaign(config: FuzzConfig) -> FuzzReport:
    """Run the victims alone, then beside the fuzzer; report oopses, harm, memory, time."""
    config.check()
    started, cpu_started = time.perf_counter(), time.process_time()
    alone, alone_coffers, _ = _run(config, with_fuzzer=False)
    attacked, coffers, simulated = _run(config, with_fuzzer=True)
    fuzzer, victims = attacked[0], attacked[1:]
    harm = []
    for index, (before, after) in enumerate(zip(alone, victims, strict=True)):
        program = " ".join(config.victims[index])
        harm += [f"victim{index} ({program}): {diff}" for diff in _differences(before, after)]
        if coffers[1 + index].stats.oopses:
            harm.append(f"victim{index} ({program}): {len(coffers[1 + index].stats.oopses)} "
                        "of its tasks oopsed")
    summary = SUMMARY.search(fuzzer.stdout)
    calls, children = (int(summary[1]), int(summary[2])) if summary else (0, 0)
    stats = coffers[0].stats
    return FuzzReport(
        config=config, calls_drawn=calls, children=children,
        syscalls=stats.total_calls + sum(stats.unimplemented.values()),
        fuzzer_exit=fuzzer.exit_code,
        oopses=_collect_oopses(alone_coffers + coffers), harm=harm,
        peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * KIB,
        host_seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu_started,
        simulated_seconds=simulated)
