"""The per-block counter's native hook: the C build and its numba fallback.

The hook is built from ``isa/native/blockhook.c`` on first use and cached; numba's
compilation of the same function is used only without a C compiler (or when
``COFFERSIM_BLOCK_HOOK=numba`` asks for it). Both must count every guest
instruction and cycle identically, and a plain ``coffersim run`` must not import
numba at all: that import was half of every command's start-up (issue #17).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cofferos.isa import native
from tests.support import needs_gcc

RUN = [sys.executable, "-m", "cofferos", "run", "--stats", "-", "--"]


def _counts(program: list[str], hook: str) -> tuple[int, int, bytes]:
    env = {**os.environ, native.HOOK_ENV: hook}
    done = subprocess.run([*RUN, *program], capture_output=True, env=env, check=True,
                          cwd="/tmp")
    text = done.stdout.decode()
    record = json.loads(text[text.index("{\n"):])
    return record["instructions"], record["user_cycles"], done.stdout[:text.index("{\n")]


@needs_gcc
@pytest.mark.parametrize("program", [["@compute", "20000"], ["@threads", "3", "50"]])
def test_the_c_hook_and_the_numba_hook_count_the_same(program: list[str]) -> None:
    c_insns, c_cycles, c_out = _counts(program, "c")
    jit_insns, jit_cycles, jit_out = _counts(program, "numba")
    assert c_insns > 100_000
    assert (c_insns, c_cycles, c_out) == (jit_insns, jit_cycles, jit_out)


@needs_gcc
def test_the_hook_is_built_once_then_loaded_from_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(native, "_loaded", {})
    first = native.c_block_hook()
    built = list((tmp_path / "native").glob("hooks-*.so"))
    assert len(built) == 1 and first
    stamp = built[0].stat().st_mtime_ns
    monkeypatch.setattr(native, "_loaded", {})
    assert native.c_block_hook() and native.c_tlb_hook()  # one library holds both hooks
    assert built[0].stat().st_mtime_ns == stamp  # loaded, not rebuilt
    assert not [p for p in (tmp_path / "native").iterdir() if p.name.endswith(".tmp")]


def test_without_a_compiler_the_numba_hook_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "_compiler", lambda: None)
    monkeypatch.delenv(native.HOOK_ENV, raising=False)
    from cofferos.isa.native.jit import block_hook

    assert native.block_hook_address() == block_hook.address


def test_a_broken_compiler_is_a_build_error_not_a_crash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "cc"
    fake.write_text("#!/bin/sh\necho 'cc: no such thing' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(native, "_loaded", {})
    monkeypatch.setattr(native, "_compiler", lambda: str(fake))
    with pytest.raises(native.NativeBuildError, match="no such thing"):
        native.c_block_hook()


@needs_gcc
def test_running_a_program_does_not_import_numba() -> None:
    probe = ("import sys; from cofferos.cli import main; code = main(['run', '--', '@hello']);"
             "print('numba' in sys.modules, code)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, cwd="/tmp")
    assert done.stdout.splitlines()[-1] == "False 0"


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="no /usr/bin/python3")
def test_counts_do_not_depend_on_the_translation_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """A translation cache small enough to be flushed again and again (python3 starting
    fills 1 MiB many times over, and TCG retranslates every block) gives the same
    instructions, cycles and output as the default one."""
    import io

    from cofferos.api import run_program
    from cofferos.coffers.config import CofferConfig
    from cofferos.isa import cpu

    def run() -> tuple[int, int, bytes]:
        out = io.BytesIO()
        result = run_program("/usr/bin/python3", ["-c", "print(sum(range(1000)))"],
                             config=CofferConfig(rootfs="/"), stdout=out)
        return result.instructions, result.user_cycles, out.getvalue()

    default = run()
    monkeypatch.setattr(cpu, "TCG_BUFFER_BYTES", 1 << 20)
    assert run() == default
    assert default[2] == b"499500\n"
    engine = cpu.Cpu(cpu.BlockCoster(), on_syscall=lambda _cpu: None)
    assert engine.uc.ctl_get_tcg_buffer_size() == 1 << 20


def test_an_engine_keeps_a_bounded_translation_cache() -> None:
    from cofferos.isa import cpu

    engine = cpu.Cpu(cpu.BlockCoster(), on_syscall=lambda _cpu: None)
    assert engine.uc.ctl_get_tcg_buffer_size() == cpu.TCG_BUFFER_BYTES <= 64 << 20
