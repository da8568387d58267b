"""Tiny ELF images built with :mod:`struct`, and a fake guest memory to load them into,
for the loader's tests (tests/test_loader.py, tests/test_loader_interp.py).

``FakeMemory`` records mappings in page-sized bytearrays; ``read_initial_stack``
reads the initial stack back word by word the way a libc ``_start`` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cofferos.isa.elf import (
    EHDR_FORMAT,
    EHDR_SIZE,
    ELFCLASS64,
    ELFDATA2LSB,
    EM_X86_64,
    ET_DYN,
    ET_EXEC,
    EV_CURRENT,
    PAGE_SIZE,
    PF_R,
    PF_W,
    PF_X,
    PHDR_FORMAT,
    PHDR_SIZE,
    PT_GNU_STACK,
    PT_LOAD,
    PT_TLS,
)
from cofferos.isa.loader import AT_NULL

BASE = 0x400000
TEXT_OFFSET = 0x100
DATA_OFFSET = 0x1010  # not page-aligned, so the data page begins with other file bytes
DATA_VADDR = BASE + 0x1000 + DATA_OFFSET
DATA = b"D" * 0x20
JUNK = b"J" * 0x100  # file bytes after the data segment's filesz: must not show in its bss
BSS_SIZE = 0x2000
RANDOM = bytes(range(0x10, 0x20))


@dataclass
class Phdr:
    p_type: int
    flags: int = PF_R
    offset: int = 0
    vaddr: int = 0
    filesz: int = 0
    memsz: int = 0
    align: int = PAGE_SIZE

    def pack(self) -> bytes:
        return PHDR_FORMAT.pack(
            self.p_type, self.flags, self.offset, self.vaddr, self.vaddr,
            self.filesz, self.memsz, self.align,
        )  # fmt: skip


def make_elf(
    phdrs: list[Phdr],
    body: dict[int, bytes],
    *,
    e_type: int = ET_EXEC,
    machine: int = EM_X86_64,
    ei_class: int = ELFCLASS64,
    ei_data: int = ELFDATA2LSB,
    entry: int = BASE + TEXT_OFFSET,
    phentsize: int = PHDR_SIZE,
) -> bytes:
    """An ELF file: header, program headers at offset 64, and ``body`` bytes at their offsets."""
    ident = b"\x7fELF" + bytes([ei_class, ei_data, EV_CURRENT]) + bytes(9)
    header = EHDR_FORMAT.pack(
        ident, e_type, machine, EV_CURRENT, entry, EHDR_SIZE, 0, 0,
        EHDR_SIZE, phentsize, len(phdrs), 0, 0, 0,
    )  # fmt: skip
    out = bytearray(header + b"".join(p.pack() for p in phdrs))
    for offset, data in body.items():
        out.extend(bytes(max(0, offset + len(data) - len(out))))
        out[offset : offset + len(data)] = data
    return bytes(out)


def exec_phdrs(bias_vaddr: int = BASE) -> list[Phdr]:
    """Headers+text (R X) in the first page, data + bss (RW) from the second, a TLS, a stack."""
    data_vaddr = bias_vaddr + 0x1000 + DATA_OFFSET
    return [
        Phdr(PT_LOAD, PF_R | PF_X, 0, bias_vaddr, 0x200, 0x200),
        Phdr(PT_LOAD, PF_R | PF_W, DATA_OFFSET, data_vaddr, len(DATA), len(DATA) + BSS_SIZE),
        Phdr(PT_TLS, PF_R, DATA_OFFSET, data_vaddr, 8, 0x10, 8),
        Phdr(PT_GNU_STACK, PF_R | PF_W),
    ]


CODE = b"\x48\x31\xff\xb8\x3c\x00\x00\x00\x0f\x05"  # xor rdi,rdi; mov eax,60; syscall
EXEC_BODY = {TEXT_OFFSET: CODE, DATA_OFFSET: DATA, DATA_OFFSET + len(DATA): JUNK}


def static_exec() -> bytes:
    return make_elf(exec_phdrs(), EXEC_BODY)


def static_pie() -> bytes:
    return make_elf(exec_phdrs(0), EXEC_BODY, e_type=ET_DYN, entry=TEXT_OFFSET)


class FakeMemory:
    """A GuestMemory that keeps every page in a bytearray and every mapping in a list."""

    def __init__(self) -> None:
        self.pages: dict[int, bytearray] = {}
        self.prots: dict[int, int] = {}
        self.mappings: list[tuple[int, int, int, str]] = []

    def map(self, addr: int, length: int, prot: int, name: str) -> None:
        assert addr % PAGE_SIZE == 0 and length % PAGE_SIZE == 0 and length > 0
        for page in range(addr, addr + length, PAGE_SIZE):
            assert page not in self.pages, f"page {page:#x} mapped twice"
            self.pages[page] = bytearray(PAGE_SIZE)
            self.prots[page] = prot
        self.mappings.append((addr, length, prot, name))

    def write(self, addr: int, data: bytes) -> None:
        for i, byte in enumerate(data):
            page = self.pages[(addr + i) - (addr + i) % PAGE_SIZE]
            page[(addr + i) % PAGE_SIZE] = byte

    def read(self, addr: int, length: int) -> bytes:
        return bytes(
            self.pages[a - a % PAGE_SIZE][a % PAGE_SIZE] for a in range(addr, addr + length)
        )

    def word(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 8), "little")

    def cstr(self, addr: int) -> bytes:
        out = bytearray()
        while (byte := self.read(addr + len(out), 1)) != b"\0":
            out += byte
        return bytes(out)


@dataclass
class InitialStack:
    argv: list[bytes]
    envp: list[bytes]
    auxv: dict[int, int]
    auxv_order: list[int]


def read_initial_stack(mem: FakeMemory, rsp: int) -> InitialStack:
    """Walk argc, argv, envp and auxv up from rsp, as glibc's _start does."""
    argc = mem.word(rsp)
    ptr = rsp + 8
    argv = [mem.cstr(mem.word(ptr + 8 * i)) for i in range(argc)]
    ptr += 8 * argc
    assert mem.word(ptr) == 0
    ptr += 8
    envp = []
    while addr := mem.word(ptr):
        envp.append(mem.cstr(addr))
        ptr += 8
    ptr += 8
    auxv: dict[int, int] = {}
    order = []
    while True:
        key, value = mem.word(ptr), mem.word(ptr + 8)
        ptr += 16
        if key == AT_NULL:
            break
        auxv[key] = value
        order.append(key)
    return InitialStack(argv, envp, auxv, order)
