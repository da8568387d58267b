"""A coffer's clock: its own cycles turned into time, and the TSC its guests read.

Time in a coffer is the cycles its tasks spent in user mode and in the kernel,
turned into nanoseconds at the configured frequency, plus time spent asleep; on
the timing machine (``cofferos.sim.machine``) the machine's simulated time sets
the clock at each slice (``Coffer.clock_base``). CLOCK_MONOTONIC, CLOCK_REALTIME
(from the configured epoch), the coarse clock a file's timestamps take (Linux's
``current_time``), and the time-stamp counter ``rdtsc`` reads
(:attr:`cofferos.isa.cpu.Cpu.on_rdtsc`) all come from here.

:class:`Timekeeping` is a part of :class:`cofferos.coffers.coffer.Coffer`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofferos.coffers.config import NS_PER_SECOND
from cofferos.coffers.itimers import TICK_NSEC

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.isa.cpu import Cpu

NO_TICK = object()  #: current_time_ns keeps no tick (no slice has read the clock yet)

class Timekeeping:
    """The clock of a :class:`~cofferos.coffers.coffer.Coffer` (a part of it)."""

    @property
    def cycles(self: Coffer) -> int:
        """Cycles this coffer's tasks have run, in user mode and in the kernel, so far."""
        running = 0
        if self.slice_start is not None:
            cpu, start = self.slice_start
            running = cpu.counter.cycles - start
        return self.user_cycles + running + self.stats.kernel_cycles

    def monotonic_ns(self: Coffer) -> int:
        # The cycles property written out, and the counter's (its word, in whole cycles):
        # clock_gettime reads this clock, and a call costs about 0.1 us (issue #17).
        cycles = self.user_cycles + self.stats.kernel_cycles
        if self.slice_start is not None:
            cpu, start = self.slice_start
            cycles += cpu.counter.cycle_word.whole - start
        frequency = self.config.kernel_costs.frequency_hz
        if self.clock_base is not None:  # driven by a timing machine (cofferos.sim)
            base_ns, base_cycles = self.clock_base
            return base_ns + (cycles - base_cycles) * NS_PER_SECOND // frequency
        return cycles * NS_PER_SECOND // frequency + self.sleep_ns

    def realtime_ns(self: Coffer) -> int:
        return self.config.epoch_ns + self.monotonic_ns()

    def current_time_ns(self: Coffer) -> int:
        """The time a file's timestamps take (Linux's current_time): CLOCK_REALTIME_COARSE,
        the real time as of the last timer tick (every :data:`TICK_NSEC`), with tmpfs's
        one-nanosecond granularity. So the writes of one tick give a file one mtime, as
        file_update_time finds the stamp unchanged (Linux 6.1; multigrain stamps came in
        6.13). It is the clock of every inode of the coffer (``Superblock.now_ns``).

        Every write of a file reads it (issue #17), so inside a slice the tick is kept,
        as Linux's coarse clock is a variable the timer tick sets (:meth:`_read_tick`):
        the stamp and the range of the slice's kernel cycles plus its CPU's counter that
        stays in it. The running slice (its ``slice_start`` tuple) and the timing
        machine's ``clock_base`` are the tick's key: the rest of the clock (sleeps, the
        user cycles) changes only between slices, when no slice runs."""
        tick = self._tick
        if (tick[0] is self.slice_start and tick[1] is self.clock_base
                and tick[3] <= self.stats.kernel_cycles + tick[2].whole < tick[4]):  # type: ignore[attr-defined]
            return tick[5]  # type: ignore[return-value]
        return self._read_tick()

    def _read_tick(self: Coffer) -> int:
        """current_time_ns from the cycles (monotonic_ns's arithmetic), kept for the rest
        of the tick while a slice runs: the tick's range in the slice's kernel cycles plus
        counter, where cycles = user cycles + that sum - the slice's start."""
        slice_start, clock_base = self.slice_start, self.clock_base
        kernel_and_counter = self.stats.kernel_cycles
        if slice_start is not None:
            cpu, start = slice_start
            kernel_and_counter += cpu.counter.cycle_word.whole
            offset = self.user_cycles - start  # cycles = kernel_and_counter + offset
        else:
            offset = self.user_cycles
        cycles = kernel_and_counter + offset
        frequency = self.config.kernel_costs.frequency_hz
        # monotonic = base_ns + (cycles - base_cycles) * NS_PER_SECOND // frequency
        base_ns, base_cycles = (self.sleep_ns, 0) if clock_base is None else clock_base
        monotonic = base_ns + (cycles - base_cycles) * NS_PER_SECOND // frequency
        tick_ns = monotonic - monotonic % TICK_NSEC
        stamp = self.config.epoch_ns + tick_ns
        if slice_start is not None:
            # The first cycle count at which monotonic reaches a time, by the same floor:
            # base_cycles + ceil((time - base_ns) * frequency / NS_PER_SECOND).
            first, after = (base_cycles - offset - (base_ns - ns) * frequency // NS_PER_SECOND
                            for ns in (tick_ns, tick_ns + TICK_NSEC))
            self._tick = (slice_start, clock_base, cpu.counter.cycle_word, first, after, stamp)
        return stamp

    def _tsc(self: Coffer, _cpu: Cpu) -> int:
        """The time-stamp counter: this coffer's monotonic clock in cycles at the modelled
        frequency, so a guest that times itself with rdtsc sees simulated time."""
        return self.monotonic_ns() * self.config.kernel_costs.frequency_hz // NS_PER_SECOND
