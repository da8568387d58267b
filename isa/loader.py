"""Lay out a new process image in guest memory: the second half of ``execve``.

Given an :class:`~cofferos.isa.elf.ElfImage` that :mod:`cofferos.isa.elf` has
already checked, :func:`load_image` does what Linux's ``load_elf_binary`` and
``create_elf_tables`` (``fs/binfmt_elf.c``) do after the point of no return:

1. choose the load bias: 0 for ``ET_EXEC``; for a static-pie ``ET_DYN``,
   ``PIE_LOAD_BASE`` (``0x555555554000``, Linux's ``ELF_ET_DYN_BASE`` with
   address space randomisation off; Linux puts an interpreter-less PIE at the
   mmap base instead, but one fixed, familiar address is all that matters
   here). The simulator is deterministic: no ASLR, same program, same addresses;
2. map every ``PT_LOAD`` page-aligned with its own protection, copy in its
   file bytes and zero its bss;
3. for a dynamically linked program (``PT_INTERP``), map its interpreter
   (``ld.so``, an ``ET_DYN`` the caller found in the coffer's filesystem) as
   ``load_elf_interp`` does: at the top of the mmap area, just below
   ``INTERP_TOP`` (where Linux's top-down allocator puts it with address space
   randomisation off: ``ld-linux-x86-64.so.2`` ends at ``0x7ffff7fff000``), and
   start the process at the interpreter's entry with ``AT_BASE`` its load
   address and ``AT_ENTRY``, ``AT_PHDR``, ``AT_PHNUM`` the program's own;
4. map the stack ``[STACK_TOP - stack_size, STACK_TOP)`` and fill its top with
   the strings, ``AT_RANDOM`` bytes, auxv, ``envp``, ``argv`` and ``argc``,
   exactly where a static glibc or musl ``_start`` (or ``ld.so``) expects them.

Memory is reached only through the two-method :class:`GuestMemory` protocol:
the CPU layer wraps Unicorn behind it, tests pass a fake that records bytes.

**Pages shared by two segments.** Segments never share a byte (the parser
checks), but the end of one and the start of the next may fall in the same
page. That page is mapped once, with the union of both protections (the most
permissive: a read-only page shared with the data segment becomes writable),
and each run of pages with equal protection is one ``map`` call. Writes go
through the loader's privileged view, which ignores protection, as Unicorn's
``mem_write`` and the kernel's own copies do.

**Which bytes land in memory.** As with Linux's file-backed mmap, a segment
shows whole file pages: the bytes of its first page before ``p_vaddr`` and,
without a bss, those of its last page after ``p_filesz``. With a bss, the rest
of its last file page is zeroed explicitly (Linux's ``padzero``). Segments are
written in ascending order, so in a shared page the later one wins, as the
later ``MAP_FIXED`` mapping does in Linux.

**The initial stack**, from ``STACK_TOP`` down, in Linux's order (strings
first, then platform and random bytes below them)::

    8 zero bytes                       end marker
    execfn string                      AT_EXECFN points here
    envp strings, argv strings         argv[0] lowest
    (aligned down to 16)
    platform string "x86_64"           AT_PLATFORM
    16 random bytes                    AT_RANDOM
    (padding so that rsp ends 16-byte aligned)
    auxv pairs ... AT_NULL, 0
    envp[0] ... NULL
    argv[0] ... NULL
    argc                               <- rsp at entry
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Protocol

from .cpuid import HWCAP
from .elf import (
    PAGE_SIZE,
    PHDR_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    ElfImage,
    Segment,
    late_error,
    page_down,
    page_up,
)
from .initstack import (  # noqa: F401 - MAX_ARG_STRLEN and NUL re-exported for callers
    END_MARKER_SIZE,
    MAX_ARG_STRLEN,
    NUL,
    StackBuilder,
    check_strings,
    words,
)

# -- address space layout (arch/x86/include/asm/{processor,elf}.h) ---------------------------
STACK_TOP = 0x7FFFFFFFF000  # TASK_SIZE_MAX: the first address past user space's usable top
STACK_SIZE = 8 * 1024 * 1024  # the default RLIMIT_STACK
PIE_LOAD_BASE = 0x555555554000  # ELF_ET_DYN_BASE page-aligned, as with randomize_va_space=0
MMAP_MIN_ADDR = 0x10000  # vm.mmap_min_addr: nothing may be mapped below it
#: mmap_base with randomisation off: TASK_SIZE less the minimum stack gap of 128 MiB
#: (mm/util.c mmap_base); the interpreter is the first mapping below it. Equal to
#: cofferos.coffers.mm.MMAP_TOP, where the coffer's mmap hands out memory from.
INTERP_TOP = 0x7FFFF7FFF000
STACK_NAME = "[stack]"

# -- the initial stack's shape (the rest in .initstack) ---------------------------------------
RANDOM_BYTES = 16  # the AT_RANDOM block: glibc seeds the stack protector and pointer guard
COPY_CHUNK = 1 << 20  # bytes of program file held at once while segments are copied

# -- auxiliary vector entry types (include/uapi/linux/auxvec.h, arch/x86/.../auxvec.h) ------
AT_NULL = 0
AT_IGNORE = 1
AT_EXECFD = 2
AT_PHDR = 3
AT_PHENT = 4
AT_PHNUM = 5
AT_PAGESZ = 6
AT_BASE = 7
AT_FLAGS = 8
AT_ENTRY = 9
AT_NOTELF = 10
AT_UID = 11
AT_EUID = 12
AT_GID = 13
AT_EGID = 14
AT_PLATFORM = 15
AT_HWCAP = 16
AT_CLKTCK = 17
AT_SECURE = 23
AT_BASE_PLATFORM = 24
AT_RANDOM = 25
AT_HWCAP2 = 26
AT_RSEQ_FEATURE_SIZE = 27
AT_RSEQ_ALIGN = 28
AT_EXECFN = 31
AT_SYSINFO_EHDR = 33  # the vDSO's address: we have no vDSO and do not pass it
AT_MINSIGSTKSZ = 51

USER_HZ = 100  # AT_CLKTCK: the tick rate times() and /proc report in
INTERP_BASE_NONE = 0  # AT_BASE: no program interpreter was loaded
AT_FLAGS_NONE = 0
NOT_SECURE = 0  # AT_SECURE: not setuid, no privilege change across exec
HWCAP2_NONE = 0  # AT_HWCAP2: no ring3mwait, no fsgsbase advertised

# AT_HWCAP on x86 is CPUID leaf 1 EDX: the fixed CPU of cofferos.isa.cpuid.
HWCAP_DEFAULT = HWCAP


class GuestMemory(Protocol):
    """What the loader needs of an address space: fixed mappings and privileged writes."""

    def map(self, addr: int, length: int, prot: int, name: str) -> None:
        """Map fresh zero-filled memory at ``addr`` (page-aligned, like ``MAP_FIXED``).

        ``prot`` is PROT_READ | PROT_WRITE | PROT_EXEC; ``name`` is what
        /proc/self/maps would show: the program's path, ``"[stack]"``, ``"[heap]"``.
        """
        ...

    def write(self, addr: int, data: bytes) -> None:
        """Copy ``data`` into mapped memory at ``addr``, whatever its protection."""
        ...


@dataclass(frozen=True)
class ProcessImage:
    """Where everything landed: what the CPU and the task's ``mm`` start from."""

    entry: int  # rip at the first instruction: e_entry plus the load bias
    stack_pointer: int  # rsp at the first instruction: it points at argc
    load_bias: int  # added to every p_vaddr: 0 for ET_EXEC, PIE_LOAD_BASE-based for PIE
    phdr_addr: int  # AT_PHDR: the program headers in memory (0 if they are not loaded)
    brk_start: int  # the page after the highest segment: where the heap ([heap]) begins
    stack_top: int  # the first address past the stack mapping
    stack_bottom: int  # the lowest address of the stack mapping
    execfn_addr: int  # AT_EXECFN: the path the program was executed as
    random_addr: int  # AT_RANDOM: the 16 random bytes
    interp_base: int = INTERP_BASE_NONE  # AT_BASE: where the interpreter lies (0: none)


def _as_bytes(value: bytes | str) -> bytes:
    """An argument, environment entry or path as the guest sees it (file system encoding)."""
    return value if isinstance(value, bytes) else os.fsencode(value)


def choose_load_bias(image: ElfImage) -> int:
    """0 for ET_EXEC; for a PIE, the bias that puts its first segment at PIE_LOAD_BASE."""
    if not image.is_pie:
        return 0
    return page_down(PIE_LOAD_BASE - image.segments[0].vaddr)


def _span(image: ElfImage, bias: int) -> tuple[int, int]:
    """The page-aligned [low, high) that the biased image's segments cover."""
    low = page_down(bias + image.segments[0].vaddr)
    return low, page_up(bias + max(seg.end for seg in image.segments))


def choose_interp_bias(interp: ElfImage) -> int:
    """0 for an ET_EXEC interpreter; for an ET_DYN one (every real ``ld.so``), the bias
    that makes its whole span end at INTERP_TOP, as a top-down mmap of its total size."""
    if not interp.is_pie:
        return 0
    low, high = _span(interp, 0)
    return page_down(INTERP_TOP - (high - low)) - low


def _page_runs(segments: Sequence[Segment], bias: int) -> list[tuple[int, int, int]]:
    """The mappings to make, as (start, end, prot): whole pages, shared pages merged.

    Each page gets the union of the protections of the segments that touch it;
    neighbouring pages with equal protection form one run.
    """
    spans = [
        (page_down(bias + seg.vaddr), page_up(bias + seg.end), seg.prot)
        for seg in segments
        if seg.memsz
    ]
    edges = sorted({edge for start, end, _ in spans for edge in (start, end)})
    runs: list[tuple[int, int, int]] = []
    for low, high in zip(edges, edges[1:], strict=False):
        covering = [prot for start, end, prot in spans if start <= low and high <= end]
        if not covering:
            continue
        prot = reduce(or_, covering)
        if runs and runs[-1][1] == low and runs[-1][2] == prot:
            runs[-1] = (runs[-1][0], high, prot)
        else:
            runs.append((low, high, prot))
    return runs


def _copy_segment(image: ElfImage, seg: Segment, bias: int, mem: GuestMemory) -> None:
    """Put a segment's file pages in memory and zero the rest of its last file page.

    A host program file goes straight into the memory's host file where the memory
    can take it so (``write_file``: :meth:`BlockMap.poke_file`'s sendfile, no copy
    through Python, issue #17); otherwise the file is read COPY_CHUNK bytes at a
    time: the host holds one chunk, never the whole segment or file."""
    head = seg.offset % PAGE_SIZE  # equals seg.vaddr % PAGE_SIZE: the parser checked
    start = bias + seg.vaddr
    has_bss = seg.memsz > seg.filesz
    if seg.filesz:
        file_start = seg.offset - head
        file_end = seg.offset + seg.filesz
        if not has_bss:  # a file mapping shows the whole last page of the file
            file_end = min(image.file.size, page_up(file_end))
        write_file = getattr(mem, "write_file", None)
        fd = getattr(image.file, "fd", None)  # a host program file (isa/progfile.py)
        written = None
        if write_file is not None and fd is not None:
            try:  # (the file's bytes straight into the memory's host file)
                written = write_file(start - head, fd, file_start, file_end - file_start)
            except OSError:
                written = None  # the reads below say why
        if written is None:
            for offset in range(file_start, file_end, COPY_CHUNK):
                chunk = image.file.read(offset, min(COPY_CHUNK, file_end - offset))
                mem.write(start - head + offset - file_start, chunk)
    if has_bss:
        bss = start + seg.filesz
        mem.write(bss, bytes(page_up(bss) - bss))


def _check_span(image: ElfImage, bias: int, stack_bottom: int) -> tuple[int, int]:
    low, high = _span(image, bias)
    if low < MMAP_MIN_ADDR:
        raise late_error(
            f"{image.path}: loads at {low:#x}, below the lowest mappable address {MMAP_MIN_ADDR:#x}"
        )
    if high > stack_bottom:
        raise late_error(
            f"{image.path}: ends at {high:#x}, inside the stack at {stack_bottom:#x}")
    return low, high


def _map_image(image: ElfImage, bias: int, mem: GuestMemory) -> None:
    """Map the biased image's segments, each run of pages with its protection, and
    fill them from the file."""
    for start, end, prot in _page_runs(image.segments, bias):
        mem.map(start, end - start, prot, image.path)
    for seg in image.segments:
        _copy_segment(image, seg, bias, mem)


def check_fits(image: ElfImage, stack_size: int = STACK_SIZE,
               interp: ElfImage | None = None) -> int:
    """The biased image (and its interpreter) must lie between mmap_min_addr and the
    bottom of the stack, and never on each other.

    Linux finds these faults only when it maps the segments, after the point of no
    return (hence :func:`late_error`); execve calls this before it, so a refused
    image never leaves a half-built process. Returns the bytes the new image maps,
    its interpreter and stack included, for the caller's memory check.
    """
    bias = choose_load_bias(image)
    stack_bottom = STACK_TOP - stack_size
    low, high = _check_span(image, bias, stack_bottom)
    needed = sum(end - start for start, end, _ in _page_runs(image.segments, bias)) + stack_size
    if interp is not None:
        interp_bias = choose_interp_bias(interp)
        interp_low, interp_high = _check_span(interp, interp_bias, stack_bottom)
        if interp_low < high and low < interp_high:
            raise late_error(
                f"{image.path}: its interpreter {interp.path} at {interp_low:#x}-"
                f"{interp_high:#x} overlaps the program at {low:#x}-{high:#x}")
        needed += sum(end - start for start, end, _ in _page_runs(interp.segments, interp_bias))
    return needed


def load_image(
    image: ElfImage,
    mem: GuestMemory,
    argv: Sequence[bytes | str],
    envp: Sequence[bytes | str],
    *,
    execfn: str,
    random_bytes: bytes,
    uid: int = 0,
    euid: int = 0,
    gid: int = 0,
    egid: int = 0,
    hwcap: int = HWCAP_DEFAULT,
    platform: str = "x86_64",
    stack_size: int = STACK_SIZE,
    interp: ElfImage | None = None,
) -> ProcessImage:
    """Map ``image`` (and ``interp``, its checked program interpreter, if it has one)
    and build the initial stack in ``mem``; say where everything is.

    ``execfn`` is the path as given to execve (AT_EXECFN); ``random_bytes`` are the
    16 AT_RANDOM bytes, chosen by the caller from its seeded generator. An empty
    ``argv`` becomes ``[""]``, as Linux (5.18 and later) does.
    """
    if len(random_bytes) != RANDOM_BYTES:
        raise ValueError(f"random_bytes must be {RANDOM_BYTES} bytes, got {len(random_bytes)}")
    if stack_size <= 0 or stack_size % PAGE_SIZE:
        raise ValueError(f"stack_size must be a positive multiple of {PAGE_SIZE}: {stack_size}")
    args = [_as_bytes(a) for a in argv] or [b""]
    env = [_as_bytes(e) for e in envp]
    execfn_bytes = _as_bytes(execfn)
    check_strings(execfn_bytes, [*args, *env], stack_size)

    stack_bottom = STACK_TOP - stack_size
    bias = choose_load_bias(image)
    check_fits(image, stack_size, interp)
    _map_image(image, bias, mem)
    brk_start = page_up(bias + max(seg.end for seg in image.segments))
    phdr_addr = 0 if image.phdr_vaddr is None else bias + image.phdr_vaddr
    entry = bias + image.entry
    interp_base, start_at = INTERP_BASE_NONE, entry
    if interp is not None:
        interp_bias = choose_interp_bias(interp)
        _map_image(interp, interp_bias, mem)
        interp_base = page_down(interp_bias + interp.segments[0].vaddr)
        start_at = interp_bias + interp.entry

    stack_prot = PROT_READ | PROT_WRITE | (PROT_EXEC if image.stack_exec else 0)
    mem.map(stack_bottom, stack_size, stack_prot, STACK_NAME)
    stack = StackBuilder(STACK_TOP)
    stack.push(bytes(END_MARKER_SIZE))
    execfn_addr = stack.push(execfn_bytes + NUL)
    env_addrs = stack.push_strings(env)
    arg_addrs = stack.push_strings(args)
    stack.align_down()
    platform_addr = stack.push(_as_bytes(platform) + NUL)
    random_addr = stack.push(random_bytes)

    auxv = [
        (AT_HWCAP, hwcap),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, USER_HZ),
        (AT_PHDR, phdr_addr),
        (AT_PHENT, PHDR_SIZE),
        (AT_PHNUM, image.phnum),
        (AT_BASE, interp_base),
        (AT_FLAGS, AT_FLAGS_NONE),
        (AT_ENTRY, entry),
        (AT_UID, uid),
        (AT_EUID, euid),
        (AT_GID, gid),
        (AT_EGID, egid),
        (AT_SECURE, NOT_SECURE),
        (AT_RANDOM, random_addr),
        (AT_HWCAP2, HWCAP2_NONE),
        (AT_EXECFN, execfn_addr),
        (AT_PLATFORM, platform_addr),
        (AT_NULL, 0),
    ]
    table = [len(args), *arg_addrs, 0, *env_addrs, 0, *(v for pair in auxv for v in pair)]
    stack.push_aligned(words(table))
    stack.write(mem)
    return ProcessImage(
        entry=start_at,
        stack_pointer=stack.sp,
        load_bias=bias,
        phdr_addr=phdr_addr,
        brk_start=brk_start,
        stack_top=STACK_TOP,
        stack_bottom=stack_bottom,
        execfn_addr=execfn_addr,
        random_addr=random_addr,
        interp_base=interp_base,
    )
