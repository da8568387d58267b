"""The initial stack of a new process: strings, pointers and the auxiliary vector.

:mod:`cofferos.isa.loader` decides what goes on it (see its docstring for the
layout, in Linux's order from ``create_elf_tables``); this module holds the
stack's shape, the builder that lays it out top down and writes it with one
call, and execve's checks of the strings (``E2BIG``, embedded NULs).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from itertools import accumulate
from typing import TYPE_CHECKING

from cofferos.errors import ProgramError

from .elf import PAGE_SIZE

if TYPE_CHECKING:
    from .loader import GuestMemory

WORD_SIZE = 8  # sizeof(elf_addr_t)
STACK_ALIGN = 16  # the x86-64 SysV ABI: rsp % 16 == 0 at process entry
MAX_ARG_STRLEN = 32 * PAGE_SIZE  # the longest single argv or envp string Linux accepts
ARG_SPACE_DIVISOR = 4  # strings and their pointers may use a quarter of the stack limit
END_MARKER_SIZE = WORD_SIZE  # the zero word Linux leaves at the very top of the stack
NUL = b"\0"


class StackBuilder:
    """Collects what goes on the initial stack, top down, and writes it in one go."""

    def __init__(self, top: int) -> None:
        self.top = top
        self.sp = top
        self.pieces: list[tuple[int, bytes]] = []

    def push(self, data: bytes) -> int:
        """Put ``data`` just below the current stack pointer; return its address."""
        self.sp -= len(data)
        self.pieces.append((self.sp, data))
        return self.sp

    def push_strings(self, strings: Sequence[bytes]) -> list[int]:
        """Push NUL-terminated strings so that the first lies lowest; return their addresses."""
        addr = self.push(b"".join(s + NUL for s in strings))
        sizes = (len(s) + len(NUL) for s in strings[:-1])
        return [addr + offset for offset in accumulate(sizes, initial=0)][: len(strings)]

    def push_aligned(self, data: bytes) -> int:
        """Push ``data`` so that it starts STACK_ALIGN-aligned (Linux's STACK_ROUND)."""
        self.sp -= len(data)
        self.align_down()
        self.pieces.append((self.sp, data))
        return self.sp

    def align_down(self) -> None:
        """Round the stack pointer down to STACK_ALIGN."""
        self.sp -= self.sp % STACK_ALIGN

    def write(self, mem: GuestMemory) -> None:
        """Write everything pushed, padding included, with one call."""
        buf = bytearray(self.top - self.sp)
        for addr, data in self.pieces:
            buf[addr - self.sp : addr - self.sp + len(data)] = data
        mem.write(self.sp, bytes(buf))


def words(values: Sequence[int]) -> bytes:
    """Little-endian 64-bit words, as the guest reads argc, pointers and auxv."""
    return b"".join(value.to_bytes(WORD_SIZE, "little") for value in values)


def check_strings(execfn: bytes, strings: Sequence[bytes], stack_size: int) -> None:
    """Refuse what execve refuses: embedded NULs; E2BIG when strings and their pointers
    take more than a quarter of the stack, or one string is longer than MAX_ARG_STRLEN."""
    too_long = ProgramError(f"{os.fsdecode(execfn)}: argument list too long")
    for s in (execfn, *strings):
        if NUL in s:
            raise ValueError(f"embedded NUL byte in argument or environment string {s!r}")
        if len(s) + len(NUL) > MAX_ARG_STRLEN:
            raise too_long
    used = WORD_SIZE * len(strings) + sum(len(s) + len(NUL) for s in (execfn, *strings))
    if used > stack_size // ARG_SPACE_DIVISOR:
        raise too_long
