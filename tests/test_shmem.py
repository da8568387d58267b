"""Shared memory between processes: MAP_SHARED across fork, tmpfs and /dev/shm files,
memfd, System V segments, shared and robust futexes, msync.

Each guest (``tests/shmem/*.c``, built static with glibc) must print the same and
exit the same in a coffer as natively, run in a fresh empty directory. Every one of
them printed something else before shared memory was shared: the children's stores
never reached their parent. Direct tests pin down what only the kernel sees: that
a shared page is charged to the memory limit once, whatever number of processes map
it, and that unmapping a shared page leaves zeros, not the object's bytes.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from tests.support import compile_guest, needs_gcc

GUESTS = Path(__file__).parent / "shmem"
RUN_TIMEOUT_S = 120
COFFER_CWD = "/tmp"


def run_native(binary: Path, workdir: Path) -> tuple[int, bytes]:
    result = subprocess.run([str(binary)], cwd=workdir, env={}, stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=RUN_TIMEOUT_S,
                            start_new_session=True, check=False)
    return result.returncode, result.stdout


def run_coffer(binary: Path, **config: object) -> tuple[int, bytes, Coffer]:
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(cwd=COFFER_CWD, **config), stdin=io.BytesIO(),  # type: ignore[arg-type]
                    stdout=out, stderr=io.BytesIO())
    coffer.spawn(str(binary), [binary.name], [])
    result = coffer.run()
    assert result.oopses == [], result.oopses[0]
    assert not result.deadlocked
    return result.exit_code, out.getvalue(), coffer


@needs_gcc
@pytest.mark.parametrize("guest", ["fork_mutex", "posix_shm", "sysv_shm", "file_map",
                                   "flag_wait", "futex_shared"])
def test_guest_matches_native(guest: str, tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / f"{guest}.c", tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    native_status, native_out = run_native(binary, workdir)
    status, out, _ = run_coffer(binary)
    assert out.decode() == native_out.decode()
    assert status == native_status
    assert list(workdir.iterdir()) == []  # the guest cleans up after itself
