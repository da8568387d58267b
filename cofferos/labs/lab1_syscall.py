"""Lab 1's grader: the system call ``nproc`` (1001), served by a personality and by a table.

The student's ``nproc.py`` defines ``NPROC``, ``sys_nproc``, ``NprocPersonality`` and
``register`` (``skeletons/lab1/README.md``). The checks run the lab's guest
(``skeletons/lab1/nproc_test.c``, the grader's own copy) in a coffer three ways:
with the plain kernel (``ENOSYS``), with the personality in the stack, and with a
default table that ``register`` extended; the last two must print the expected
counts, and the personality must leave every other call to the kernel.
"""

from __future__ import annotations

import errno
from typing import Any

from cofferos.coffers.syscalls.table import default_table
from cofferos.labs.grader import (
    SKELETONS,
    Check,
    CheckFailed,
    Work,
    expect_lines,
    no_oops,
    run_guest,
)
from cofferos.personalities.base import RESERVED_FIRST, RESERVED_LAST, Personality

TITLE = "add a system call (nproc, served by a personality and by the kernel's table)"
SUMMARY = "a new call number served by a personality, and the same added to a coffer's table"
MODULE = "nproc.py"
GUEST = SKELETONS / "lab1" / "nproc_test.c"
NPROC = 1001  #: the number the guest calls
CHILDREN = 3  #: the guest's children alive at its first call
EXPECTED = (f"nproc with {CHILDREN} children: {CHILDREN + 1}",
            "nproc with an unknown flag: EINVAL",
            "nproc after wait: 1")
WITHOUT = (f"nproc with {CHILDREN} children: ENOSYS",)


def _succeeded(result: Any, output: str, what: str) -> None:
    no_oops(result, what)
    if result.exit_code != 0:
        raise CheckFailed(f"{what}: the guest exited with status {result.exit_code} "
                          f"({result.end_reason})")


def number(work: Work) -> str:
    nr = work.attribute(MODULE, "NPROC")
    if nr != NPROC:
        raise CheckFailed(f"NPROC is {nr!r}; the guest calls {NPROC}")
    if not RESERVED_FIRST <= nr <= RESERVED_LAST:
        raise CheckFailed(f"{nr} is outside the reserved range")
    return f"NPROC = {nr}, in the reserved range {RESERVED_FIRST}-{RESERVED_LAST}"


def handler(work: Work) -> str:
    sys_nproc = work.attribute(MODULE, "sys_nproc")
    answer = sys_nproc(_FakeTask(processes=5), 1)
    if answer != -errno.EINVAL:
        raise CheckFailed(f"sys_nproc(task, flags=1) returned {answer!r}, not -EINVAL")
    answer = sys_nproc(_FakeTask(processes=5), 0)
    if answer != 5:
        raise CheckFailed(f"sys_nproc on a coffer of 5 processes returned {answer!r}")
    return "5 processes counted; flags=1 is -EINVAL"


class _FakeTask:
    """Just enough of a task for the handler on its own: a coffer with processes."""

    def __init__(self, processes: int) -> None:
        self.coffer = type("FakeCoffer", (), {})()
        self.coffer.processes = {pid: object() for pid in range(1, processes + 1)}


def plain_kernel(work: Work) -> str:
    result, output = run_guest(work.guest(GUEST))
    _succeeded(result, output, "without nproc")
    expect_lines(output, WITHOUT, "a kernel without nproc")
    return "without the call the guest sees ENOSYS"


def personality(work: Work) -> str:
    cls = work.attribute(MODULE, "NprocPersonality")
    if not (isinstance(cls, type) and issubclass(cls, Personality)):
        raise CheckFailed("NprocPersonality is not a Personality subclass")
    result, output = run_guest(work.guest(GUEST), personalities=[cls()])
    _succeeded(result, output, "with NprocPersonality")
    expect_lines(output, EXPECTED, "with NprocPersonality")
    return "the guest printed " + ", ".join(line.split(": ")[1] for line in EXPECTED)


def others_untouched(work: Work) -> str:
    cls = work.attribute(MODULE, "NprocPersonality")
    plain = run_guest(work.guest(GUEST))[0]
    served = run_guest(work.guest(GUEST), personalities=[cls()])[0]
    if served.syscalls != plain.syscalls:
        differ = sorted(name for name in set(plain.syscalls) | set(served.syscalls)
                        if plain.syscalls.get(name) != served.syscalls.get(name))
        raise CheckFailed("the personality changed which calls reach the kernel: "
                          + ", ".join(f"{name} {plain.syscalls.get(name, 0)} -> "
                                      f"{served.syscalls.get(name, 0)}" for name in differ))
    return f"the kernel served the same {sum(plain.syscalls.values())} other calls"


def table(work: Work) -> str:
    register = work.attribute(MODULE, "register")
    extended = default_table()
    register(extended)
    entry = extended.lookup(NPROC)
    if entry is None:
        raise CheckFailed(f"register(table) added nothing at number {NPROC}")
    if entry.name != "nproc":
        raise CheckFailed(f"the entry at {NPROC} is named {entry.name!r}, not 'nproc'")
    result, output = run_guest(work.guest(GUEST), table=extended)
    _succeeded(result, output, "with the extended table")
    expect_lines(output, EXPECTED, "with the extended table")
    return f"table entry {NPROC} 'nproc' ({', '.join(entry.args) or 'no arguments'}) served it"


CHECKS: list[Check] = [
    ("NPROC is the guest's number", number),
    ("sys_nproc counts processes and refuses flags", handler),
    ("the plain kernel answers ENOSYS", plain_kernel),
    ("a personality serves nproc", personality),
    ("the personality leaves other calls to the kernel", others_untouched),
    ("register adds nproc to a coffer's table", table),
]
