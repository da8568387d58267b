"""Memory areas (Linux's ``vm_area_struct``) and the page arithmetic of an address space.

A :class:`Vma` is one range of an address space with one protection and one
purpose: anonymous memory, the heap or stack, a program's file, or a shared
memory object's pages (:mod:`cofferos.coffers.shmem`), shared or copy-on-write.
:func:`merge_vmas` makes neighbours one area where Linux's ``vma_merge`` would,
so ``/proc/PID/maps`` and ``vm.max_map_count`` count areas as Linux does.
The address space that holds them is :class:`cofferos.coffers.mm.AddressSpace`;
:class:`MmError` is how its operations fail, with the errno the call returns.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cofferos.coffers.shmem import ShmemObject

PAGE_SIZE = 4096
PAGE_MASK = PAGE_SIZE - 1
PROT_NONE = 0  #: an area's pages the guest may not touch at all
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4


def page_down(value: int) -> int:
    return value & ~PAGE_MASK


def page_up(value: int) -> int:
    return (value + PAGE_MASK) & ~PAGE_MASK


@dataclass
class Vma:
    """One virtual memory area: [start, end), its protection and a name for /proc/maps."""

    start: int
    end: int
    prot: int
    name: str = ""
    shm: ShmemObject | None = None
    """The shared memory object a MAP_SHARED area maps (None: private memory)."""
    offset: int = 0
    """The byte offset in ``shm`` that ``start`` maps."""
    private: bool = False
    """A MAP_PRIVATE mapping of ``shm`` (a file's pages): each page reads the file
    until this address space first stores to it, which copies it (copy-on-write)."""

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def shared(self) -> bool:
        """A MAP_SHARED area ("s" in /proc/PID/maps); any other is private memory,
        charged to its address space's account."""
        return self.shm is not None and not self.private

    def piece(self, start: int, end: int, prot: int | None = None) -> Vma:
        """The part [start, end) of this area (with protection ``prot``, if given)."""
        return Vma(start, end, self.prot if prot is None else prot, self.name, self.shm,
                   self.offset + start - self.start, self.private)

    def shm_offset(self, address: int) -> int:
        """The offset in ``shm`` of the byte at ``address`` (an address in this area)."""
        return self.offset + address - self.start


def mergeable(lower: Vma, upper: Vma) -> bool:
    """Would Linux's vma_merge make these neighbours one area? Anonymous areas of one
    kind and protection, yes, and shared areas of one object at consecutive offsets;
    file mappings no (their file offsets are not recorded)."""
    return (lower.end == upper.start and lower.prot == upper.prot
            and lower.name == upper.name and not lower.name.startswith("/")
            and lower.shm is upper.shm and lower.private == upper.private
            and (lower.shm is None or lower.offset + lower.length == upper.offset))


def merge_vmas(vmas: list[Vma]) -> list[Vma]:
    """``vmas`` sorted by address, with mergeable neighbours made one."""
    merged: list[Vma] = []
    for vma in sorted(vmas, key=lambda v: v.start):
        if merged and mergeable(merged[-1], vma):
            last = merged[-1]
            merged[-1] = Vma(last.start, vma.end, last.prot, last.name, last.shm, last.offset,
                             last.private)
        else:
            merged.append(vma)
    return merged


class MmError(Exception):
    """A memory operation failed; ``errno`` is the value the system call returns."""

    def __init__(self, err: int) -> None:
        super().__init__(errno.errorcode.get(err, str(err)))
        self.errno = err
