"""Hostile interpreters: each malformed program of :mod:`tests.elf_variants` as a PT_INTERP.

A dynamically linked program's interpreter is a second ELF the kernel loads, so
every hostile file of the table is tried in that place too: a small program whose
``PT_INTERP`` names the variant is ``execve``'d by the static probe, natively and
in a coffer whose root is the host's (``--rootfs /``, so both see the same paths).
The coffer must give Linux's errno or signal, or the deliberate difference written
in :data:`INTERP_DEVIATIONS`, and never an oops; checks that Linux makes before the
point of no return give an errno (the probe's child lives to report it), the rest
a SIGSEGV. The program itself is linked away from 0x400000, where the variants
(ET_EXEC) load, so that only the interpreter is under test.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.isa.elf import PT_NOTE
from tests.elf_variants import (
    EXECVE_PROBE_SOURCE,
    SEGV,
    TINY_SOURCE,
    VARIANTS,
    Elf,
    build_static,
    build_variants,
)
from tests.support import needs_gcc

pytestmark = needs_gcc
PT_INTERP = 3
#: Where the program that asks for each interpreter is linked: clear of the variants.
PROGRAM_TEXT_SEGMENT = "0x20000000"
NATIVE_TIMEOUT_S = 120
#: Where a coffer deliberately answers otherwise than Linux, by variant name: the same
#: differences as for a program (tests/elf_variants.py says why), with ELIBBAD where
#: the program's table says ENOEXEC, as execve says of a bad interpreter.
INTERP_DEVIATIONS = {v.name: v.coffer.replace("ENOEXEC", "ELIBBAD")
                     for v in VARIANTS if v.coffer is not None}


def _with_interp(program: bytes, interp: str) -> bytes:
    """``program`` with its PT_NOTE turned into a PT_INTERP naming ``interp``."""
    name = interp.encode() + b"\0"
    elf = Elf(program + name)
    note = elf.of_type(PT_NOTE)
    note[0], note[2], note[5], note[6] = PT_INTERP, len(program), len(name), len(name)
    return elf.build()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """(the execve probe, by variant name: a program whose interpreter is that variant)."""
    root = tmp_path_factory.mktemp("hostile-interp")
    try:
        tiny = build_static(TINY_SOURCE, root / "tiny", "-nostdlib")
        program = build_static(TINY_SOURCE, root / "program", "-nostdlib",
                               f"-Wl,-Ttext-segment={PROGRAM_TEXT_SEGMENT}")
        probe = build_static(EXECVE_PROBE_SOURCE, root / "probe")
    except subprocess.CalledProcessError as err:
        pytest.skip(f"cannot build static programs here: {err.stderr[-200:]!r}")
    interps = build_variants(tiny.read_bytes(), root / "interps")
    programs = root / "programs"
    programs.mkdir()
    paths = {}
    for name, interp in interps.items():
        path = programs / name
        path.write_bytes(_with_interp(program.read_bytes(), str(interp)))
        path.chmod(0o755)
        paths[name] = path
    return probe, paths


def _report(stdout: bytes) -> dict[str, str]:
    lines = [line.split() for line in stdout.decode().splitlines()]
    return {Path(words[0]).name: words[1] for words in lines if len(words) == 2}


def test_hostile_interpreters_give_linuxs_errno_or_signal(
        built: tuple[Path, dict[str, Path]]) -> None:
    probe, paths = built
    names = [v.name for v in VARIANTS]
    argv = [str(paths[name]) for name in names]
    native = _report(subprocess.run([str(probe), *argv], capture_output=True, check=True,
                                    timeout=NATIVE_TIMEOUT_S).stdout)
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(rootfs="/"), stdin=io.BytesIO(), stdout=out,
                    stderr=io.BytesIO())
    coffer.spawn(str(probe), [str(probe), *argv])
    result = coffer.run()
    assert result.exit_code == 0 and not result.oopses
    in_coffer = _report(out.getvalue())
    expected = {name: INTERP_DEVIATIONS.get(name, native[name]) for name in names}
    assert in_coffer == expected
    assert SEGV in in_coffer.values()

