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
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from tests.support import (
    GUEST_CWD,
    GUEST_TIMEOUT_S,
    assert_guest_matches_native,
    compile_guest,
    needs_gcc,
    run_guest,
    run_guest_natively,
)

GUESTS = Path(__file__).parent / "shmem"
RUN_TIMEOUT_S = GUEST_TIMEOUT_S


def run_coffer(binary: Path, **config: object) -> tuple[int, bytes, Coffer]:
    return run_guest(binary, CofferConfig(cwd=GUEST_CWD, **config))  # type: ignore[arg-type]


@needs_gcc
@pytest.mark.parametrize("guest", ["fork_mutex", "posix_shm", "sysv_shm", "file_map",
                                   "flag_wait", "futex_shared", "cow_fork", "past_eof",
                                   "mmap_overflow", "private_map", "fork_mosaic"])
def test_guest_matches_native(guest: str, tmp_path: Path) -> None:
    assert_guest_matches_native(GUESTS / f"{guest}.c", tmp_path)


HOST_TMPFS = Path("/dev/shm")


@needs_gcc
def test_sparse_file_matches_native_tmpfs(tmp_path: Path) -> None:
    """``shmem/sparse.c`` (a 6 GiB sparse file, as test_mmap's LargeMmapTests make)
    against its native run on tmpfs, which a coffer's /tmp is: st_blocks and
    SEEK_DATA count a hole page touched through a shared mapping as data there,
    where ext4 does not."""
    if not HOST_TMPFS.is_dir() or not os.access(HOST_TMPFS, os.W_OK):
        pytest.skip("no writable /dev/shm to run the native reference on")
    binary = compile_guest(GUESTS / "sparse.c", tmp_path)
    with tempfile.TemporaryDirectory(dir=HOST_TMPFS) as workdir:
        native_status, native_out = run_guest_natively(binary, Path(workdir))
        assert os.listdir(workdir) == []
    status, out, _ = run_coffer(binary)
    assert out.decode() == native_out.decode()
    assert status == native_status == 0


SYSV_KEY_GUEST = r"""
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <sys/shm.h>
int main(void) {
    int first = shmget(0x0c0ffe25, 4096, IPC_CREAT | IPC_EXCL | 0600);
    int again = shmget(0x0c0ffe25, 4096, IPC_CREAT | IPC_EXCL | 0600);
    printf("%d %s\n", first >= 0, again < 0 ? strerrorname_np(errno) : "made twice");
    return 0;
}
"""


@needs_gcc
def test_sysv_keys_are_per_coffer(tmp_path: Path) -> None:
    """Two coffers each create the same key: each its own segment (no EEXIST across
    coffers); inside one coffer the key is taken."""
    source = tmp_path / "sysv_key.c"
    source.write_text(SYSV_KEY_GUEST)
    binary = compile_guest(source, tmp_path)
    first = run_coffer(binary)
    second = run_coffer(binary)
    assert first[1] == second[1] == b"1 EEXIST\n"
    assert first[2].shm_ids is not second[2].shm_ids


PAGE = 4096


def _two_spaces() -> tuple[Coffer, list]:
    """A coffer with room for 64 pages beside the two address spaces' own charges."""
    from cofferos.coffers.mm import ENGINE_BYTES

    coffer = Coffer(CofferConfig(memory_limit=64 * PAGE + 2 * ENGINE_BYTES),
                    stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=io.BytesIO())
    return coffer, [coffer.new_cpu()[1] for _ in range(2)]


def test_a_shared_object_is_one_set_of_pages_charged_once() -> None:
    from cofferos.coffers.mm import MemoryAccount
    from cofferos.coffers.shmem import ShmemObject

    coffer, (one, two) = _two_spaces()
    coffer.memory.pool = kernel = MemoryAccount(1 << 30)  # a shared kernel's RAM
    before = coffer.memory.used_bytes
    shm = ShmemObject("test", 8 * PAGE, coffer.memory)
    a = one.map_anywhere(8 * PAGE, 3, shm=shm)
    b = two.map_anywhere(8 * PAGE, 3, shm=shm)
    assert coffer.memory.used_bytes - before == 8 * PAGE  # once, not per mapping
    assert kernel.used_bytes == 8 * PAGE  # and once in the kernel domain's account
    one.pages.write(a + 5 * PAGE + 7, b"stored by one")
    assert two.pages.read(b + 5 * PAGE + 7, 13) == b"stored by one"
    # 50 private pages fit the 64-page limit beside the 8 shared ones only if the
    # shared pages are counted once (counted twice they would leave 48 pages).
    one.unmap(one.map_anywhere(50 * PAGE, 3), 50 * PAGE)
    one.unmap(a, 8 * PAGE)
    one.map_fixed(a, 8 * PAGE, 3)  # private memory again where the object was
    assert one.pages.read(a + 5 * PAGE + 7, 13) == bytes(13)
    assert two.pages.read(b + 5 * PAGE + 7, 13) == b"stored by one"
    two.unmap(b, 8 * PAGE)
    del shm
    assert coffer.memory.used_bytes - before == 8 * PAGE  # the object's charge is back


def test_shared_areas_survive_splitting_and_fork() -> None:
    from cofferos.coffers.shmem import ShmemObject

    coffer, (parent, child) = _two_spaces()
    shm = ShmemObject("test", 4 * PAGE, coffer.memory)
    start = parent.map_anywhere(4 * PAGE, 3, shm=shm)
    parent.protect(start + PAGE, PAGE, 1)  # three areas, one object, three offsets
    assert [(v.shm is shm, v.offset) for v in parent.vmas] == [
        (True, 0), (True, PAGE), (True, 2 * PAGE)]
    parent.copy_into(child)
    child.pages.write(start + 3 * PAGE, b"child")
    assert parent.pages.read(start + 3 * PAGE, 5) == b"child"
    assert all(v.shared for v in child.vmas)


def test_mremap_moves_a_shared_area_with_its_object() -> None:
    from cofferos.coffers.shmem import ShmemObject

    coffer, (one, two) = _two_spaces()
    shm = ShmemObject("test", 2 * PAGE, coffer.memory)
    a = one.map_anywhere(2 * PAGE, 3, shm=shm)
    b = two.map_anywhere(2 * PAGE, 3, shm=shm)
    moved = one.move(a, 2 * PAGE, 3 * PAGE, True, None)  # grows: the object grows too
    two.pages.write(b + PAGE, b"after the move")
    assert one.pages.read(moved + PAGE, 14) == b"after the move"
    one.pages.write(moved + 2 * PAGE, b"third page")
    assert shm.read(2 * PAGE, 10) == b"third page"


def test_guest_memory_files_raise_a_low_open_file_limit() -> None:
    """Every guest block holds a host memory file open: with a soft limit of 64 open
    files, making 100 must raise the limit to the hard one, not fail."""
    import resource
    import sys

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 200:
        pytest.skip("the hard limit on open files is too low to try")
    script = ("import resource\n"
              "from cofferos.isa.cowmem import SnapshotFile\n"
              "_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
              "resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))\n"
              "files = [SnapshotFile(1 << 20) for _ in range(100)]\n"
              "print(len(files))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=RUN_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "100\n"


@needs_gcc
def test_exec_walks_the_robust_list(tmp_path: Path) -> None:
    """A process execs while holding a robust process-shared mutex: its waiter gets
    EOWNERDEAD, natively and in a coffer (where the program is at /robust_exec)."""
    root = tmp_path / "root"
    root.mkdir()
    binary = compile_guest(GUESTS / "robust_exec.c", root)
    native = subprocess.run([str(binary), str(binary)], env={}, stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=RUN_TIMEOUT_S, check=False)
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(rootfs=str(root), cwd="/"), stdin=io.BytesIO(), stdout=out,
                    stderr=io.BytesIO())
    coffer.spawn(str(binary), [binary.name, "/robust_exec"], [])
    result = coffer.run()
    assert result.oopses == [] and not result.deadlocked
    assert native.stdout == b"lock after the owner's exec: EOWNERDEAD\nexec'd program exited 0\n"
    assert out.getvalue() == native.stdout
    assert result.exit_code == native.returncode == 0
