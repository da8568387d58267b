"""A coffer's budget of host CPU time: the guard against a guest that stalls the run.

The simulator serves every coffer of a run on one host thread. A guest whose
*kernel* work is expensive on the host (thousands of mappings, thousands of
threads) can stall every other coffer while its own instruction count, which
``--max-instructions`` limits, barely moves. :class:`HostTimeBudget` counts the
host CPU seconds (``time.process_time``) spent on one coffer's behalf: each slice,
guest code and the system calls it makes, which the kernel model serves inline.
The scheduler checks it at the end of every slice; the dispatcher checks it after
every system call (one clock read, only when a budget is set), so a single slice
full of slow calls cannot run on. The per-block instruction counter is untouched.
When the budget is spent, the coffer's processes are killed with SIGXCPU (Linux's
signal for RLIMIT_CPU) and one line on stderr names the coffer and the reason.
"""

from __future__ import annotations

import time


class HostTimeBudget:
    """Host CPU seconds a coffer may use in all; slices are timed with start/stop."""

    def __init__(self, limit_seconds: float) -> None:
        self.limit = limit_seconds
        self.used = 0.0
        self._started: float | None = None

    def start(self) -> float:
        """A slice begins: returns the ``process_time`` past which it must stop."""
        self._started = time.process_time()
        return self._started + max(self.limit - self.used, 0.0)

    def stop(self) -> None:
        """The slice ended: add its host time."""
        if self._started is not None:
            self.used += time.process_time() - self._started
            self._started = None

    @property
    def exhausted(self) -> bool:
        return self.used >= self.limit
