"""The ELF reader and process-image loader, without Unicorn.

Tiny ELF files (built by tests/elf_images.py) must each, when malformed, be
refused with its own clear message. A valid one is loaded into ``FakeMemory``,
which records mappings in page-sized bytearrays, and the initial stack is read
back word by word the way a libc ``_start`` reads it. Real binaries from this
machine (busybox, ls, and gcc's ``-static`` / ``-static-pie`` output) are
parsed and loaded too when present.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from cofferos.errors import ElfError, ProgramError
from cofferos.isa import elf, loader
from cofferos.isa.elf import (
    EHDR_SIZE,
    ELFCLASS32,
    ELFDATA2MSB,
    EM_386,
    EM_AARCH64,
    EM_RISCV,
    ET_CORE,
    ET_DYN,
    ET_REL,
    PAGE_SIZE,
    PF_R,
    PF_W,
    PF_X,
    PHDR_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    PT_GNU_STACK,
    PT_INTERP,
    PT_LOAD,
    PT_NOTE,
    parse_elf,
    read_elf,
)
from cofferos.isa.loader import (
    AT_EXECFN,
    AT_PHDR,
    AT_PHNUM,
    AT_PLATFORM,
    AT_RANDOM,
    HWCAP_DEFAULT,
    PIE_LOAD_BASE,
    STACK_TOP,
    load_image,
)
from tests.elf_images import (
    BASE,
    BSS_SIZE,
    CODE,
    DATA,
    DATA_OFFSET,
    DATA_VADDR,
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


def load(data: bytes, argv=("prog", "a b", b"\xff"), envp=("HOME=/", "X=1")):
    mem = FakeMemory()
    image = parse_elf(data, "/bin/prog")
    proc = load_image(image, mem, argv, envp, execfn="/bin/prog", random_bytes=RANDOM)
    return image, mem, proc


# -- parsing ---------------------------------------------------------------------------------


def test_parse_static_exec() -> None:
    image = parse_elf(static_exec(), "prog")
    assert not image.is_pie
    assert image.entry == BASE + TEXT_OFFSET
    assert [s.prot for s in image.segments] == [PROT_READ | PROT_EXEC, PROT_READ | PROT_WRITE]
    assert image.tls is not None and image.tls.memsz == 0x10
    assert not image.stack_exec
    assert image.phnum == 4 and image.phoff == EHDR_SIZE
    assert image.phdr_vaddr == BASE + EHDR_SIZE


def test_parse_static_pie_is_accepted() -> None:
    image = parse_elf(static_pie(), "pie")
    assert image.is_pie and image.entry == TEXT_OFFSET


def with_interp() -> bytes:
    interp = b"/lib64/ld-linux-x86-64.so.2\0"
    phdrs = [Phdr(PT_INTERP, PF_R, 0x300, 0x300, len(interp), len(interp)), *exec_phdrs(0)]
    return make_elf(phdrs, {**EXEC_BODY, 0x300: interp}, e_type=ET_DYN)


def test_parse_dynamic_names_its_interpreter() -> None:
    image = parse_elf(with_interp(), "dyn")
    assert image.interp == "/lib64/ld-linux-x86-64.so.2" and image.is_pie
    assert parse_elf(static_pie(), "pie").interp is None


def one_load(**fields: int) -> bytes:
    seg = Phdr(PT_LOAD, PF_R | PF_X, 0, BASE, 0x200, 0x200)
    for name, value in fields.items():
        setattr(seg, name, value)
    return make_elf([seg], {TEXT_OFFSET: CODE.ljust(0x200 - TEXT_OFFSET, b"\x90")})


def overlapping() -> bytes:
    phdrs = [
        Phdr(PT_LOAD, PF_R, 0, BASE, 0x200, 0x200),
        Phdr(PT_LOAD, PF_R | PF_W, 0x100, BASE + 0x100, 0x100, 0x100),
    ]
    return make_elf(phdrs, {TEXT_OFFSET: CODE.ljust(0x200 - TEXT_OFFSET, b"\x90")})


def descending() -> bytes:
    phdrs = [
        Phdr(PT_LOAD, PF_R | PF_W, 0x100, BASE + 0x1100, 0x100, 0x100),
        Phdr(PT_LOAD, PF_R, 0, BASE, 0x100, 0x100),
    ]
    return make_elf(phdrs, {TEXT_OFFSET: CODE.ljust(0x100, b"\x90")})


EXEC = static_exec()
BAD_FILES = {
    "empty": (b"", "is empty"),
    "script": (b"#!/bin/sh\necho hi\n", "is a script: scripts are run through their interpreter"),
    "random": (random.Random(7).randbytes(300), "not an ELF file"),
    "text": (b"hello world\n", "not an ELF file"),
    "short magic": (EXEC[:3], "not an ELF file"),
    "cut in ident": (EXEC[:10], "truncated ELF file"),
    "cut in header": (EXEC[:40], "truncated ELF file"),
    "cut in phdrs": (EXEC[: EHDR_SIZE + PHDR_SIZE + 7], "program headers run past the end"),
    "cut in segment": (EXEC[: DATA_OFFSET + 4], "segment bytes run past the end"),
    "32-bit": (
        make_elf(exec_phdrs(), EXEC_BODY, ei_class=ELFCLASS32),
        "32-bit ELF: only x86-64 programs run here",
    ),
    "big-endian": (make_elf(exec_phdrs(), EXEC_BODY, ei_data=ELFDATA2MSB), "big-endian"),
    "aarch64": (make_elf(exec_phdrs(), EXEC_BODY, machine=EM_AARCH64), "ELF for aarch64"),
    "riscv": (make_elf(exec_phdrs(), EXEC_BODY, machine=EM_RISCV), "ELF for riscv"),
    "i386": (make_elf(exec_phdrs(), EXEC_BODY, machine=EM_386), "ELF for i386"),
    "unknown machine": (make_elf(exec_phdrs(), EXEC_BODY, machine=9999), "machine 9999"),
    "object": (make_elf(exec_phdrs(), EXEC_BODY, e_type=ET_REL), "relocatable object"),
    "core": (make_elf(exec_phdrs(), EXEC_BODY, e_type=ET_CORE), "core dump"),
    "empty interpreter": (
        make_elf([Phdr(PT_INTERP, PF_R, 0x300, 0x300, 2, 2), *exec_phdrs(0)],
                 {**EXEC_BODY, 0x300: b"\0\0"}, e_type=ET_DYN),
        "dynamically linked with an empty interpreter path",
    ),
    "no phdrs": (make_elf([], {}), "no program headers"),
    "no load": (make_elf([Phdr(PT_NOTE)], {}), "no PT_LOAD segment"),
    "phentsize": (make_elf(exec_phdrs(), EXEC_BODY, phentsize=32), "program header size 32"),
    "memsz < filesz": (one_load(memsz=0x10), "memory size 0x10 smaller than file size 0x200"),
    "past user space": (one_load(vaddr=(1 << 47) - PAGE_SIZE, memsz=0x2000), "past user space"),
    "wraps": (one_load(vaddr=(1 << 64) - PAGE_SIZE), "past user space"),
    "unaligned": (one_load(vaddr=BASE + 0x10), "not aligned alike within a page"),
    "overlap": (overlapping(), "PT_LOAD segments overlap (0x400000-0x400200 and 0x400100-"),
}


def test_descending_segments_load_in_address_order_as_linux_does() -> None:
    """The ABI says ascending, Linux does not insist (a native execve runs such a file)."""
    image = parse_elf(descending(), "/tmp/prog")
    assert [seg.vaddr for seg in image.segments] == [BASE, BASE + 0x1100]


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_are_refused_with_a_clear_message(case: str) -> None:
    data, message = BAD_FILES[case]
    with pytest.raises(ElfError) as info:
        parse_elf(data, "/tmp/prog")
    text = str(info.value)
    assert text.startswith("/tmp/prog: ") and message in text
    assert "\n" not in text


def test_read_elf_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ProgramError, match=r"^/nonexistent/prog: no such file$"):
        read_elf("/nonexistent/prog")
    with pytest.raises(ProgramError, match="is a directory"):
        read_elf(str(tmp_path))
    with pytest.raises(ProgramError, match="not a regular file"):
        read_elf("/dev/null")
    script = tmp_path / "run.sh"
    script.write_bytes(b"#!/bin/sh\n")
    with pytest.raises(ElfError, match="is a script"):
        read_elf(str(script))
    good = tmp_path / "prog"
    good.write_bytes(EXEC)
    assert read_elf(str(good)).path == str(good)


# -- loading ---------------------------------------------------------------------------------


def test_segments_are_mapped_copied_and_bss_zeroed() -> None:
    image, mem, proc = load(EXEC)
    assert proc.load_bias == 0 and proc.entry == BASE + TEXT_OFFSET
    assert (BASE, PAGE_SIZE, PROT_READ | PROT_EXEC, "/bin/prog") in mem.mappings
    data_page = DATA_VADDR - DATA_VADDR % PAGE_SIZE
    bss_end = elf.page_up(DATA_VADDR + len(DATA) + BSS_SIZE)
    assert (data_page, bss_end - data_page, PROT_READ | PROT_WRITE, "/bin/prog") in mem.mappings
    assert mem.read(BASE + TEXT_OFFSET, len(CODE)) == CODE
    assert mem.read(BASE, 4) == b"\x7fELF"
    assert mem.read(DATA_VADDR, len(DATA)) == DATA
    assert mem.read(DATA_VADDR + len(DATA), BSS_SIZE) == bytes(BSS_SIZE)  # not JUNK
    assert proc.brk_start == bss_end and proc.brk_start % PAGE_SIZE == 0


def test_initial_stack_reads_back_exactly() -> None:
    image, mem, proc = load(EXEC)
    rsp = proc.stack_pointer
    assert rsp % 16 == 0
    assert proc.stack_bottom <= rsp < proc.stack_top == STACK_TOP
    assert (
        proc.stack_bottom,
        STACK_TOP - proc.stack_bottom,
        PROT_READ | PROT_WRITE,
        "[stack]",
    ) in (mem.mappings)
    stack = read_initial_stack(mem, rsp)
    assert stack.argv == [b"prog", b"a b", b"\xff"]
    assert stack.envp == [b"HOME=/", b"X=1"]
    aux = stack.auxv
    assert aux == {
        loader.AT_HWCAP: HWCAP_DEFAULT,
        loader.AT_PAGESZ: PAGE_SIZE,
        loader.AT_CLKTCK: 100,
        AT_PHDR: BASE + EHDR_SIZE,
        loader.AT_PHENT: PHDR_SIZE,
        AT_PHNUM: 4,
        loader.AT_BASE: 0,
        loader.AT_FLAGS: 0,
        loader.AT_ENTRY: BASE + TEXT_OFFSET,
        loader.AT_UID: 0,
        loader.AT_EUID: 0,
        loader.AT_GID: 0,
        loader.AT_EGID: 0,
        loader.AT_SECURE: 0,
        AT_RANDOM: proc.random_addr,
        loader.AT_HWCAP2: 0,
        AT_EXECFN: proc.execfn_addr,
        AT_PLATFORM: aux[AT_PLATFORM],
    }
    assert len(stack.auxv_order) == len(set(stack.auxv_order))
    assert mem.read(aux[AT_RANDOM], 16) == RANDOM
    assert mem.cstr(aux[AT_EXECFN]) == b"/bin/prog"
    assert mem.cstr(aux[AT_PLATFORM]) == b"x86_64"
    assert mem.read(aux[AT_PHDR], PHDR_SIZE * 4) == EXEC[EHDR_SIZE : EHDR_SIZE + PHDR_SIZE * 4]
    assert mem.word(STACK_TOP - 8) == 0  # Linux's end marker


def test_hwcap_is_the_baseline_without_avx() -> None:
    assert HWCAP_DEFAULT == 0x078BFBFF  # a real CPU's 0x178BFBFF without HTT (bit 28)


def test_hwcap_matches_the_simulated_cpuid() -> None:
    cpuid = pytest.importorskip("cofferos.isa.cpuid")
    leaf1_edx = cpuid.cpuid(1, 0)[3]
    assert HWCAP_DEFAULT == leaf1_edx


def test_ids_and_an_empty_argv() -> None:
    mem = FakeMemory()
    image = parse_elf(EXEC, "p")
    proc = load_image(
        image, mem, [], [], execfn="p", random_bytes=RANDOM, uid=1000, euid=1001, gid=7, egid=8
    )
    stack = read_initial_stack(mem, proc.stack_pointer)
    assert stack.argv == [b""] and stack.envp == []
    assert [stack.auxv[k] for k in (loader.AT_UID, loader.AT_EUID)] == [1000, 1001]
    assert [stack.auxv[k] for k in (loader.AT_GID, loader.AT_EGID)] == [7, 8]


@pytest.mark.parametrize("argc", range(6))
def test_rsp_is_aligned_for_any_argument_count(argc: int) -> None:
    _, mem, proc = load(EXEC, argv=["x" * i for i in range(1, argc + 1)], envp=["A=" + "b" * argc])
    assert proc.stack_pointer % 16 == 0
    assert len(read_initial_stack(mem, proc.stack_pointer).argv) == max(argc, 1)


def test_pie_is_placed_at_the_pie_base() -> None:
    image, mem, proc = load(static_pie())
    assert proc.load_bias == PIE_LOAD_BASE
    assert proc.entry == PIE_LOAD_BASE + TEXT_OFFSET
    assert proc.phdr_addr == PIE_LOAD_BASE + EHDR_SIZE
    assert mem.read(PIE_LOAD_BASE + TEXT_OFFSET, len(CODE)) == CODE
    stack = read_initial_stack(mem, proc.stack_pointer)
    assert stack.auxv[loader.AT_ENTRY] == proc.entry


def test_shared_page_gets_the_union_of_protections() -> None:
    phdrs = [
        Phdr(PT_LOAD, PF_R | PF_X, 0, BASE, 0x1800, 0x1800),
        Phdr(PT_LOAD, PF_R | PF_W, 0x1800, BASE + 0x1800, 0x100, 0x3000),
    ]
    data = make_elf(phdrs, {TEXT_OFFSET: CODE, 0x1800: b"W" * 0x100})
    _, mem, proc = load(data)
    rx, rw = PROT_READ | PROT_EXEC, PROT_READ | PROT_WRITE
    image_maps = [m[:3] for m in mem.mappings if m[3] != "[stack]"]
    assert image_maps == [
        (BASE, 0x1000, rx),
        (BASE + 0x1000, 0x1000, rx | rw),
        (BASE + 0x2000, 0x3000, rw),
    ]
    assert mem.read(BASE + 0x1800, 0x100) == b"W" * 0x100
    assert proc.brk_start == BASE + 0x5000


def test_executable_stack_when_asked() -> None:
    phdrs = exec_phdrs()
    phdrs[-1] = Phdr(PT_GNU_STACK, PF_R | PF_W | PF_X)
    _, mem, _ = load(make_elf(phdrs, EXEC_BODY))
    assert mem.mappings[-1][2:] == (PROT_READ | PROT_WRITE | PROT_EXEC, "[stack]")


def test_image_below_mmap_min_addr_is_refused() -> None:
    with pytest.raises(ElfError, match="below the lowest mappable address"):
        load(one_load(vaddr=0))


def test_argument_list_too_long() -> None:
    with pytest.raises(ProgramError, match="argument list too long"):
        load(EXEC, argv=["x" * (loader.MAX_ARG_STRLEN + 1)])


# -- real binaries ---------------------------------------------------------------------------


def check_real_load(image: elf.ElfImage) -> None:
    mem = FakeMemory()
    proc = load_image(image, mem, ["prog"], [], execfn=image.path, random_bytes=RANDOM)
    stack = read_initial_stack(mem, proc.stack_pointer)
    phdrs = image.file.read(image.phoff, image.phnum * PHDR_SIZE)
    assert mem.read(stack.auxv[AT_PHDR], len(phdrs)) == phdrs
    assert mem.read(proc.entry, 4) == image.file.read(image.entry - _text(image), 4)
    assert proc.stack_pointer % 16 == 0


def _text(image: elf.ElfImage) -> int:
    """vaddr - offset of the segment holding the entry point."""
    seg = next(s for s in image.segments if s.vaddr <= image.entry < s.vaddr + s.filesz)
    return seg.vaddr - seg.offset


@pytest.mark.skipif(not Path("/bin/busybox").is_file(), reason="no /bin/busybox")
def test_busybox_is_accepted() -> None:
    image = read_elf("/bin/busybox")
    check_real_load(image)


@pytest.mark.skipif(not Path("/bin/ls").is_file(), reason="no /bin/ls")
def test_dynamic_ls_names_its_interpreter() -> None:
    data = Path("/bin/ls").read_bytes()
    if b"ld-linux" not in data[:PAGE_SIZE]:
        pytest.skip("/bin/ls is not dynamically linked here")
    assert read_elf("/bin/ls").interp == "/lib64/ld-linux-x86-64.so.2"


@pytest.mark.parametrize("flag", ["-static", "-static-pie"])
def test_gcc_static_hello(tmp_path: Path, flag: str) -> None:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc")
    source = tmp_path / "hello.c"
    source.write_text('#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n')
    out = tmp_path / "hello"
    built = subprocess.run([gcc, flag, "-O2", "-o", str(out), str(source)], capture_output=True)
    if built.returncode != 0:
        pytest.skip(f"gcc {flag} does not link here: {built.stderr.decode()[-200:]}")
    image = read_elf(str(out))
    assert image.is_pie == (flag == "-static-pie")
    assert image.tls is not None
    check_real_load(image)
