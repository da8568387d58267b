"""``fastpath``: vDSO-like shortcuts.

On Linux, ``clock_gettime``, ``gettimeofday``, ``time`` and ``getcpu`` never
enter the kernel: the vDSO serves them in user mode. This personality gives a
coffer the same for those calls and for ``getpid``/``getppid``/``gettid``
(values a user-space library could cache): the kernel still answers them, but
the call is charged only the user-mode work of a vDSO call instead of a kernel
entry and exit. The saving is measurable in ``kernel_cycles``.
"""

from __future__ import annotations

from cofferos.personalities.base import Option, Personality, SyscallContext

VDSO_CALL_CYCLES = 60  #: E: a vDSO clock_gettime, a few dozen cycles (rdtsc + arithmetic)
FAST_CALLS = frozenset({"clock_gettime", "gettimeofday", "time", "getcpu", "getpid",
                        "getppid", "gettid"})


class FastPath(Personality):
    name = "fastpath"
    description = "vDSO-like shortcuts: clock and id calls without a kernel entry"
    static_cost = True  # cost reads only the call's name
    options = {"cycles": Option(int, VDSO_CALL_CYCLES, "cycles charged for a fast call")}

    def hooks_for(self, name: str, nr: int) -> tuple[str, ...]:
        """Only the fast calls' cost changes."""
        return ("cost",) if name in FAST_CALLS else ()

    def cost(self, ctx: SyscallContext, cycles: int) -> int:
        return int(self.config["cycles"]) if ctx.name in FAST_CALLS else cycles
