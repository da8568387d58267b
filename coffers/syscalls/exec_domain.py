"""The execution domain of a process: personality(2) (kernel/exec_domain.c).

A personality is a word of flags that asks the kernel to emulate another
system's quirks. The coffer kernel records it as Linux does and keeps it across
fork and execve, but acts on none of its flags, because none changes what it does:

* ``ADDR_NO_RANDOMIZE`` (what ``setarch -R`` and debuggers ask for) is always in
  effect: the coffer places memory deterministically, without randomisation;
* ``READ_IMPLIES_EXEC`` is cleared by execve of a 64-bit program, as on x86-64 Linux
  (``set_personality_64bit``), and is not honoured before that by mmap;
* a set-user-ID or set-group-ID execve clears ``PER_CLEAR_ON_SETID``
  (``bprm->per_clear``), see :mod:`.exec`;
* the execution domains (PER_LINUX32, PER_SVR4 ...) are stored and reported only.

The personality is one per process (Linux keeps one per thread, copied to each new
thread, so they differ only if a thread changes its own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Process, Task

# include/uapi/linux/personality.h
PER_LINUX = 0x0000
ADDR_NO_RANDOMIZE = 0x0040000
MMAP_PAGE_ZERO = 0x0100000
ADDR_COMPAT_LAYOUT = 0x0200000
READ_IMPLIES_EXEC = 0x0400000
PER_CLEAR_ON_SETID = READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE | ADDR_COMPAT_LAYOUT | MMAP_PAGE_ZERO
PERSONALITY_QUERY = 0xFFFFFFFF  #: the argument that reads without setting
U32_MASK = 0xFFFFFFFF


def sys_personality(task: Task, personality: int) -> int:
    process = task.process
    old = process.personality
    personality &= U32_MASK  # the argument is an unsigned int
    if personality != PERSONALITY_QUERY:
        process.personality = personality
    return old


def exec_personality(process: Process, raised_ids: bool) -> None:
    """What execve of a 64-bit ELF program does to the personality (load_elf_binary):
    READ_IMPLIES_EXEC goes, and a program that raised the ids loses PER_CLEAR_ON_SETID."""
    process.personality &= ~READ_IMPLIES_EXEC
    if raised_ids:
        process.personality &= ~PER_CLEAR_ON_SETID


def register(table: SyscallTable) -> None:
    table.add("personality", sys_personality, "hex")
