"""``--trace``: one strace-like line per system call.

    [1] openat(AT_FDCWD, "data.txt", O_WRONLY|O_CREAT|O_TRUNC, 0644) = 3 <2900 cycles>
    [1] read(3, 0x7ffffffde000, 4096) = -1 EBADF (Bad file descriptor) <2040 cycles>

Arguments are decoded from the kinds each table entry declares (see
:data:`cofferos.coffers.syscalls.table.ARG_KINDS`); strings are read from guest
memory before the call, so the line shows what the kernel was asked. Tracing is
off the hot path: the dispatcher calls the tracer only when one is installed.
"""

from __future__ import annotations

import errno
import os
import signal
from typing import TYPE_CHECKING, TextIO

from cofferos.coffers.syscalls.table import SyscallEntry, name_of
from cofferos.coffers.syscalls.uaccess import signed
from cofferos.isa.faults import MemoryFault

if TYPE_CHECKING:
    from cofferos.coffers.task import Task
    from cofferos.personalities.observe import Observation

AT_FDCWD = -100
MAX_SHOWN_STRING = 64
MAX_ERRNO = 4095
#: The kernel's first real-time signal (include/uapi/asm-generic/signal.h); strace names
#: signal N past it SIGRT_<N - 32>.
KERNEL_SIGRTMIN = 32

OPEN_FLAGS = [(getattr(os, name), name) for name in (
    "O_WRONLY", "O_RDWR", "O_CREAT", "O_EXCL", "O_NOCTTY", "O_TRUNC", "O_APPEND", "O_NONBLOCK",
    "O_DSYNC", "O_DIRECTORY", "O_NOFOLLOW", "O_CLOEXEC", "O_PATH", "O_TMPFILE")]
PROT_FLAGS = [(1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC")]
MAP_FLAGS = [(0x01, "MAP_SHARED"), (0x02, "MAP_PRIVATE"), (0x10, "MAP_FIXED"),
             (0x20, "MAP_ANONYMOUS"), (0x100, "MAP_GROWSDOWN"), (0x4000, "MAP_NORESERVE"),
             (0x8000, "MAP_POPULATE"), (0x20000, "MAP_STACK"), (0x100000, "MAP_FIXED_NOREPLACE")]
CLOCKS = {0: "CLOCK_REALTIME", 1: "CLOCK_MONOTONIC", 2: "CLOCK_PROCESS_CPUTIME_ID",
          3: "CLOCK_THREAD_CPUTIME_ID", 4: "CLOCK_MONOTONIC_RAW", 7: "CLOCK_BOOTTIME"}
WHENCE = {0: "SEEK_SET", 1: "SEEK_CUR", 2: "SEEK_END", 3: "SEEK_DATA", 4: "SEEK_HOLE"}


def _flags(value: int, table: list[tuple[int, str]], zero: str) -> str:
    names = [name for bit, name in table if bit and value & bit == bit]
    known = 0
    for bit, _ in table:
        known |= bit  # OR, not sum: O_TMPFILE contains O_DIRECTORY's bit
    rest = value & ~known
    if rest:
        names.append(hex(rest))
    return "|".join(names) or zero


def _string(task: Task, address: int) -> str:
    try:
        raw = task.cpu.read_cstring(address, MAX_SHOWN_STRING + 1)
    except (MemoryFault, ValueError):
        return hex(address)
    text = raw[:MAX_SHOWN_STRING].decode("utf-8", "backslashreplace")
    return f'"{text}"' + ("..." if len(raw) > MAX_SHOWN_STRING else "")


def _signal_name(number: int) -> str:
    """SIGINT, or strace's SIGRT_2 for the real-time signals (no member of signal.Signals)."""
    if number >= KERNEL_SIGRTMIN:
        return f"SIGRT_{number - KERNEL_SIGRTMIN}"
    try:
        return signal.Signals(number).name
    except ValueError:  # 32 and 33 exist in no host's signal.Signals
        return str(number)


def format_arg(task: Task, kind: str, value: int) -> str:
    """Render one argument register as strace would."""
    if kind in ("fd", "dirfd", "int", "clockid", "signal"):
        number = signed(value, 32)
        if kind == "dirfd" and number == AT_FDCWD:
            return "AT_FDCWD"
        if kind == "clockid":
            return CLOCKS.get(number, str(number))
        if kind == "signal" and 0 < number < signal.NSIG:
            return _signal_name(number)
        return str(number)
    if kind in ("path", "str"):
        return _string(task, value)
    if kind == "oflags":
        accmode = {os.O_RDONLY: "O_RDONLY"}.get(value & os.O_ACCMODE, "")
        rest = _flags(value, OPEN_FLAGS, "")  # O_WRONLY and O_RDWR are in the table
        return "|".join(part for part in (accmode, rest) if part) or "O_RDONLY"
    if kind == "mode":
        return f"0{value & 0o7777:o}"
    if kind == "prot":
        return _flags(value, PROT_FLAGS, "PROT_NONE")
    if kind == "mapflags":
        return _flags(value, MAP_FLAGS, "0")
    if kind == "whence":
        return WHENCE.get(value, str(value))
    if kind in ("size", "uint"):
        return str(value)
    if kind == "off":
        return str(signed(value))
    return "NULL" if value == 0 and kind == "ptr" else hex(value)


def format_result(result: int | None) -> str:
    if result is None:
        return "?"
    value = signed(result)
    if -MAX_ERRNO <= value < 0:
        code = -value
        return f"-1 {errno.errorcode.get(code, code)} ({os.strerror(code)})"
    return hex(value) if value > 0xFFFFFF else str(value)


TRACE_MODES = ("brief", "verbose")  #: what --trace=MODE takes


class Tracer:
    """Writes one line per call to ``out`` (the host's stderr by default).

    ``verbose``: each line also shows the guest structures the call read or wrote
    (:mod:`cofferos.coffers.syscalls.decode`), the task's instructions and user cycles
    since its previous call, and what each personality did with the call and charged
    (:mod:`cofferos.personalities.observe`). ``prefix`` starts every line (a
    container's name on the timing machine).
    """

    def __init__(self, out: TextIO, verbose: bool = False, prefix: str = "") -> None:
        self.out = out
        self.verbose = verbose
        self.prefix = prefix
        self._pending = ""
        self._call: tuple[Task, int, SyscallEntry | None, list[int], int] | None = None
        self._since: dict[int, tuple[object, int, int]] = {}  #: pid -> (cpu, insns, cycles)
        self._seen: Observation | None = None

    def enter(self, task: Task, nr: int, entry: SyscallEntry | None, regs: object) -> None:
        values = list(regs)[1:]  # type: ignore[call-overload]
        name = entry.name if entry is not None else name_of(nr)
        unimplemented = task.coffer.stats.unimplemented.get(nr, 0)
        self._call = (task, nr, entry, values, unimplemented)
        from cofferos.coffers.syscalls.decode import call_arguments

        args = ", ".join(call_arguments(task, entry, name, values))
        self._pending = f"{self.prefix}[{task.pid}] {name}({args})"
        if self.verbose:
            from cofferos.personalities.observe import observe

            stack = task.coffer.dispatcher.personalities
            self._seen = observe(stack) if stack.personalities else None
            if self._seen is not None:
                self._seen.take()

    def _user_time(self, task: Task) -> str:
        """``+N insns +C cycles``: what the task ran in user mode since its last call."""
        counter = task.cpu.counter
        now = (task.cpu, counter.instructions, counter.cycles)
        before = self._since.get(task.pid)
        self._since[task.pid] = now
        if before is None or before[0] is not now[0]:
            return f"+{counter.instructions} insns +{counter.cycles} user cycles"
        return f"+{now[1] - before[1]} insns +{now[2] - before[2]} user cycles"

    def leave(self, task: Task, result: int | None, cycles: int, blocked: bool = False) -> None:
        shown = "? <blocked, will retry>" if blocked else format_result(result)
        call = self._call
        line = self._pending
        if call is not None and call[2] is None and not blocked and \
                task.coffer.stats.unimplemented.get(call[1], 0) > call[4]:
            line += " (unimplemented)"  # no personality served it either
        line += f" = {shown} <{cycles} cycles>"
        if self.verbose and call is not None:
            from cofferos.coffers.syscalls.decode import call_details

            extra = call_details(task, name_of(call[1]), call[3], None if blocked else result)
            extra.append(self._user_time(task))
            if self._seen is not None:
                extra += self._seen.take()
            line += " " + "; ".join(extra)
        self.out.write(line + "\n")
        self.out.flush()
