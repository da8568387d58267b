"""Read and check an ELF file before anything of it reaches guest memory.

This is the first half of ``execve``: what Linux's ``fs/binfmt_elf.c`` does in
``load_elf_binary`` before it maps a single page. The file is parsed with
explicit little-endian :mod:`struct` formats and checked once, here, so that
the loader (:mod:`cofferos.isa.loader`, the second half) can trust every number
it reads from an :class:`ElfImage`.

x86-64 executables run in this simulator: classic ``ET_EXEC`` binaries (``gcc
-static``), static-pie ``ET_DYN`` binaries (``gcc -static-pie``: no
``PT_INTERP``, they relocate themselves), and dynamically linked programs, whose
``PT_INTERP`` names the program interpreter (``ld-linux-x86-64.so.2``,
``ld-musl-x86_64.so.1``) that the kernel loads beside them from the coffer's own
filesystem (:attr:`ElfImage.interp`). Anything else is refused with one clear
line that names the file and says what is wrong::

    >>> parse_elf(b"#!/bin/sh\\necho hi\\n", "hello.sh")
    Traceback (most recent call last):
    ...
    cofferos.errors.ElfError: hello.sh: is a script: scripts are run through their interpreter

The program headers that matter are kept: every ``PT_LOAD`` as a
:class:`Segment` (with its ``p_flags`` already turned into mmap ``PROT_*``
bits), ``PT_TLS`` for the thread library, ``PT_GNU_STACK`` for the stack's
permission, and where the program headers themselves appear in memory, which
becomes ``AT_PHDR`` in the auxiliary vector.
"""

from __future__ import annotations

import errno
import signal
import struct
from dataclasses import dataclass

from cofferos.errors import ElfError

from .progfile import BytesFile, ProgramFile, open_host_program

# -- mmap protection bits (include/uapi/asm-generic/mman-common.h) ---------------------------
PROT_NONE = 0
PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4

# -- memory geometry -------------------------------------------------------------------------
PAGE_SIZE = 4096
USER_SPACE_END = 1 << 47  # x86-64 with 4-level paging: user addresses lie below 2**47

# -- ELF identification (include/uapi/linux/elf.h) ------------------------------------------
ELF_MAGIC = b"\x7fELF"
SCRIPT_MAGIC = b"#!"
EI_NIDENT = 16
EI_CLASS = 4
EI_DATA = 5
EI_VERSION = 6
ELFCLASS32 = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELFDATA2MSB = 2
EV_CURRENT = 1

# -- e_type ----------------------------------------------------------------------------------
ET_REL = 1
ET_EXEC = 2
ET_DYN = 3
ET_CORE = 4

# -- e_machine: x86-64 runs; the others are named so the refusal can say what the file is ----
EM_386 = 3
EM_MIPS = 8
EM_PPC = 20
EM_PPC64 = 21
EM_S390 = 22
EM_ARM = 40
EM_SPARCV9 = 43
EM_X86_64 = 62
EM_AARCH64 = 183
EM_RISCV = 243
EM_LOONGARCH = 258
MACHINE_NAMES = {
    EM_386: "i386",
    EM_MIPS: "mips",
    EM_PPC: "powerpc",
    EM_PPC64: "powerpc64",
    EM_S390: "s390",
    EM_ARM: "arm",
    EM_SPARCV9: "sparc64",
    EM_AARCH64: "aarch64",
    EM_RISCV: "riscv",
    EM_LOONGARCH: "loongarch",
}

# -- program header types and flags ----------------------------------------------------------
PT_NULL = 0
PT_LOAD = 1
PT_DYNAMIC = 2
PT_INTERP = 3
PT_NOTE = 4
PT_PHDR = 6
PT_TLS = 7
PT_GNU_STACK = 0x6474E551
PF_X = 1
PF_W = 2
PF_R = 4
PN_XNUM = 0xFFFF  # e_phnum escape for "more headers than fit": never seen in an executable
PHDRS_MAX_BYTES = 65536  # the largest program header table Linux reads (elf_read_phdrs)
BINPRM_BUF_SIZE = 256  # what execve reads first to tell ELF from script (include/linux/binfmts.h)
PATH_MAX = 4096  # the longest PT_INTERP path Linux accepts
INTERP_MIN_SIZE = 2  # a PT_INTERP shorter than one character and its NUL is refused
LARGEST_PROGRAM = 1 << 30  # read_elf's bound: the coffer's largest file (fs.inode)

# -- on-disk layouts: Elf64_Ehdr (64 bytes) and Elf64_Phdr (56 bytes), little-endian ---------
EHDR_FORMAT = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR_FORMAT = struct.Struct("<IIQQQQQQ")
EHDR_SIZE = EHDR_FORMAT.size
PHDR_SIZE = PHDR_FORMAT.size


@dataclass(frozen=True)
class Segment:
    """One program header the loader places in memory (``PT_LOAD``, or ``PT_TLS``)."""

    vaddr: int  # p_vaddr: where it starts in memory, before the PIE load bias
    memsz: int  # p_memsz: bytes in memory; the part past filesz is zero (bss)
    filesz: int  # p_filesz: bytes taken from the file
    offset: int  # p_offset: where those bytes start in the file
    prot: int  # PROT_READ | PROT_WRITE | PROT_EXEC, from p_flags

    @property
    def end(self) -> int:
        """First address past the segment in memory (before the load bias)."""
        return self.vaddr + self.memsz


@dataclass(frozen=True)
class ElfImage:
    """A checked static x86-64 executable, ready for :func:`cofferos.isa.loader.load_image`."""

    path: str  # the name it was read under, for messages and the mapping's name
    file: ProgramFile  # the file, read only where segments lie (never whole)
    entry: int  # e_entry, before the PIE load bias
    is_pie: bool  # ET_DYN: static-pie, placed at a load bias by the loader
    phoff: int  # e_phoff: where the program headers are in the file
    phentsize: int  # e_phentsize (always PHDR_SIZE once checked)
    phnum: int  # e_phnum
    segments: tuple[Segment, ...]  # the PT_LOAD segments, in ascending address order
    tls: Segment | None  # PT_TLS: the initial image of thread-local storage
    stack_exec: bool  # PT_GNU_STACK asks for an executable stack
    phdr_vaddr: int | None = None  # where the program headers lie in memory (AT_PHDR - bias)
    interp: str | None = None  # PT_INTERP: the program interpreter's path, None if static


def page_down(addr: int) -> int:
    """The start of the page holding ``addr``."""
    return addr - addr % PAGE_SIZE


def page_up(addr: int) -> int:
    """The first page boundary at or above ``addr``."""
    return page_down(addr + PAGE_SIZE - 1)


def late_error(message: str) -> ElfError:
    """A fault Linux finds only after the point of no return, when it maps the segments:
    ``execve`` in a guest kills the process with SIGSEGV (``force_fatal_sig``)."""
    return ElfError(message, fatal_signal=signal.SIGSEGV)


def _flags_to_prot(p_flags: int) -> int:
    """Turn ELF segment permissions (PF_*) into mmap protection bits (PROT_*)."""
    prot = PROT_NONE
    if p_flags & PF_R:
        prot |= PROT_READ
    if p_flags & PF_W:
        prot |= PROT_WRITE
    if p_flags & PF_X:
        prot |= PROT_EXEC
    return prot


def _check_ident(data: bytes, path: str) -> None:
    """Refuse what is not a 64-bit little-endian ELF, from its first bytes alone."""
    if not data:
        raise ElfError(f"{path}: is empty: not an ELF executable")
    if data.startswith(SCRIPT_MAGIC):
        raise ElfError(f"{path}: is a script: scripts are run through their interpreter")
    if not data.startswith(ELF_MAGIC):
        raise ElfError(f"{path}: not an ELF file (bad magic number)")
    if len(data) < EI_NIDENT:
        raise ElfError(f"{path}: truncated ELF file: {len(data)} bytes, shorter than its header")
    if data[EI_CLASS] == ELFCLASS32:
        raise ElfError(f"{path}: 32-bit ELF: only x86-64 programs run here")
    if data[EI_CLASS] != ELFCLASS64:
        raise ElfError(f"{path}: unknown ELF class {data[EI_CLASS]}")
    if data[EI_DATA] == ELFDATA2MSB:
        raise ElfError(f"{path}: big-endian ELF: only x86-64 (little-endian) programs run here")
    if data[EI_DATA] != ELFDATA2LSB:
        raise ElfError(f"{path}: unknown ELF data encoding {data[EI_DATA]}")
    if data[EI_VERSION] != EV_CURRENT:
        raise ElfError(f"{path}: unknown ELF version {data[EI_VERSION]}")
    if len(data) < EHDR_SIZE:
        raise ElfError(f"{path}: truncated ELF file: {len(data)} bytes, shorter than its header")


def _check_machine(e_machine: int, path: str) -> None:
    """Refuse another machine's programs (elf_check_arch)."""
    if e_machine != EM_X86_64:
        name = MACHINE_NAMES.get(e_machine, f"machine {e_machine}")
        raise ElfError(f"{path}: ELF for {name}: only x86-64 programs run here")


def _check_type(e_type: int, path: str) -> None:
    """Refuse object files, core dumps and unknown types."""
    if e_type == ET_REL:
        raise ElfError(f"{path}: not an executable: a relocatable object file (link it first)")
    if e_type == ET_CORE:
        raise ElfError(f"{path}: not an executable: a core dump")
    if e_type not in (ET_EXEC, ET_DYN):
        raise ElfError(f"{path}: not an executable: unknown ELF type {e_type}")


def _check_interpreter(file: ProgramFile, seg: Segment, path: str) -> str:
    """PT_INTERP: a dynamically linked program; the interpreter's path. A bad one is
    refused as Linux refuses it (ENOEXEC), an empty one as a missing file (ENOENT)."""
    if not INTERP_MIN_SIZE <= seg.filesz <= PATH_MAX:
        raise ElfError(f"{path}: bad PT_INTERP size {seg.filesz:#x}")
    raw = file.read(seg.offset, seg.filesz)
    if len(raw) != seg.filesz or not raw.endswith(b"\0"):
        raise ElfError(f"{path}: PT_INTERP is not a NUL-terminated path inside the file")
    interp = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    if not interp:
        raise ElfError(f"{path}: dynamically linked with an empty interpreter path",
                       err=errno.ENOENT)
    return interp


def _check_load(seg: Segment, index: int, file_size: int, path: str) -> None:
    """Check one PT_LOAD: sizes that make sense, bytes in the file, a page-consistent address."""
    where = f"{path}: segment {index}"
    if seg.memsz < seg.filesz:
        raise late_error(
            f"{where}: memory size {seg.memsz:#x} smaller than file size {seg.filesz:#x}"
        )
    if seg.offset + seg.filesz > file_size:
        raise late_error(
            f"{where}: truncated ELF file: segment bytes run past the end of the file")
    if seg.vaddr >= USER_SPACE_END or seg.end > USER_SPACE_END:
        raise late_error(f"{where}: at {seg.vaddr:#x} size {seg.memsz:#x} lies past user space")
    if seg.vaddr % PAGE_SIZE != seg.offset % PAGE_SIZE:
        raise late_error(
            f"{where}: address {seg.vaddr:#x} and file offset {seg.offset:#x} "
            f"are not aligned alike within a page"
        )


def _check_no_overlap(segments: list[Segment], path: str) -> None:
    """PT_LOAD segments, sorted by address, never share a byte."""
    placed = [seg for seg in segments if seg.memsz]
    for lower, upper in zip(placed, placed[1:], strict=False):
        span = f"{lower.vaddr:#x}-{lower.end:#x} and {upper.vaddr:#x}-{upper.end:#x}"
        if upper.vaddr < lower.end:
            raise late_error(f"{path}: PT_LOAD segments overlap ({span})")


def _find_phdr_vaddr(
    segments: list[Segment], phdr: int | None, phoff: int, size: int
) -> int | None:
    """Where the program headers are in memory: PT_PHDR, else the PT_LOAD holding e_phoff.

    Linux (5.18 and later) looks the same way and passes AT_PHDR = 0 when neither
    says; we return None for that case and the loader does the same.
    """
    if phdr is not None:
        return phdr
    for seg in segments:
        if seg.offset <= phoff and phoff + size <= seg.offset + seg.filesz:
            return seg.vaddr + (phoff - seg.offset)
    return None


def parse_elf(data: bytes, path: str = "<memory>") -> ElfImage:
    """Check that ``data`` is an x86-64 executable and describe it.

    Raises :class:`ElfError` with a one-line message naming ``path`` for anything
    this simulator cannot run.
    """
    return parse_program(BytesFile(data), path)


def parse_program(file: ProgramFile, path: str, *, interpreter: bool = False) -> ElfImage:
    """:func:`parse_elf` for a file read in bounded pieces: the first bytes, then the
    program headers (at most PHDRS_MAX_BYTES), then PT_INTERP if any; never the
    segments, which the loader reads only once everything has been checked.

    ``interpreter``: the file is a program interpreter (what another program's
    PT_INTERP names), checked as ``load_elf_binary`` checks one: its type only in
    ``load_elf_interp``, after the point of no return (a fatal error), and its own
    PT_INTERP ignored."""
    size = file.size
    head = file.read(0, min(size, BINPRM_BUF_SIZE))
    _check_ident(head, path)
    (
        _ident, e_type, e_machine, _version, e_entry, e_phoff, _shoff, _flags,
        _ehsize, e_phentsize, e_phnum, _shentsize, _shnum, _shstrndx,
    ) = EHDR_FORMAT.unpack_from(head, 0)  # fmt: skip
    _check_machine(e_machine, path)
    if not interpreter:
        _check_type(e_type, path)
    if e_phnum == 0:
        raise ElfError(f"{path}: no program headers: nothing to load")
    if e_phnum == PN_XNUM:
        raise ElfError(f"{path}: extended program header numbering is not supported")
    if e_phentsize != PHDR_SIZE:
        raise ElfError(f"{path}: program header size {e_phentsize}, expected {PHDR_SIZE}")
    if e_phnum * PHDR_SIZE > PHDRS_MAX_BYTES:
        raise ElfError(f"{path}: {e_phnum} program headers: more than Linux reads")
    if e_phoff + e_phnum * PHDR_SIZE > size:
        raise ElfError(f"{path}: truncated ELF file: program headers run past the end of the file")
    table = file.read(e_phoff, e_phnum * PHDR_SIZE)
    if interpreter:
        try:
            _check_type(e_type, path)
        except ElfError as err:
            raise late_error(str(err)) from None

    loads: list[Segment] = []
    tls: Segment | None = None
    stack_exec = False
    phdr_vaddr: int | None = None
    interp: str | None = None
    for index in range(e_phnum):
        p_type, p_flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, _align = (
            PHDR_FORMAT.unpack_from(table, index * PHDR_SIZE)
        )
        seg = Segment(p_vaddr, p_memsz, p_filesz, p_offset, _flags_to_prot(p_flags))
        if p_type == PT_INTERP and interp is None and not interpreter:  # Linux uses the first
            interp = _check_interpreter(file, seg, path)
        if p_type == PT_LOAD:
            _check_load(seg, index, size, path)
            loads.append(seg)
        elif p_type == PT_TLS:
            tls = seg
        elif p_type == PT_GNU_STACK:
            stack_exec = bool(p_flags & PF_X)
        elif p_type == PT_PHDR:
            phdr_vaddr = p_vaddr
    if not loads:
        raise ElfError(f"{path}: no PT_LOAD segment: nothing to load")
    loads.sort(key=lambda seg: seg.vaddr)  # Linux maps them in any order; the ABI says ascending
    _check_no_overlap(loads, path)
    return ElfImage(
        path=path,
        file=file,
        entry=e_entry,
        is_pie=e_type == ET_DYN,
        phoff=e_phoff,
        phentsize=e_phentsize,
        phnum=e_phnum,
        segments=tuple(loads),
        tls=tls,
        stack_exec=stack_exec,
        phdr_vaddr=_find_phdr_vaddr(loads, phdr_vaddr, e_phoff, e_phnum * PHDR_SIZE),
        interp=interp,
    )


def read_elf(path: str, max_size: int = LARGEST_PROGRAM) -> ElfImage:
    """Read the host file at ``path`` (at most ``max_size`` bytes) and :func:`parse_elf` it.

    A missing, unreadable or non-regular file raises :class:`ProgramError`; a file
    that is not a runnable ELF raises :class:`ElfError` (a kind of ProgramError).
    The headers are checked before the rest is read.
    """
    with open_host_program(path, max_size) as program:
        parse_program(program, path)
        data = program.read(0, program.size)
    return parse_elf(data, path)
