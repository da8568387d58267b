"""Building built-in workloads into static ELF files, once, on first use.

A workload from :mod:`cofferos.workloads.catalog` is compiled with the host's C
compiler into a cache directory: ``$COFFERSIM_CACHE`` if set, otherwise
``~/.cache/cofferos-sim/workloads/``. The file name carries a hash of everything
that decides the output (the source bytes, the compiler command line including
the workload's extra link flags, and the compiler's ``--version`` text), so an
edited source or an upgraded compiler gets a fresh binary and an unchanged one
is reused without running the compiler.
Compilation writes to a temporary name and moves it into place with
:func:`os.replace`, so concurrent builds never see half a file.

Three libc variants, all static:

    glibc       gcc -static -O2              ET_EXEC, what ``file`` calls "statically linked"
    musl        musl-gcc -static -O2         the same with musl (apt-get install musl-tools)
    glibc-pie   gcc -static-pie -O2 -fPIE    ET_DYN that relocates itself: for loader tests

Code is compiled for the baseline x86-64 ISA (no AVX: Unicorn cannot run it).
The command line names a workload as ``@name`` or ``@name:libc``; :func:`resolve`
turns that into a path. Every failure is a :class:`WorkloadError` whose message
says what to do, never a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cofferos.errors import WorkloadError

from .catalog import (
    GLIBC,
    GLIBC_PIE,
    MUSL,
    WORKLOADS,
    Workload,
    list_workloads,
)

__all__ = [
    "CACHE_ENV",
    "TOOLCHAINS",
    "Toolchain",
    "build",
    "build_source",
    "cache_dir",
    "compilers_available",
    "list_workloads",
    "lookup",
    "resolve",
]

#: Environment variable that overrides the cache directory.
CACHE_ENV = "COFFERSIM_CACHE"
#: The cache directory when :data:`CACHE_ENV` is unset.
DEFAULT_CACHE = Path("~/.cache/cofferos-sim/workloads")
#: Where the sources live, next to this module.
SOURCE_DIR = Path(__file__).resolve().parent / "src"

#: Prefix that marks a workload spec on the command line.
SPEC_PREFIX = "@"
#: Separates the name from the libc variant in a spec.
SPEC_LIBC_SEPARATOR = ":"

#: Flags every build gets: optimise, baseline x86-64 only, warn.
COMMON_FLAGS: tuple[str, ...] = ("-O2", "-march=x86-64", "-mtune=generic", "-Wall")
#: Extra flag for sources that bring their own ``_start``.
FREESTANDING_FLAG = "-nostdlib"
#: Hex digits of the content hash kept in a cached file's name.
HASH_DIGITS = 16
#: Random bytes in the name of a build's temporary output.
TEMP_TOKEN_BYTES = 8
#: Lines of compiler stderr quoted in a compile-failure message.
STDERR_TAIL_LINES = 20
#: Seconds before a single compiler run is given up.
COMPILE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Toolchain:
    """How to build against one libc variant."""

    compiler: str
    """Program looked up on PATH."""
    link_flags: tuple[str, ...]
    """Flags that select the kind of static executable."""
    install_hint: str
    """What the user should run when the compiler is missing."""


_GCC_HINT = "install gcc (Debian: apt-get install gcc libc6-dev)"

#: Libc variant -> toolchain. The keys are the valid ``libc`` arguments of :func:`build`.
TOOLCHAINS: dict[str, Toolchain] = {
    GLIBC: Toolchain("gcc", ("-static",), _GCC_HINT),
    MUSL: Toolchain("musl-gcc", ("-static",), "apt-get install musl-tools"),
    GLIBC_PIE: Toolchain("gcc", ("-static-pie", "-fPIE"), _GCC_HINT),
}


def cache_dir() -> Path:
    """The directory built workloads are kept in (not created here)."""
    override = os.environ.get(CACHE_ENV)
    return Path(override).expanduser() if override else DEFAULT_CACHE.expanduser()


def compilers_available() -> dict[str, bool]:
    """Whether each compiler the toolchains need is on PATH, by program name."""
    names = sorted({toolchain.compiler for toolchain in TOOLCHAINS.values()})
    return {name: shutil.which(name) is not None for name in names}


def lookup(name: str) -> Workload:
    """The catalog entry called ``name``, or a :class:`WorkloadError` listing the known ones."""
    try:
        return WORKLOADS[name]
    except KeyError:
        known = ", ".join(WORKLOADS)
        raise WorkloadError(f"unknown workload {name!r}; known workloads: {known}") from None


def build(name: str, libc: str = GLIBC) -> Path:
    """Compile workload ``name`` against ``libc`` unless cached; return the executable's path."""
    workload = lookup(name)
    toolchain = _toolchain(libc)
    if libc not in workload.libcs:
        supported = ", ".join(workload.libcs)
        raise WorkloadError(
            f"workload {name!r} does not build with {libc}; it supports: {supported}"
        )
    compiler = shutil.which(toolchain.compiler)
    if compiler is None:
        raise WorkloadError(f"{toolchain.compiler} not found: {toolchain.install_hint}")

    source = SOURCE_DIR / workload.source
    try:
        source_bytes = source.read_bytes()
    except OSError as exc:
        raise WorkloadError(f"cannot read the source of {name!r}: {exc}") from None
    return _cached(name, libc, compiler, source, source_bytes, _flags(workload, toolchain),
                   workload.libs)


def build_source(source: str | os.PathLike[str], libc: str = GLIBC) -> Path:
    """Compile one C file that is no catalog workload (a lab's guest, written by a
    student) with the same toolchain, flags and cache as the workloads; return the
    executable's path. The headers beside it (``*.h``, which it may include) are part
    of what decides the binary. A compile error is a :class:`WorkloadError` quoting the
    compiler."""
    path = Path(source)
    toolchain = _toolchain(libc)
    compiler = shutil.which(toolchain.compiler)
    if compiler is None:
        raise WorkloadError(f"{toolchain.compiler} not found: {toolchain.install_hint}")
    try:
        source_bytes = path.read_bytes()
        for header in sorted(path.parent.glob("*.h")):
            source_bytes += b"\0" + header.name.encode() + b"\0" + header.read_bytes()
    except OSError as exc:
        raise WorkloadError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _cached(path.stem, libc, compiler, path, source_bytes,
                   [*toolchain.link_flags, *COMMON_FLAGS], ())


def _cached(name: str, libc: str, compiler: str, source: Path, source_bytes: bytes,
            flags: list[str], libs: tuple[str, ...]) -> Path:
    """The cached build of ``source``, compiled first when its digest is new."""
    toolchain_name = Path(compiler).name
    digest = _digest(source_bytes, toolchain_name, [*flags, *libs],
                     _compiler_version(compiler))
    target = cache_dir() / f"{name}-{libc}-{digest}"
    if target.is_file():
        return target

    # Unique per build, not created in advance: the linker makes it with the usual mode.
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(TEMP_TOKEN_BYTES)}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _compile([compiler, *flags, "-o", str(temporary), str(source), *libs], name, libc)
        os.replace(temporary, target)
    except OSError as exc:
        raise WorkloadError(f"cannot write to the workload cache {target.parent}: {exc}") from None
    finally:
        with contextlib.suppress(OSError):  # already moved into place, or never made
            temporary.unlink()
    return target


def resolve(spec: str) -> Path:
    """Build and return the workload named ``@name`` or ``@name:libc`` (default libc: glibc)."""
    if not spec.startswith(SPEC_PREFIX):
        raise WorkloadError(
            f"{spec!r} is not a workload spec: write {SPEC_PREFIX}name or {SPEC_PREFIX}name:libc"
        )
    name, separator, libc = spec[len(SPEC_PREFIX) :].partition(SPEC_LIBC_SEPARATOR)
    return build(name, libc if separator else GLIBC)


def _toolchain(libc: str) -> Toolchain:
    try:
        return TOOLCHAINS[libc]
    except KeyError:
        known = ", ".join(TOOLCHAINS)
        raise WorkloadError(f"unknown libc variant {libc!r}; known variants: {known}") from None


def _flags(workload: Workload, toolchain: Toolchain) -> list[str]:
    flags = [*toolchain.link_flags, *COMMON_FLAGS, *workload.cflags]
    if workload.freestanding:
        flags.append(FREESTANDING_FLAG)
    return flags


def _digest(source: bytes, compiler: str, flags: list[str], version: str) -> str:
    """Hash of what decides the binary; the compiler by name so the key survives a PATH change."""
    h = hashlib.sha256()
    for part in (source, "\0".join([compiler, *flags]).encode(), version.encode()):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:HASH_DIGITS]


@functools.cache
def _compiler_version(compiler: str) -> str:
    """``compiler --version`` output (once per process and compiler path)."""
    result = _run([compiler, "--version"], f"{compiler} --version")
    return result.stdout


def _compile(command: list[str], name: str, libc: str) -> None:
    _run(command, f"building {name!r} for {libc}")


def _run(command: list[str], what: str) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise WorkloadError(f"{what} took longer than {COMPILE_TIMEOUT_S:.0f} s") from None
    except OSError as exc:
        raise WorkloadError(f"{what} failed: {exc}") from None
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-STDERR_TAIL_LINES:])
        raise WorkloadError(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result
