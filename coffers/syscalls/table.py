"""The system call table: one entry per implemented call, bound explicitly.

Like xv6's ``syscalls[]`` array, the table maps a call number to its handler,
but each entry also carries the call's name and the kinds of its arguments (for
``--trace`` decoding). Handlers are grouped by family in modules named after the
Linux source files they mirror (``read_write``, ``open``, ``stat`` ...); each
family module has a ``register(table)`` function that adds its entries by name.
Adding a call is one handler and one ``table.add`` line: no name-prefix lookup,
no signature introspection at dispatch time. A call Linux does not have takes a
number of the range reserved for new calls (``table.add("name", handler, ...,
nr=1001)``, :data:`~cofferos.personalities.base.RESERVED_FIRST` to
:data:`~cofferos.personalities.base.RESERVED_LAST`, the same range a personality's
``handle`` may define calls in).

A handler is ``handler(task, arg0, ..., argN) -> int | None``: the value for RAX
(negative errno on failure), or ``None`` when the call does not return to the
caller (``exit``, ``execve`` success).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cofferos.coffers.syscalls.numbers import SYSCALL_NAMES, SYSCALL_NUMBERS
from cofferos.personalities.base import RESERVED_FIRST, RESERVED_LAST

if TYPE_CHECKING:
    pass

Handler = Callable[..., Any]
#: Every number a table may hold: Linux's calls, then the range reserved for new ones.
TABLE_SIZE = RESERVED_LAST + 1

#: Argument kinds understood by the tracer (see :mod:`cofferos.coffers.syscalls.trace`).
ARG_KINDS = frozenset({
    "int", "uint", "fd", "dirfd", "hex", "ptr", "size", "off", "path", "str", "mode",
    "oflags", "prot", "mapflags", "signal", "clockid", "whence",
})


@dataclass(frozen=True, slots=True)
class SyscallEntry:
    nr: int
    name: str
    handler: Handler
    args: tuple[str, ...]

    @property
    def arity(self) -> int:
        return len(self.args)


class SyscallTable:
    """Numbers to entries. Built once per kernel configuration, then read-only."""

    def __init__(self) -> None:
        self.entries: list[SyscallEntry | None] = [None] * TABLE_SIZE

    def add(self, name: str, handler: Handler, *args: str, nr: int | None = None) -> None:
        """Register ``handler`` for the x86-64 call ``name``; or, with ``nr``, for a
        new call of that name and number, in the reserved range."""
        if nr is None:
            nr = SYSCALL_NUMBERS.get(name)
            if nr is None:
                raise ValueError(f"no x86-64 system call named {name!r}")
        elif not RESERVED_FIRST <= nr <= RESERVED_LAST:
            raise ValueError(f"{name}: a new call takes a number from {RESERVED_FIRST} to "
                             f"{RESERVED_LAST}, not {nr}")
        elif name in SYSCALL_NUMBERS:
            raise ValueError(f"{name} is an x86-64 system call already "
                             f"(number {SYSCALL_NUMBERS[name]})")
        unknown = set(args) - ARG_KINDS
        if unknown:
            raise ValueError(f"{name}: unknown argument kinds {sorted(unknown)}")
        if self.entries[nr] is not None:
            raise ValueError(f"{name} registered twice")
        self.entries[nr] = SyscallEntry(nr, name, handler, args)

    def lookup(self, nr: int) -> SyscallEntry | None:
        return self.entries[nr] if 0 <= nr < TABLE_SIZE else None

    def implemented(self) -> list[str]:
        return [entry.name for entry in self.entries if entry is not None]


def name_of(nr: int) -> str:
    return SYSCALL_NAMES.get(nr, f"syscall_{nr}")


def default_table() -> SyscallTable:
    """The table of every family this kernel implements, registered in one place."""
    from cofferos.coffers.syscalls import FAMILIES

    table = SyscallTable()
    for family in FAMILIES:
        family.register(table)
    return table


@dataclass(frozen=True)
class FrozenSyscallTable(SyscallTable):
    """A table no call is added to, its entries a tuple: one may serve every coffer
    (:func:`shared_default_table`) and still be no mutable state they share."""

    entries: tuple[SyscallEntry | None, ...]  # type: ignore[assignment]

    def add(self, name: str, handler: Handler, *args: str, nr: int | None = None) -> None:
        raise ValueError(f"{name}: this table is every coffer's and read-only; add calls "
                         "to a table of your own (default_table())")


@functools.cache
def shared_default_table() -> FrozenSyscallTable:
    """The default table, built once and shared, read-only, by every coffer given no
    table of its own: its entries name module-level handlers and hold no kernel state,
    so one table serves them all (building it is 234 registrations, about 1.5 ms a
    coffer: a tenth of a coffer of @hello in a run of 10,000, issue #17). The handlers
    are the ones the modules held when it was first built: a test that replaces one
    gives its coffers ``default_table()`` instead."""
    return FrozenSyscallTable(tuple(default_table().entries))
