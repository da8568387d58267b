"""Native code the simulator builds for itself: the engine's hot hooks.

Unicorn calls ``UC_HOOK_BLOCK`` once per executed basic block and
``UC_HOOK_TLB_FILL`` once per TLB miss, so those callbacks must be native code.
They are :file:`blockhook.c` (the instruction and cycle counter) and
:file:`tlbhook.c` (page protection from the block map), a few dozen lines each;
:file:`syscallhook.c` is the SYSCALL trap's native half (it reads the call's
registers and writes its result around the kernel's Python trap,
:mod:`cofferos.isa.syscalltrap`). They are
compiled on first use with the host's C compiler (``$CC``, else ``cc`` or
``gcc``) into one shared library kept in the user cache (``$COFFERSIM_CACHE/native`` or
``~/.cache/cofferos-sim/native``), exactly as the built-in workloads are. The file
name carries a hash of the source, the flags and the compiler's path, size and
modification time, so a changed source or an upgraded compiler gets a fresh
build and an unchanged one costs one ``stat`` and a ``dlopen`` (about 1 ms).

Before, the hook was a numba ``cfunc``: importing numba and loading its cached
code took about half a second of every command's start-up (issue #17). numba
remains the fallback when no C compiler is available (:mod:`.jit` and
:mod:`cofferos.isa.tlbhook`), and ``COFFERSIM_BLOCK_HOOK=numba`` selects it on
purpose (the tests compare the two).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import secrets
import shutil
import subprocess
from pathlib import Path

from cofferos.isa import layout

SOURCES = tuple(Path(__file__).with_name(name)
                for name in ("blockhook.c", "tlbhook.c", "syscallhook.c"))
HOOK_ENV = "COFFERSIM_BLOCK_HOOK"  #: "numba" forces the JIT fallback; "c" (default) the C build
CACHE_ENV = "COFFERSIM_CACHE"
COMPILE_TIMEOUT_S = 120.0
HASH_DIGITS = 16
CFLAGS = ("-O2", "-shared", "-fPIC", "-fno-strict-aliasing")

_loaded: dict[str, ctypes.CDLL] = {}  # kept alive for the process: Unicorn calls into it


class NativeBuildError(RuntimeError):
    """The C hook could not be built (no compiler, or it failed)."""


def cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV)
    base = Path(override).expanduser() if override else \
        Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "cofferos-sim"
    return base / "native"


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and (path := shutil.which(name)):
            return path
    return None


def _defines() -> list[str]:
    """The constants the hooks read, from the Python modules that own them: the block
    counter's and the SYSCALL trap's control-word layouts (unsigned), and the block
    map's TLB table and protection encoding with Unicorn's access and permission
    values (signed: a page's protection is -1 when unmapped)."""
    import unicorn

    from cofferos.isa import blockmap, syscalltrap

    tlb = {name: getattr(blockmap, name) for name in (
        "TLB_BLOCKS", "TLB_TABLE", "TLB_TOUCHED", "TLB_TOUCH_FN", "TLB_LOG", "TLB_LOG_CAP",
        "TLB_LOGGED", "TLB_CYCLES", "BLOCK_OFFSET_MASK",
        "PAGE_SHIFT", "PROT_NONE", "UNMAPPED", "TRAP_BIT")}
    tlb.update({name: getattr(unicorn, name) for name in (
        "UC_MEM_WRITE", "UC_MEM_FETCH", "UC_PROT_READ", "UC_PROT_WRITE", "UC_PROT_EXEC",
        "UC_PROT_ALL")})
    return ([f"-D{name}={value}u" for name, value in layout.C_CONSTANTS.items()]
            + [f"-D{name}={value}u" for name, value in syscalltrap.C_CONSTANTS.items()]
            + [f"-D{name}={value}" for name, value in tlb.items()])


def _library_path(compiler: str, flags: list[str]) -> Path:
    info = os.stat(compiler)
    h = hashlib.sha256()
    for part in (*(source.read_bytes() for source in SOURCES), "\0".join(flags).encode(),
                 f"{compiler}\0{info.st_size}\0{info.st_mtime_ns}".encode()):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return cache_dir() / f"hooks-{h.hexdigest()[:HASH_DIGITS]}.so"


def _build(compiler: str, flags: list[str], target: Path) -> None:
    # A unique temporary name moved into place: concurrent first runs never load half a file.
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([compiler, *flags, "-o", str(temporary),
                                 *(str(source) for source in SOURCES)],
                                capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S,
                                check=False)
        if result.returncode != 0:
            raise NativeBuildError(f"{compiler} failed on the hooks: "
                                   + (result.stderr.strip().splitlines() or ["?"])[-1])
        os.replace(temporary, target)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NativeBuildError(f"cannot build the hooks: {exc}") from None
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


def _c_hook(name: str) -> int:
    """The address of the C function ``name``, building the library if needed."""
    compiler = _compiler()
    if compiler is None:
        raise NativeBuildError("no C compiler (set CC, or install gcc)")
    flags = [*CFLAGS, *_defines()]
    target = _library_path(compiler, flags)
    key = str(target)
    if key not in _loaded:
        if not target.is_file():
            _build(compiler, flags, target)
        _loaded[key] = ctypes.CDLL(key)
    address = ctypes.cast(getattr(_loaded[key], name), ctypes.c_void_p).value
    assert address is not None
    return address


def c_block_hook() -> int:
    """The address of the C ``block_hook``, building the library if needed."""
    return _c_hook("block_hook")


def c_tlb_hook() -> int:
    """The address of the C ``tlb_fill_hook``, building the library if needed."""
    return _c_hook("tlb_fill_hook")


def c_tlb_track_hook() -> int | None:
    """The C ``tlb_fill_track_hook`` (first touches shown to the kernel), or None
    without a C build (the kernel then sees every miss through a Python callback)."""
    if os.environ.get(HOOK_ENV, "c") == "numba":
        return None
    try:
        return _c_hook("tlb_fill_track_hook")
    except NativeBuildError:
        return None


def c_syscall_hook() -> int:
    """The address of the C ``syscall_hook``, building the library if needed."""
    return _c_hook("syscall_hook")


#: The C block hook is the one in use (it passes slice boundaries: isa/boundaries.py).
C_BLOCK_HOOK_IN_USE = False


def block_hook_address() -> int:
    """The block hook Unicorn is given: the C build, else numba's (see the module doc)."""
    global C_BLOCK_HOOK_IN_USE  # noqa: PLW0603 - what the engines run, set once
    if os.environ.get(HOOK_ENV, "c") != "numba":
        try:
            address = c_block_hook()
        except NativeBuildError:
            pass
        else:
            C_BLOCK_HOOK_IN_USE = True
            return address
    from cofferos.isa.native.jit import block_hook  # noqa: PLC0415 - the slow import, on need

    return int(block_hook.address)


def tlb_hook_address() -> int:
    """The TLB-fill hook Unicorn is given: the C build, else numba's."""
    if os.environ.get(HOOK_ENV, "c") != "numba":
        try:
            return c_tlb_hook()
        except NativeBuildError:
            pass
    from cofferos.isa.tlbhook import tlb_fill_hook  # noqa: PLC0415 - the slow import

    return int(tlb_fill_hook.address)
