"""Malformed programs built from one valid static ELF by patching its headers.

:func:`build_variants` writes each variant into a directory and says what Linux
does when it is ``execve``'d: an errno before the point of no return, or the
signal that kills the process after it (or after the first instruction). The
table drives ``tests/test_loader_hostile.py``: ``coffersim run`` must give one
line for every refused variant, and an ``execve`` inside a coffer must give the
same errno or signal as the native ``execve`` of the same file.

The base program is built with ``gcc -static -nostdlib`` from :data:`TINY_SOURCE`:
four ``PT_LOAD`` segments (R, R+X, R, R+W), a ``PT_NOTE`` and ``PT_GNU_STACK``.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cofferos.isa.elf import EHDR_FORMAT, PHDR_FORMAT, PHDR_SIZE, PT_LOAD, PT_NOTE

GIB = 1 << 30
HUGE_SPARSE_SIZE = 3 * GIB // 2  #: past the coffer's largest file (1 GiB): never read whole

TINY_SOURCE = r"""
static char msg[] = "tiny\n";
static long status = 0;
static long sys3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}
void _start(void) { sys3(1, 1, (long)msg, 5); sys3(60, status, 0, 0); for (;;) {} }
"""

#: Runs a path given as argv[1] with execve and reports what happened, one line:
#: "errno=NAME", "signal=N" or "exit=N". Built static, run natively and in a coffer.
EXECVE_PROBE_SOURCE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    int fds[2];
    pipe(fds);
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      char *args[] = {argv[i], 0}, *env[] = {0};
      execve(argv[i], args, env);
      int err = errno;
      write(fds[1], &err, sizeof err);
      _exit(127);
    }
    close(fds[1]);
    int err = 0, st = 0;
    ssize_t got = read(fds[0], &err, sizeof err);
    close(fds[0]);
    waitpid(pid, &st, 0);
    if (got == sizeof err)
      printf("%s errno=%s\n", argv[i], strerrorname_np(err));
    else if (WIFSIGNALED(st))
      printf("%s signal=%d\n", argv[i], WTERMSIG(st));
    else
      printf("%s exit=%d\n", argv[i], WEXITSTATUS(st));
  }
  return 0;
}
"""

SEGV = f"signal={int(signal.SIGSEGV)}"


class Elf:
    """A mutable view of an ELF's header and program headers, written back by ``bytes()``."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.ehdr = list(EHDR_FORMAT.unpack_from(self.data, 0))
        phoff, phnum = self.ehdr[5], self.ehdr[10]
        self.phdrs = [list(PHDR_FORMAT.unpack_from(self.data, phoff + i * PHDR_SIZE))
                      for i in range(phnum)]

    # Elf64_Ehdr fields by index: 1 e_type, 2 e_machine, 4 e_entry, 5 e_phoff, 9 e_phentsize,
    # 10 e_phnum; Elf64_Phdr: 0 p_type, 1 p_flags, 2 p_offset, 3 p_vaddr, 4 p_paddr,
    # 5 p_filesz, 6 p_memsz, 7 p_align.
    def loads(self) -> list[list[int]]:
        return [ph for ph in self.phdrs if ph[0] == PT_LOAD]

    def of_type(self, p_type: int) -> list[int]:
        return next(ph for ph in self.phdrs if ph[0] == p_type)

    def build(self, *, keep_ehdr_raw: bool = False) -> bytes:
        out = bytearray(self.data)
        phoff = EHDR_FORMAT.unpack_from(out, 0)[5]
        if not keep_ehdr_raw:
            EHDR_FORMAT.pack_into(out, 0, *self.ehdr)
        for i, ph in enumerate(self.phdrs):
            PHDR_FORMAT.pack_into(out, phoff + i * PHDR_SIZE, *ph)
        if not keep_ehdr_raw:
            EHDR_FORMAT.pack_into(out, 0, *self.ehdr)
        return bytes(out)


def _ehdr(index: int, value: int) -> Callable[[bytes], bytes]:
    def patch(base: bytes) -> bytes:
        elf = Elf(base)
        elf.ehdr[index] = value
        out = bytearray(base)
        EHDR_FORMAT.pack_into(out, 0, *elf.ehdr)
        return bytes(out)
    return patch


def _ident(offset: int, value: bytes) -> Callable[[bytes], bytes]:
    return lambda base: base[:offset] + value + base[offset + len(value):]


def _load(which: int, **fields: int | Callable[[list[int]], int]) -> Callable[[bytes], bytes]:
    names = {"type": 0, "flags": 1, "offset": 2, "vaddr": 3, "filesz": 5, "memsz": 6, "align": 7}

    def patch(base: bytes) -> bytes:
        elf = Elf(base)
        ph = elf.loads()[which]
        for name, value in fields.items():
            ph[names[name]] = value(ph) if callable(value) else value
        return elf.build()
    return patch


def _swap_loads(base: bytes) -> bytes:
    elf = Elf(base)
    a, b = (elf.phdrs.index(ph) for ph in elf.loads()[:2])
    elf.phdrs[a], elf.phdrs[b] = elf.phdrs[b], elf.phdrs[a]
    return elf.build()


def _overlap(base: bytes) -> bytes:
    elf = Elf(base)
    first, second = elf.loads()[:2]
    second[3] = first[3] + (second[3] - first[3]) % 0x1000  # same page as the first
    second[4] = second[3]
    return elf.build()


def _interp(filesz: int) -> Callable[[bytes], bytes]:
    """Turn PT_NOTE into PT_INTERP naming a missing interpreter, placed at the file's end."""
    def patch(base: bytes) -> bytes:
        name = b"/lib64/no-such-ld.so\0"
        elf = Elf(base + name)
        note = elf.of_type(PT_NOTE)
        note[0], note[2], note[5], note[6] = 3, len(base), filesz, filesz  # PT_INTERP
        return elf.build()
    return patch


def _fields(**ehdr: int) -> Callable[[bytes], bytes]:
    names = {"type": 1, "machine": 2, "entry": 4, "phoff": 5, "phentsize": 9, "phnum": 10}

    def patch(base: bytes) -> bytes:
        elf = Elf(base)
        for name, value in ehdr.items():
            elf.ehdr[names[name]] = value
        out = bytearray(base)
        EHDR_FORMAT.pack_into(out, 0, *elf.ehdr)
        return bytes(out)
    return patch


@dataclass(frozen=True)
class Variant:
    """One malformed (or odd but valid) program and what ``execve`` of it gives."""

    name: str
    make: Callable[[bytes], bytes] | None  # patched bytes; None: a special file (see _special)
    linux: str  # the probe's report of a native execve here (as root): "errno=ENOEXEC" ...
    coffer: str | None = None  # where a coffer deliberately differs (see DEVIATIONS), or None
    runs: bool = False  # coffersim run starts it (a normal exit or a guest fault, no error)

    @property
    def expected(self) -> str:
        return self.coffer or self.linux


# Deliberate differences from a native execve, each for a reason:
# - ELF class, data encoding and version: Linux checks only the magic and e_machine and
#   reads the rest as 64-bit little-endian; a coffer refuses a file that says otherwise.
# - below vm.mmap_min_addr: root (CAP_SYS_RAWIO) may map there, other users die of
#   SIGSEGV; a coffer enforces mmap_min_addr for everyone.
# - segment bytes past the end of the file: Linux maps them and the process gets SIGBUS
#   only if it touches them; a coffer refuses the file (SIGSEGV, past the point of no return).
# - memory over the coffer's limit: natively there is no limit to exceed; with one
#   (RLIMIT_AS) Linux fails in vm_brk past the point of no return: SIGSEGV.
# - files over the coffer's largest file (1 GiB): EFBIG, whatever they hold.
VARIANTS: tuple[Variant, ...] = (
    Variant("valid", lambda b: b, "exit=0", runs=True),
    Variant("bad-magic", _ident(0, b"\x7fELG"), "errno=ENOEXEC"),
    Variant("elf-class-32", _ident(4, b"\x01"), "exit=0", coffer="errno=ENOEXEC"),
    Variant("elf-class-bad", _ident(4, b"\x09"), "exit=0", coffer="errno=ENOEXEC"),
    Variant("big-endian", _ident(5, b"\x02"), "exit=0", coffer="errno=ENOEXEC"),
    Variant("data-encoding-bad", _ident(5, b"\x00"), "exit=0", coffer="errno=ENOEXEC"),
    Variant("version-bad", _ident(6, b"\x00"), "exit=0", coffer="errno=ENOEXEC"),
    Variant("machine-arm", _fields(machine=40), "errno=ENOEXEC"),
    Variant("machine-unknown", _fields(machine=0x1234), "errno=ENOEXEC"),
    Variant("type-rel", _fields(type=1), "errno=ENOEXEC"),
    Variant("type-core", _fields(type=4), "errno=ENOEXEC"),
    Variant("type-unknown", _fields(type=0x77), "errno=ENOEXEC"),
    Variant("phnum-zero", _fields(phnum=0), "errno=ENOEXEC"),
    Variant("phnum-xnum", _fields(phnum=0xFFFF), "errno=ENOEXEC"),
    Variant("phnum-many", _fields(phnum=100), "exit=0", runs=True),
    Variant("phnum-too-many", _fields(phnum=1200), "errno=ENOEXEC"),
    Variant("phentsize-small", _fields(phentsize=32), "errno=ENOEXEC"),
    Variant("phentsize-zero", _fields(phentsize=0), "errno=ENOEXEC"),
    Variant("phoff-past-eof", _fields(phoff=1 << 20), "errno=ENOEXEC"),
    Variant("phoff-huge", _fields(phoff=1 << 62), "errno=ENOEXEC"),
    Variant("phoff-wraps", _fields(phoff=(1 << 64) - 8), "errno=ENOEXEC"),
    Variant("phdrs-cut-by-eof", None, "errno=ENOEXEC"),
    Variant("load-at-zero", _load(0, vaddr=0, offset=0), "exit=0", coffer=SEGV),
    Variant("load-below-min-addr", _load(0, vaddr=0x1000, offset=0), "exit=0", coffer=SEGV),
    Variant("loads-overlap", _overlap, SEGV),
    Variant("loads-out-of-order", _swap_loads, "exit=0", runs=True),
    Variant("memsz-5gib", _load(3, memsz=5 * GIB), "exit=0", coffer=SEGV),
    Variant("memsz-past-user-space", _load(3, memsz=1 << 47), SEGV),
    Variant("memsz-wraps", _load(3, memsz=(1 << 64) - 0x1000), SEGV),
    Variant("vaddr-kernel-space", _load(3, vaddr=0xFFFF800000000000), SEGV),
    Variant("filesz-over-memsz", _load(3, filesz=lambda ph: ph[6] + 0x10), SEGV),
    Variant("offset-past-eof", _load(3, offset=lambda ph: ph[2] + (1 << 20)), "exit=0",
            coffer=SEGV),
    Variant("filesz-past-eof", _load(3, filesz=1 << 20, memsz=1 << 20), "exit=0", coffer=SEGV),
    Variant("offset-wraps", _load(3, offset=(1 << 64) - 0x1000), SEGV),
    Variant("vaddr-offset-misaligned", _load(1, vaddr=lambda ph: ph[3] + 8), SEGV),
    Variant("align-not-power-of-two", _load(1, align=3), "exit=0", runs=True),
    Variant("load-empty", _load(2, filesz=0, memsz=0), "exit=0", runs=True),
    Variant("interp-missing", _interp(21), "errno=ENOENT"),
    Variant("interp-too-short", _interp(1), "errno=ENOEXEC"),
    Variant("interp-not-terminated", _interp(8), "errno=ENOEXEC"),
    Variant("entry-outside-segments", _fields(entry=0x1000), SEGV, runs=True),
    Variant("entry-zero", _fields(entry=0), SEGV, runs=True),
    Variant("truncated-ident", lambda b: b[:10], "errno=ENOEXEC"),
    Variant("truncated-header", lambda b: b[:40], "errno=ENOEXEC"),
    Variant("truncated-segments", lambda b: b[:0x1010], SEGV),
    Variant("empty", lambda b: b"", "errno=ENOEXEC"),
    Variant("script-missing-interpreter", lambda b: b"#!/no/such/sh\n", "errno=ENOENT"),
    Variant("script-empty-line", lambda b: b"#!\n", "errno=ENOEXEC"),
    Variant("zeros-huge-sparse", None, "errno=ENOEXEC", coffer="errno=EFBIG"),
    Variant("elf-huge-sparse", None, "exit=0", coffer="errno=EFBIG"),
    Variant("fifo", None, "errno=EACCES"),
    Variant("directory", None, "errno=EACCES"),
    Variant("dev-zero", None, "errno=EACCES"),
)


def _special(name: str, path: Path, base: bytes) -> None:
    """Write the variants that are not patched bytes: odd file types and huge files."""
    if name == "fifo":
        os.mkfifo(path)
    elif name == "directory":
        path.mkdir()
    elif name == "dev-zero":
        path.symlink_to("/dev/zero")
    elif name == "phdrs-cut-by-eof":
        elf = Elf(base)
        end = elf.ehdr[5] + PHDR_SIZE  # the file ends inside the second program header
        path.write_bytes(base[:end])
    else:  # the huge sparse files: a hole of HUGE_SPARSE_SIZE, behind a header or not
        with path.open("wb") as f:
            if name == "elf-huge-sparse":
                f.write(base)
            f.truncate(HUGE_SPARSE_SIZE)
    if path.is_file() and not path.is_symlink():
        path.chmod(0o755)


def build_variants(base: bytes, directory: Path) -> dict[str, Path]:
    """Write every variant into ``directory``; return their paths by name."""
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for variant in VARIANTS:
        path = directory / variant.name
        if variant.make is None:
            _special(variant.name, path, base)
        else:
            path.write_bytes(variant.make(base))
            path.chmod(0o755)
        paths[variant.name] = path
    return paths


def build_static(source: str, out: Path, *flags: str) -> Path:
    """Compile a C source string with ``gcc -static`` and the given flags."""
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["gcc", "-static", "-O1", *flags, "-o", str(out), str(src)],
                   check=True, capture_output=True)
    return out
