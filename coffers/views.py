"""Text views of a coffer's state, for the debugger (:mod:`cofferos.debugger`).

Each function reads a coffer or a task and returns lines; none changes anything.
Where /proc already renders the same state (maps, mounts, a descriptor's target)
the view reuses its code, so the debugger and the guest's own /proc agree.

    registers(task)            the general registers, RIP and RFLAGS, FS base
    examine(task, fmt, addr)   gdb's x/NFU: bytes, words, giants, a string
    task_table(coffer, calls)  every task: state and what it is blocked on
    descriptors / memory_maps / signal_state / mount_table   one task or the coffer
"""

from __future__ import annotations

import re
import struct
from typing import TYPE_CHECKING

from unicorn import x86_const as X86

from cofferos.coffers.procfs import ProcFs, taskinfo
from cofferos.coffers.procfs.fdlinks import describe
from cofferos.coffers.procfs.mounts import mounts
from cofferos.coffers.procfs.pid import maps
from cofferos.coffers.syscalls.decode import show_bytes
from cofferos.coffers.syscalls.trace import format_arg
from cofferos.isa.faults import MemoryFault

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.task import Task

GENERAL_REGISTERS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
                     "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags")
REGISTER_IDS = {name: getattr(X86, f"UC_X86_REG_{name.upper()}") for name in GENERAL_REGISTERS}
REGISTER_IDS["rflags"] = X86.UC_X86_REG_EFLAGS
#: gdb's unit letters: byte, halfword, word, giant.
UNITS = {"b": 1, "h": 2, "w": 4, "g": 8}
UNIT_FORMATS = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}
PER_LINE = {1: 16, 2: 8, 4: 4, 8: 2}
MAX_EXAMINED = 4096  #: bytes one x command shows at most
MAX_STRING = 256
EXAMINE = re.compile(r"^/(?P<count>\d*)(?P<format>[xdus]?)(?P<unit>[bhwg]?)$")
ADDRESS = re.compile(r"^\$?(?P<base>[a-z0-9]+)(?P<offset>[+-](?:0x[0-9a-f]+|\d+))?$")


class ViewError(ValueError):
    """A request the view cannot answer (a bad format, address or pid): one line."""


def registers(task: Task) -> list[str]:
    cpu = task.cpu
    lines = [f"{name:<7}{cpu.reg(REGISTER_IDS[name]):#018x}" for name in GENERAL_REGISTERS]
    lines.append(f"fs_base {cpu.fs_base:#018x}")
    return lines


def address_of(task: Task, text: str) -> int:
    """An address: a number (0x... or decimal), or a register with an optional offset
    (``rsi``, ``$rsp+8``)."""
    match = ADDRESS.match(text.strip().lower())
    if match is None:
        raise ViewError(f"not an address: {text!r}")
    base, offset = match["base"], match["offset"]
    if base in REGISTER_IDS:
        value = task.cpu.reg(REGISTER_IDS[base])
    else:
        try:
            value = int(base, 0)
        except ValueError:
            raise ViewError(f"not an address or register: {text!r}") from None
    return value + (int(offset, 0) if offset else 0)


def examine(task: Task, spec: str, where: str) -> list[str]:
    """gdb's ``x/NFU ADDR``: N units (b, h, w, g) in hex, decimal or unsigned, or ``s``:
    a C string."""
    match = EXAMINE.match(spec)
    if match is None:
        raise ViewError(f"x{spec}: expected x/NFU, e.g. x/16xb, x/4xg, x/s")
    address = address_of(task, where)
    try:
        if match["format"] == "s":
            raw = task.cpu.read_cstring(address, MAX_STRING + 1)
            return [f"{address:#x}: {show_bytes(raw, MAX_STRING)}"]
        size = UNITS[match["unit"] or "b"]
        count = int(match["count"] or 1)
        if count * size > MAX_EXAMINED:
            raise ViewError(f"at most {MAX_EXAMINED} bytes at a time")
        data = task.cpu.read(address, count * size)
    except (MemoryFault, ValueError, OverflowError) as err:
        if isinstance(err, ViewError):
            raise
        raise ViewError(f"cannot read guest memory at {address:#x}") from None
    values = [v for (v,) in struct.iter_unpack(UNIT_FORMATS[size], data)]
    shown = {"x": lambda v: f"0x{v:0{size * 2}x}", "d": lambda v: str(_signed(v, size)),
             "u": str, "": lambda v: f"0x{v:0{size * 2}x}"}[match["format"]]
    per = PER_LINE[size]
    return [f"{address + i * size:#x}: " + " ".join(shown(v) for v in values[i:i + per])
            for i in range(0, len(values), per)]


def _signed(value: int, size: int) -> int:
    bits = size * 8
    return value - (1 << bits) if value >> (bits - 1) else value


def find(coffer: Coffer, pid: int | None, default: Task) -> Task:
    if pid is None:
        return default
    task = taskinfo.find_task(coffer, pid)
    if task is None:
        raise ViewError(f"no task {pid} in this coffer")
    return task


def task_table(coffer: Coffer, in_call: dict[int, str]) -> list[str]:
    """One line per task: pid, tgid, state, name, and for a sleeping task the call it
    sleeps in (``in_call``: pid -> call name, kept by the debugger) and on how many
    wait queues."""
    lines = ["  PID  TGID STATE  NAME             BLOCKED ON"]
    for task in taskinfo.tasks(coffer):
        state = taskinfo.state(task)
        blocked = ""
        if state == "S":
            queues = len(getattr(task, "wait_queues", ()))
            call = in_call.get(task.pid, "?")
            blocked = f"{call} ({queues} wait queue{'s' * (queues != 1)}"
            deadline = getattr(task, "deadline_ns", None)
            blocked += f", until {deadline} ns)" if deadline is not None else ")"
        lines.append(f"{task.pid:5} {taskinfo.tgid(task):5} {state:<6} "
                     f"{taskinfo.comm(task):<16} {blocked}".rstrip())
    return lines


def descriptors(coffer: Coffer, task: Task) -> list[str]:
    procfs = ProcFs(coffer)
    table = getattr(getattr(task, "files", None), "fds", {})
    lines = []
    for fd, file in taskinfo.fds(task).items():
        cloexec = " FD_CLOEXEC" if getattr(table[fd], "cloexec", False) else ""
        flags = format_arg(task, "oflags", getattr(file, "flags", 0))
        lines.append(f"{fd:3} {describe(procfs, task, file)}  {flags}{cloexec}")
    return lines or ["(no open descriptors)"]


def memory_maps(coffer: Coffer, task: Task) -> list[str]:
    return maps(ProcFs(coffer), task).splitlines() or ["(no address space)"]


def signal_state(task: Task) -> list[str]:
    masks = taskinfo.signal_masks(task)
    def names(mask: int) -> str:
        shown = [format_arg(task, "signal", n + 1) for n in range(64) if mask >> n & 1]
        return " ".join(shown) or "-"
    lines = [f"{label:<10}{names(getattr(masks, field))}" for label, field in (
        ("pending", "pending"), ("shared", "shared_pending"), ("blocked", "blocked"),
        ("ignored", "ignored"), ("caught", "caught"))]
    actions = getattr(getattr(taskinfo.process_of(task), "handlers", None), "actions", {})
    for sig, action in sorted(actions.items()):
        handler = getattr(action, "handler", 0)
        if handler > 1:
            lines.append(f"handler   {format_arg(task, 'signal', sig)} -> {handler:#x}")
    return lines


def mount_table(coffer: Coffer) -> list[str]:
    return mounts(ProcFs(coffer)).splitlines()
