"""Lab 2's grader: a counting personality whose published counters match the kernel's.

The student's ``counting.py`` defines ``CallCounter`` (``skeletons/lab2/README.md``).
The checks run the lab's guest (``skeletons/lab2/count_test.c``) with it, read its
counters from ``RunResult.personality_counters``, and compare them with the truth:
the kernel's own count of each call (``RunResult.syscalls``, less the calls that
never return) and a tracer's view of every completed call's result (the errors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cofferos.coffers.syscalls.table import name_of
from cofferos.coffers.syscalls.uaccess import signed
from cofferos.labs.grader import SKELETONS, Check, CheckFailed, Work, no_oops, run_guest
from cofferos.personalities.base import Personality

TITLE = "a counting personality that publishes its counters"
SUMMARY = "count a coffer's system calls in a personality; publish them through counters()"
MODULE = "counting.py"
GUEST = SKELETONS / "lab2" / "count_test.c"
NAME = "callcount"  #: the personality's name, the key of its counters
NEVER_RETURN = frozenset({"exit", "exit_group"})  #: calls on_exit never sees
ERRNO_MAX = 4095  #: results from -4095 to -1 are errors (include/linux/err.h MAX_ERRNO)
RUNS = ("3", "11")  #: the guest's getppid counts in the two graded runs


@dataclass
class _Results:
    """A tracer that keeps each completed call's name and signed result (None: no return)."""

    calls: list[tuple[str, int | None]] = field(default_factory=list)
    _entered: dict[int, str] = field(default_factory=dict)

    def enter(self, task: Any, nr: int, entry: Any, regs: object) -> None:
        self._entered[task.pid] = entry.name if entry is not None else name_of(nr)

    def leave(self, task: Any, result: int | None, cycles: int, blocked: bool = False) -> None:
        name = self._entered.pop(task.pid, "?")
        if not blocked:
            self.calls.append((name, None if result is None else signed(result)))


def _personality(work: Work) -> type[Personality]:
    cls = work.attribute(MODULE, "CallCounter")
    if not (isinstance(cls, type) and issubclass(cls, Personality)):
        raise CheckFailed("CallCounter is not a Personality subclass")
    if cls.name != NAME:
        raise CheckFailed(f"CallCounter.name is {cls.name!r}, not {NAME!r}")
    return cls


def _run(work: Work, count: str) -> tuple[dict[str, int | float], Any, _Results]:
    cls = _personality(work)
    results = _Results()
    result, output = run_guest(work.guest(GUEST), [count], personalities=[cls()],
                               tracer=results)
    no_oops(result, "with CallCounter")
    counters = result.personality_counters.get(NAME)
    if counters is None:
        raise CheckFailed(f"no counters published under {NAME!r}: "
                          f"{sorted(result.personality_counters)}")
    return counters, result, results


def published(work: Work) -> str:
    counters, _, _ = _run(work, RUNS[0])
    missing = [key for key in ("calls", "errors") if key not in counters]
    if missing:
        raise CheckFailed(f"counters() has no {', '.join(map(repr, missing))}: "
                          f"{sorted(counters)[:8]}")
    if not any(key.startswith("calls.") for key in counters):
        raise CheckFailed("counters() has no calls.NAME entry")
    return f"{len(counters)} counters published under {NAME!r}"


def per_call(work: Work) -> str:
    seen = []
    for count in RUNS:
        counters, result, _ = _run(work, count)
        truth = {name: n for name, n in result.syscalls.items() if name not in NEVER_RETURN}
        mine = {key.removeprefix("calls."): value for key, value in counters.items()
                if key.startswith("calls.")}
        wrong = sorted(name for name in set(truth) | set(mine)
                       if mine.get(name, 0) != truth.get(name, 0))
        if wrong:
            raise CheckFailed(f"with getppid x{count}: " + ", ".join(
                f"calls.{name} is {mine.get(name, 0)}, the kernel served {truth.get(name, 0)}"
                for name in wrong[:4]))
        seen.append(f"getppid x{count}: {sum(truth.values())} calls, "
                    f"{len(truth)} names")
    return "; ".join(seen)


def totals(work: Work) -> str:
    counters, result, results = _run(work, RUNS[1])
    completed = [(name, value) for name, value in results.calls if value is not None]
    errors = sum(1 for _, value in completed if -ERRNO_MAX <= value <= -1)
    if counters.get("calls") != len(completed):
        raise CheckFailed(f"calls is {counters.get('calls')!r}; {len(completed)} calls "
                          "completed")
    if counters.get("errors") != errors:
        raise CheckFailed(f"errors is {counters.get('errors')!r}; {errors} calls failed")
    return f"calls {len(completed)}, errors {errors}"


def unchanged(work: Work) -> str:
    cls = _personality(work)
    plain, plain_output = run_guest(work.guest(GUEST), [RUNS[0]])
    counted, counted_output = run_guest(work.guest(GUEST), [RUNS[0]],
                                        personalities=[cls()])
    if (counted_output, counted.exit_code) != (plain_output, plain.exit_code):
        raise CheckFailed(f"the guest behaves differently: printed {counted_output!r} and "
                          f"exited {counted.exit_code}; without the personality "
                          f"{plain_output!r}, {plain.exit_code}")
    return f"same output, exit status {plain.exit_code}"


CHECKS: list[Check] = [
    ("CallCounter publishes calls, errors and calls.NAME", published),
    ("calls.NAME match the kernel's count of each call", per_call),
    ("calls and errors match every completed call", totals),
    ("the guest behaves as without the personality", unchanged),
]
