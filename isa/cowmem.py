"""Copy-on-write host memory under a guest block: fork without copying the pages.

Each 64 MiB guest block (:mod:`cofferos.isa.blockmap`) lives in host memory that
this module keeps as a mosaic of page runs, each page in one of four states:

``SRC_OWN``
    the block's own host memory file, mapped ``MAP_SHARED``: a store lands in the
    file. Every page starts so.
``k >= 0``
    frozen page ``p`` of snapshot file ``files[k]``, mapped ``MAP_PRIVATE``: reads
    come from the file, the first store copies the page (the host's own
    copy-on-write). ``files[0]`` is the block's own file.
``SRC_ANON``
    private anonymous memory (zeros until written).
``SRC_SHARED``
    a shared memory object's page (:func:`cofferos.isa.hostmem.alias_shared`): not
    private memory, so never frozen nor copied.
``SRC_FILE``
    a page of a MAP_PRIVATE file mapping (:func:`cofferos.isa.hostmem.alias_file_private`):
    the file's page until first stored to, then the host's private copy. A fork
    copies the written ones like anonymous pages; the child maps the rest of the
    file itself, so they go on following it.

Page ``p`` of every file is at offset ``p * PAGE_SIZE``, so a fork needs no
address arithmetic. :meth:`BlockBacking.snapshot` freezes the parent's private
pages: its own-file pages switch to ``MAP_PRIVATE`` of that same file (the file's
page is never stored to again: a page leaves ``SRC_OWN`` for good), and only
pages already copied on write since the last fork, or written anonymous pages,
found in ``/proc/self/pagemap``, are copied, into a fresh snapshot file. The
child (:meth:`BlockBacking.adopt`) maps the same runs of the same files
``MAP_PRIVATE``. A fork of a process that has not forked since it wrote its
memory copies nothing at all, and its own-file pages keep their host page table
entries, moved aside (:meth:`BlockBacking._set_aside`) rather than torn down.

Freed pages must read as zeros when mapped again (:meth:`BlockBacking.zero`): an
own-file page gets a hole punched in the file; any other page gets fresh
anonymous memory (a hole in a snapshot file would change what a child reads).
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import resource
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

from cofferos.isa.hostmem import (
    MAP_FAILED,
    MAP_NORESERVE,
    PROT_NONE,
    PROT_RW,
    alias_private,
    fixed_map,
    libc,
    punch_hole,
    reserve_fixed,
)

if TYPE_CHECKING:
    import numpy as np

PAGE_SIZE = 4096
SRC_OWN, SRC_ANON, SRC_SHARED, SRC_FILE = -1, -2, -3, -4
#: A page a fork is about to copy into its fresh snapshot file (only in _fragmented's
#: count of the runs the fork would leave: no page's recorded state is ever this).
SRC_FRESH = -10
#: bytes per page in /proc/self/pagemap (Documentation/admin-guide/mm/pagemap.rst)
PAGEMAP_ENTRY = 8
PM_PRESENT, PM_SWAP = 1 << 63, 1 << 62
PM_FILE = 1 << 61  #: the page is a file page or shared anonymous: not a private copy
libc.pwrite.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long)
libc.pwrite.restype = ctypes.c_ssize_t
libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
libc.mremap.restype = ctypes.c_void_p
libc.mremap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int,
                        ctypes.c_void_p)
#: include/uapi/linux/mman.h: mremap's flags (DONTUNMAP since Linux 5.7, on shared
#: mappings since 5.13)
MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 1, 2, 4


Charge = Callable[[int], None]
"""Takes (or, negative, gives back) bytes of host memory on a kernel's memory account."""


class _Held:
    """The bytes of frozen pages a file holds, and the account they were charged to."""

    def __init__(self) -> None:
        self.nbytes = 0
        self.charge: Charge | None = None


def _release(fd: int, held: _Held) -> None:
    os.close(fd)
    if held.charge is not None and held.nbytes:
        held.charge(-held.nbytes)


def unmap_ranges(ranges: list[int], size: int) -> None:
    """munmap each host range of ``size`` bytes in ``ranges`` (a finalizer's)."""
    for host in ranges:
        libc.munmap(host, size)


class SnapshotFile:
    """A block-sized host memory file; closed when no block refers to it any more
    (the host keeps the pages of a mapped file after its descriptor is closed).

    Its frozen pages are charged once, whoever maps them (:meth:`hold`), and given
    back when the file closes: then no address space maps them and the host frees them.
    """

    def __init__(self, size: int) -> None:
        try:
            self.fd = os.memfd_create("guest-block", os.MFD_CLOEXEC)
        except OSError as err:
            if err.errno != errno.EMFILE or not _more_descriptors():
                raise MemoryError(f"the host refused a guest memory file: {err}") from None
            self.fd = os.memfd_create("guest-block", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, size)
        self.held = _Held()
        weakref.finalize(self, _release, self.fd, self.held)

    def hold(self, pages: int, charge: Charge) -> None:
        """``pages`` more pages of this file were frozen: charge them to ``charge``'s
        account until the file closes."""
        if pages:  # (a file is one coffer's: its blocks' processes fork only there)
            charge(pages * PAGE_SIZE)
            self.held.charge = charge
            self.held.nbytes += pages * PAGE_SIZE


def _more_descriptors() -> bool:
    """Raise this process's soft limit on open files to its hard limit (every guest
    block holds a memory file open); False if it was there already."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        return False
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return True


def _numpy() -> ModuleType:
    """numpy, imported on first use: a block's page states are numpy arrays only once
    something other than its own file backs a page (a fork, a shared mapping), so a run
    that never forks never imports it (60-90 ms of start-up, issue #17)."""
    import numpy

    return numpy


def _runs(values: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, value) of each maximal run of equal values."""
    np = _numpy()
    if not len(values):
        return []
    edges = np.flatnonzero(np.diff(values)) + 1
    starts = np.concatenate(([0], edges))
    ends = np.concatenate((edges, [len(values)]))
    return [(int(s), int(e), int(values[s])) for s, e in zip(starts, ends, strict=True)]


def _dirty(host: int, pages: int) -> np.ndarray:
    """Which of ``pages`` pages from ``host`` are present private copies (anonymous or
    copied on write): the bytes no file holds. All of them, if pagemap is unreadable."""
    np = _numpy()
    try:
        with open("/proc/self/pagemap", "rb", buffering=0) as pagemap:
            raw = os.pread(pagemap.fileno(), pages * PAGEMAP_ENTRY,
                           host // PAGE_SIZE * PAGEMAP_ENTRY)
    except OSError:
        return np.ones(pages, dtype=bool)
    entries = np.frombuffer(raw, dtype=np.uint64)
    if len(entries) != pages:
        return np.ones(pages, dtype=bool)
    held = (entries & np.uint64(PM_PRESENT | PM_SWAP)) != 0
    return held & ((entries & np.uint64(PM_FILE)) == 0)


#: Gaps of at most this many pages between pages a fork copies into a fresh snapshot
#: file are copied with them (:func:`_bridge`).
BRIDGE_PAGES = 8


def _bridge(copied: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """``copied`` with each short gap between two copied runs filled in, where every
    page of the gap is ``allowed``.

    Each run of a block's mosaic is one host mapping, in the parent and in every
    child, and the host allows a process 65,530 of them (vm.max_map_count): a
    python3 that forks writes its heap between forks here and there, and its
    children each held 500 mappings, so about 100 children exhausted the host's.
    Copying the short gaps too makes one run of many, for a few pages more.
    """
    runs = _runs(copied.astype(_numpy().int8))
    out = copied.copy()
    for index, (lo, hi, flag) in enumerate(runs):
        if (not flag and 0 < index < len(runs) - 1 and hi - lo <= BRIDGE_PAGES
                and allowed[lo:hi].all()):
            out[lo:hi] = True
    return out


#: The most runs of frozen pages a fork leaves a block with (each one host mapping
#: in the parent and in every child) before it copies them all into one file, when
#: host mappings are scarce (:func:`_fragmented`).
MAX_FROZEN_RUNS = 16
#: Host mappings are scarce past this share of the host's per-process limit.
SCARCE_SHARE = 4
#: The host's per-process limit on mappings when /proc/sys cannot be read
#: (DEFAULT_MAX_MAP_COUNT, include/linux/mm.h).
HOST_MAX_MAP_COUNT = 65530
#: Host mappings a fork may make beside its runs (the child's engine and blocks),
#: counted against the headroom so that /proc/self/maps is read only when needed.
OTHER_MAPPINGS_PER_FORK = 64
_host_limit: list[int] = []
#: [mappings at the last reading of /proc/self/maps, the most made since]
_mappings_seen = [0, 0]


def _mappings_scarce(new_runs: int) -> bool:
    """Does this process hold more than 1/:data:`SCARCE_SHARE` of the host mappings
    the host allows it (vm.max_map_count)? Every guest process's runs are mappings of
    the simulator's one host process, where Linux gives each process its own budget.

    Reading /proc/self/maps costs about 3.4 ms with 5,000 mappings, so it is read only
    once the last reading plus the most mappings made since (each fork's ``new_runs``
    and :data:`OTHER_MAPPINGS_PER_FORK`) could have reached the share."""
    if not _host_limit:
        try:
            with open("/proc/sys/vm/max_map_count", "rb") as limit:
                _host_limit.append(int(limit.read()))
        except (OSError, ValueError):
            _host_limit.append(HOST_MAX_MAP_COUNT)
    share = _host_limit[0] // SCARCE_SHARE
    _mappings_seen[1] += new_runs + OTHER_MAPPINGS_PER_FORK
    if sum(_mappings_seen) <= share:
        return False
    try:
        with open("/proc/self/maps", "rb") as maps:
            held = maps.read().count(b"\n")
    except OSError:
        return True
    _mappings_seen[:] = [held, 0]
    return held > share


def _fragmented(source: np.ndarray, copied: np.ndarray) -> bool:
    """Would a fork that copies ``copied`` leave more than :data:`MAX_FROZEN_RUNS`
    runs of frozen pages in ``source``, while host mappings are scarce?

    Bridging (:func:`_bridge`) joins the pages written since the last fork, but
    every fork adds a file, and the older files' pages the parent did not write
    again stay interleaved with the newer ones: a python3 running CPython's
    multiprocessing tests forked some 90 times and each block of its heap mapped
    40 to 90 runs of as many files, so that 100 children at once needed the
    host's 65,530 mappings and fork failed with ENOMEM. Past the limit the fork
    copies every frozen page of the range into its fresh file instead, one run
    per stretch of private memory, at the cost of a copy of that memory: only
    when mappings are scarce, since a copy is host memory the children no longer
    share with their parent.
    """
    np = _numpy()
    frozen = np.where(copied, np.int16(SRC_FRESH), source)
    runs = sum(1 for _, _, value in _runs(frozen) if value >= 0 or value == SRC_FRESH)
    return runs > MAX_FROZEN_RUNS and _mappings_scarce(runs)


class BlockBacking:
    """The host memory of one guest block, and each page's state (module docstring)."""

    def __init__(self, size: int, at: int | None = None) -> None:
        """``at``: the host range to map over, one :meth:`close` kept (``keep_range``)."""
        self.size = size
        own = SnapshotFile(size)
        if at is not None:
            fixed_map(at, size, mmap.MAP_SHARED | MAP_NORESERVE, own.fd, 0)
            addr = at
        else:
            addr = libc.mmap(None, size, PROT_RW, mmap.MAP_SHARED | MAP_NORESERVE, own.fd, 0)
        if addr in (None, MAP_FAILED):
            raise MemoryError("the host refused a guest memory block")
        self.host = int(addr)
        self.files: list[SnapshotFile] = [own]
        #: Each page's state (SRC_* or the index of the file it maps), made on first
        #: need (:attr:`source`); None while every page is the own file's.
        self._source: np.ndarray | None = None
        self._frozen: int | None = 0  #: pages with ``source >= 0`` (None: count again)
        #: Where the own file's page table entries go when its pages are frozen
        #: (:meth:`_set_aside`): a block-sized host range, reserved on first use.
        self.aside: int | None = None
        #: The host ranges to unmap (the block's, then :attr:`aside` once reserved): by
        #: :meth:`close`, or should the backing ever be dropped unclosed, by the
        #: finalizer, so the host range cannot outlive the backing.
        self._ranges = [self.host]
        self._unmap = weakref.finalize(self, unmap_ranges, self._ranges, size)

    @property
    def source(self) -> np.ndarray:
        """Each page's state: SRC_OWN, SRC_ANON, SRC_SHARED, SRC_FILE, or the index in
        :attr:`files` of the frozen file it maps."""
        if self._source is None:
            np = _numpy()
            self._source = np.full(self.size // PAGE_SIZE, SRC_OWN, dtype=np.int16)
        return self._source

    def own_pages(self, first: int, end: int) -> bool:
        """Whether pages [first, end) are all the block's own file's (SRC_OWN)."""
        return self._source is None or bool((self._source[first:end] == SRC_OWN).all())

    def close(self, keep_range: bool = False) -> None:
        """Give the block's host memory back (its files close with their last user).
        ``keep_range``: the block's host range stays reserved, inaccessible and empty,
        for a later backing ``at`` it (a parked block, isa/wipe.py); unmapping it is then
        the caller's."""
        if keep_range:
            reserve_fixed(self.host, self.size)
            self._ranges.remove(self.host)
        self._unmap()
        self.aside = None
        self.files = []

    def _set_aside(self, first: int, end: int) -> None:
        """Move the host's page table entries of own-file pages [first, end) to the same
        offset of :attr:`aside`, leaving the block's range mapped but empty.

        Freezing a run maps it anew, ``MAP_PRIVATE``; over a populated ``MAP_SHARED``
        run the host would first tear down one entry per resident page (about 6 ms for
        100 MiB, most of a first fork's cost). ``mremap`` moves whole page tables
        instead, and the entries are torn down when the block is given back
        (:meth:`close`, at exit or execve), as Linux's exit tears down a process's.
        They hold no memory of their own: the pages are the own file's, which the
        frozen runs keep anyway. Where the host cannot move them, the remap pays.
        """
        length = self.size
        if self.aside is None:
            addr = libc.mmap(None, length, PROT_NONE,
                             mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
            if addr in (None, MAP_FAILED):
                return
            self.aside = int(addr)
            self._ranges.append(self.aside)
        at, n = first * PAGE_SIZE, (end - first) * PAGE_SIZE
        libc.mremap(self.host + at, n, n, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP,
                    self.aside + at)

    def _map_file(self, first: int, end: int, index: int) -> None:
        at = first * PAGE_SIZE
        fixed_map(self.host + at, (end - first) * PAGE_SIZE, mmap.MAP_PRIVATE,
                   self.files[index].fd, at)
        self.source[first:end] = index
        self._frozen = None

    def cow_pages(self, copies: bool = True) -> tuple[int, int]:
        """(frozen, copied): pages that map a frozen file page, and how many of those
        the host has since copied on a store (the guest's or the kernel's), read from
        ``/proc/self/pagemap`` (not read, and 0, without ``copies``). A frozen page's
        bytes are its file's (charged once, :meth:`SnapshotFile.hold`); a copy is this
        block's own."""
        if self._frozen is None:
            self._frozen = int(_numpy().count_nonzero(self.source >= 0))
        if not self._frozen or not copies:
            return self._frozen, 0
        np = _numpy()
        frozen = self.source >= 0
        first = int(np.argmax(frozen))
        end = len(frozen) - int(np.argmax(frozen[::-1]))
        dirty = _dirty(self.host + first * PAGE_SIZE, end - first)
        return self._frozen, int(np.count_nonzero(frozen[first:end] & dirty))

    def zero(self, first: int, end: int) -> None:
        """Pages [first, end) read as zeros from now on (they were unmapped)."""
        if self._source is None:  # every page the own file's: one hole
            punch_hole(self.files[0].fd, first * PAGE_SIZE, (end - first) * PAGE_SIZE)
            return
        for lo, hi, src in _runs(self.source[first:end]):
            lo, hi = lo + first, hi + first
            if src == SRC_OWN:
                punch_hole(self.files[0].fd, lo * PAGE_SIZE, (hi - lo) * PAGE_SIZE)
            else:
                self.unshare(lo, hi)

    def mark_shared(self, first: int, end: int, private: bool = False) -> None:
        """Pages [first, end) alias a memory file: shared, or (``private``) copy-on-write."""
        self.source[first:end] = SRC_FILE if private else SRC_SHARED
        self._frozen = None

    def unshare(self, first: int, end: int) -> None:
        """Fresh anonymous zero pages at [first, end) (after a shared alias)."""
        alias_private(self.host + first * PAGE_SIZE, (end - first) * PAGE_SIZE)
        self.source[first:end] = SRC_ANON
        self._frozen = None

    def snapshot(self, first: int, end: int,
                 charge: Charge) -> list[tuple[int, int, SnapshotFile | None]]:
        """fork, parent's side: freeze the private pages [first, end); returns the runs
        the child maps, as (first, end, file), file None for zero pages. The pages
        frozen now are charged to ``charge``'s account, once, by the files that hold
        them (:meth:`SnapshotFile.hold`)."""
        np = _numpy()
        source = self.source[first:end]
        self.files[0].hold(int(np.count_nonzero(source == SRC_OWN)), charge)
        copied = (source == SRC_ANON) | (source >= 0) | (source == SRC_FILE)
        if copied.any():
            copied &= _dirty(self.host + first * PAGE_SIZE, end - first)
            # (a gap's pages of a private file mapping stay the file's until written)
            copied = _bridge(copied, (source != SRC_SHARED) & (source != SRC_FILE))
        if _fragmented(source, copied):
            # (charged again: the host holds these pages twice, in the older files the
            # children map and in the fresh one, until those files close)
            copied |= source >= 0
        if copied.any():
            fresh = SnapshotFile(self.size)
            fresh.hold(int(np.count_nonzero(copied)), charge)
            self.files.append(fresh)
            index = len(self.files) - 1
            for lo, hi, flag in _runs(copied.astype(np.int8)):
                if flag:
                    at = (first + lo) * PAGE_SIZE
                    n = (hi - lo) * PAGE_SIZE
                    if libc.pwrite(fresh.fd, self.host + at, n, at) != n:
                        raise OSError(ctypes.get_errno(), "pwrite to a snapshot file")
                    self._map_file(first + lo, first + hi, index)
        for lo, hi, src in _runs(source.copy()):
            if src == SRC_OWN:
                self._set_aside(first + lo, first + hi)
                self._map_file(first + lo, first + hi, 0)  # frozen: MAP_PRIVATE from now on
        out: list[tuple[int, int, SnapshotFile | None]] = []
        for lo, hi, src in _runs(self.source[first:end]):
            if src >= 0:
                out.append((first + lo, first + hi, self.files[src]))
        self._compact()
        return out

    def _compact(self) -> None:
        """Let go of snapshot files no page maps any more (the own file stays)."""
        # (bincount, not np.unique: unique's first call imports numpy.ma, about 40 ms)
        np = _numpy()
        counts = np.bincount(self.source[self.source > 0], minlength=len(self.files))
        used = np.flatnonzero(counts[1:]) + 1
        if len(used) + 1 == len(self.files):
            return
        keep = [0, *used.tolist()]
        table = np.full(len(self.files), SRC_ANON, dtype=np.int16)
        table[keep] = np.arange(len(keep), dtype=np.int16)
        frozen = self.source >= 0
        self.source[frozen] = table[self.source[frozen]]
        self.files = [self.files[i] for i in keep]
        self._frozen = None

    def adopt(self, runs: list[tuple[int, int, SnapshotFile | None]]) -> None:
        """fork, child's side: map the parent's frozen runs (fresh zero pages elsewhere)."""
        for first, end, file in runs:
            if file is None:
                continue
            index = next((i for i, f in enumerate(self.files) if f is file), None)
            if index is None:
                self.files.append(file)
                index = len(self.files) - 1
            self._map_file(first, end, index)
