"""Shared fixtures: run a program in a coffer, and the same binary natively.

The simulator's reference is reality: tests run a static binary natively
(``native``) and in a coffer (``in_coffer``) and compare what they print and how
they exit.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig, RunResult

NATIVE_TIMEOUT_S = 60
CLEAN_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/root"}


@dataclass
class Outcome:
    status: int  # the shell's view: exit code, or 128 + signal
    stdout: bytes
    stderr: bytes
    result: RunResult | None = None


def run_in_coffer(path: str | Path, args: Sequence[str] = (), *, stdin: bytes = b"",
                  argv0: str | None = None, **config: object) -> Outcome:
    out, err = io.BytesIO(), io.BytesIO()
    coffer = Coffer(CofferConfig(**config), stdin=io.BytesIO(stdin),  # type: ignore[arg-type]
                    stdout=out, stderr=err)
    coffer.spawn(str(path), [argv0 or Path(path).name, *args], None)
    result = coffer.run()
    return Outcome(result.exit_code, out.getvalue(), err.getvalue(), result)


def run_native(path: str | Path, args: Sequence[str] = (), *, stdin: bytes = b"",
               cwd: str | Path | None = None, argv0: str | None = None) -> Outcome:
    proc = subprocess.run([argv0 or Path(path).name, *args], executable=str(path), input=stdin,
                          capture_output=True, cwd=cwd, env=CLEAN_ENV, timeout=NATIVE_TIMEOUT_S)
    status = 128 - proc.returncode if proc.returncode < 0 else proc.returncode
    return Outcome(status, proc.stdout, proc.stderr)


@pytest.fixture
def native(tmp_path: Path) -> Callable[..., Outcome]:
    """Run natively in a fresh empty directory (the coffer's cwd is an empty /)."""
    def run(path: str | Path, args: Sequence[str] = (), **kw: object) -> Outcome:
        workdir = tmp_path / "native-cwd"
        workdir.mkdir(exist_ok=True)
        return run_native(path, args, cwd=workdir, **kw)  # type: ignore[arg-type]
    return run


@pytest.fixture
def in_coffer() -> Callable[..., Outcome]:
    return run_in_coffer


def needs(tool: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(shutil.which(tool) is None, reason=f"{tool} not installed")


#: Where check.h lives: the T() printer the C guests of the syscall tests share.
GUEST_INCLUDE = Path(__file__).parent / "syscalls_files"

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
needs_musl = pytest.mark.skipif(shutil.which("musl-gcc") is None,
                                reason="musl-gcc is not installed (apt-get install musl-tools)")


def compile_guest(source: Path, out_dir: Path, libs: Sequence[str] = ()) -> Path:
    """``gcc -static -O1`` one C guest (which may include ``check.h``) into ``out_dir``,
    linked with ``libs`` (``-lm``) too."""
    binary = out_dir / source.stem
    result = subprocess.run(
        ["gcc", "-static", "-O1", "-Wall", "-I", str(GUEST_INCLUDE), "-o", str(binary),
         str(source), *libs], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        if "cannot find -lc" in result.stderr:
            pytest.skip("no static libc to link with")
        raise AssertionError(f"gcc failed:\n{result.stderr}")
    return binary


#: How long one of the syscall tests' C guests may run, natively or in a coffer.
GUEST_TIMEOUT_S = 120
#: The coffer directory the guests run in: empty at boot, like the native temp dir.
GUEST_CWD = "/tmp"


def run_guest_natively(binary: Path, workdir: Path) -> tuple[int, bytes]:
    """Run a C guest natively in ``workdir``, with an empty environment and no terminal."""
    result = subprocess.run([str(binary)], cwd=workdir, env={}, stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=GUEST_TIMEOUT_S,
                            start_new_session=True, check=False)
    return result.returncode, result.stdout


def run_guest(binary: Path, config: CofferConfig | None = None) -> tuple[int, bytes, Coffer]:
    """Run a C guest in a fresh coffer (in :data:`GUEST_CWD` unless ``config`` says
    otherwise); the kernel model must neither oops nor deadlock."""
    out = io.BytesIO()
    coffer = Coffer(config or CofferConfig(cwd=GUEST_CWD), stdin=io.BytesIO(), stdout=out,
                    stderr=io.BytesIO())
    coffer.spawn(str(binary), [binary.name], [])
    result = coffer.run()
    assert result.oopses == [], result.oopses[0]
    assert not result.deadlocked
    return result.exit_code, out.getvalue(), coffer


def assert_guest_matches_native(source: Path, tmp_path: Path, *, cleans_up: bool = True,
                                succeeds: bool = False) -> None:
    """Build ``source``, run it natively in an empty directory and in a coffer, and
    require the same output and exit status; ``cleans_up``: the guest leaves its
    directory empty; ``succeeds``: both runs exit 0."""
    binary = compile_guest(source, tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    native_status, native_out = run_guest_natively(binary, workdir)
    status, out, _ = run_guest(binary)
    assert out.decode() == native_out.decode()
    assert status == native_status
    if succeeds:
        assert status == 0
    if cleans_up:
        assert list(workdir.iterdir()) == []
