"""The loader with a program interpreter (PT_INTERP), without Unicorn.

A dynamically linked program and its ``ld.so`` are loaded as Linux's
``load_elf_binary`` loads them with address space randomisation off: a PIE at
ELF_ET_DYN_BASE (0x555555554000), the ET_DYN interpreter ending at the top of
the mmap area (where ``setarch -R cat /proc/self/maps`` shows
``ld-linux-x86-64.so.2`` ending: 0x7ffff7fff000), the first instruction the
interpreter's entry, and the auxiliary vector describing the program (AT_PHDR,
AT_PHNUM, AT_ENTRY) and where the interpreter lies (AT_BASE). A real
``/bin/true`` and its real interpreter are loaded too when present.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cofferos.errors import ElfError
from cofferos.isa.elf import (
    EHDR_SIZE,
    ET_DYN,
    ET_EXEC,
    PAGE_SIZE,
    PF_R,
    PHDR_SIZE,
    PT_INTERP,
    PT_PHDR,
    parse_elf,
    read_elf,
)
from cofferos.isa.loader import (
    AT_BASE,
    AT_ENTRY,
    AT_PHDR,
    AT_PHNUM,
    INTERP_TOP,
    PIE_LOAD_BASE,
    check_fits,
    load_image,
)
from tests.elf_images import (
    BASE,
    EXEC_BODY,
    RANDOM,
    TEXT_OFFSET,
    FakeMemory,
    Phdr,
    exec_phdrs,
    make_elf,
    read_initial_stack,
    static_exec,
    static_pie,
)

INTERP = b"/lib64/ld-linux-x86-64.so.2\0"
INTERP_OFFSET = 0x300  # inside the first page, past the six program headers
CODE_OFFSET = 0x400  # the program's own code, after the interpreter's path
FIRST_PAGE = 0x800  # filesz of the program's first PT_LOAD


def dynamic(pie: bool) -> bytes:
    """A program with PT_PHDR and PT_INTERP: a PIE at 0, else an ET_EXEC at BASE."""
    base = 0 if pie else BASE
    first, *rest = exec_phdrs(base)
    first.filesz = first.memsz = FIRST_PAGE
    phdrs = [Phdr(PT_PHDR, PF_R, EHDR_SIZE, base + EHDR_SIZE, PHDR_SIZE * 6, PHDR_SIZE * 6),
             Phdr(PT_INTERP, PF_R, INTERP_OFFSET, base + INTERP_OFFSET, len(INTERP), len(INTERP)),
             first, *rest]
    body = {**EXEC_BODY, INTERP_OFFSET: INTERP, CODE_OFFSET: EXEC_BODY[TEXT_OFFSET]}
    del body[TEXT_OFFSET]  # the headers are there
    return make_elf(phdrs, body, e_type=ET_DYN if pie else ET_EXEC, entry=base + CODE_OFFSET)


def load_with_interp(program: bytes, interp: bytes):
    mem = FakeMemory()
    image = parse_elf(program, "/bin/prog")
    ld = parse_elf(interp, "/lib/ld.so")
    proc = load_image(image, mem, ["prog"], [], execfn="/bin/prog", random_bytes=RANDOM,
                      interp=ld)
    return image, ld, mem, proc


@pytest.mark.parametrize("pie", [True, False])
def test_the_interpreter_runs_first_and_the_auxv_describes_the_program(pie: bool) -> None:
    image, ld, mem, proc = load_with_interp(dynamic(pie), static_pie())
    assert image.interp == INTERP.rstrip(b"\0").decode()
    span = max(seg.end for seg in ld.segments)
    interp_base = INTERP_TOP - ((span + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE)
    assert proc.interp_base == interp_base
    assert proc.entry == interp_base + TEXT_OFFSET  # the interpreter's entry, not the program's
    program_base = PIE_LOAD_BASE if pie else BASE
    auxv = read_initial_stack(mem, proc.stack_pointer).auxv
    assert auxv[AT_BASE] == interp_base
    assert auxv[AT_ENTRY] == program_base + CODE_OFFSET
    assert auxv[AT_PHDR] == program_base + EHDR_SIZE
    assert auxv[AT_PHNUM] == image.phnum
    # Both images are in memory, each under its own name, the interpreter's bytes at its base.
    names = {name for _start, _len, _prot, name in mem.mappings}
    assert {"/bin/prog", "/lib/ld.so", "[stack]"} <= names
    assert mem.read(interp_base + TEXT_OFFSET, 4) == EXEC_BODY[TEXT_OFFSET][:4]
    assert max(start + length for start, length, _p, name in mem.mappings
               if name == "/lib/ld.so") == INTERP_TOP
    assert proc.brk_start < interp_base  # the heap follows the program, not the interpreter


def test_a_static_program_has_no_interpreter_base() -> None:
    mem = FakeMemory()
    proc = load_image(parse_elf(static_exec(), "p"), mem, ["p"], [], execfn="p",
                      random_bytes=RANDOM)
    assert proc.interp_base == 0 and read_initial_stack(mem, proc.stack_pointer).auxv[AT_BASE] == 0


def test_an_interpreter_over_the_program_is_refused_before_anything_is_mapped() -> None:
    """An ET_EXEC interpreter at the program's own addresses: Linux's MAP_FIXED would
    overwrite the program; refused by check_fits, before the point of no return."""
    image = parse_elf(dynamic(False), "/bin/prog")
    ld = parse_elf(static_exec(), "/lib/ld.so")
    with pytest.raises(ElfError, match="its interpreter /lib/ld.so at 0x400000-.* overlaps"):
        check_fits(image, interp=ld)
    mem = FakeMemory()
    with pytest.raises(ElfError):
        load_image(image, mem, ["p"], [], execfn="p", random_bytes=RANDOM, interp=ld)
    assert mem.mappings == []


def test_check_fits_counts_the_interpreter() -> None:
    image = parse_elf(dynamic(True), "/bin/prog")
    ld = parse_elf(static_pie(), "/lib/ld.so")
    assert check_fits(image, interp=ld) > check_fits(image)


@pytest.mark.skipif(not Path("/bin/true").is_file(), reason="no /bin/true")
def test_real_true_and_its_interpreter_load_where_linux_puts_them() -> None:
    image = read_elf("/bin/true")
    if image.interp is None:
        pytest.skip("/bin/true is static here")
    ld = read_elf(str(Path(image.interp).resolve()))
    mem = FakeMemory()
    proc = load_image(image, mem, ["true"], [], execfn="/bin/true", random_bytes=RANDOM,
                      interp=ld)
    assert proc.load_bias == PIE_LOAD_BASE - image.segments[0].vaddr
    assert proc.entry == proc.interp_base + ld.entry
    assert mem.read(proc.interp_base, 4) == b"\x7fELF"
