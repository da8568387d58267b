"""Tests of the remaining calls real programs need: file attributes, locks, FIFOs,
statfs/sysinfo/rusage, the scheduler's calls, credentials, prctl, sendfile,
copy_file_range and memfd_create.

As for the file families (``tests/test_syscalls_files.py``), small C guests
(``tests/syscalls_misc/*.c``) make each call, error paths included, and print
every result or errno name; each must print the same and exit the same in a
coffer as natively, run in a fresh empty directory. The guests print relations,
not values, where the host legitimately differs (sizes, times, CPU numbers,
filesystem types). ``locks.c`` is SQLite's pattern between two processes, and
``fifo.c`` a writer and a reader meeting at a FIFO.

A guest run only in the coffer checks what only the coffer can predict (its
memory limit in sysinfo and statfs, children's CPU time, the devices it has),
and direct unit tests pin down the lock ranges and the table's registrations.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from cofferos.coffers.coffer import CofferConfig
from cofferos.coffers.file_locks import (
    F_RDLCK,
    F_UNLCK,
    F_WRLCK,
    OFFSET_MAX,
    FileLock,
    FileLockContext,
)
from cofferos.coffers.syscalls.statfs import TMPFS_MAGIC
from cofferos.coffers.syscalls.table import default_table
from tests.support import (
    assert_guest_matches_native,
    compile_guest,
    needs_gcc,
    run_guest,
    run_guest_natively,
)

GUESTS = Path(__file__).parent / "syscalls_misc"

run_native = run_guest_natively


def run_coffer(binary: Path) -> tuple[int, bytes]:
    status, out, _ = run_guest(binary)
    return status, out


@needs_gcc
@pytest.mark.parametrize("guest", ["attr", "locks", "fifo", "info", "creds", "copy", "uaccess",
                                   "cpuclock", "vecio", "splice", "pidfd", "nproc",
                                   "dnotify"])
def test_guest_matches_native(guest: str, tmp_path: Path) -> None:
    if os.geteuid() != 0 and guest in ("attr", "creds", "nproc"):
        pytest.skip("the guest changes owners and ids: natively it needs root, as in a coffer")
    assert_guest_matches_native(GUESTS / f"{guest}.c", tmp_path)


@needs_gcc
def test_values_only_a_coffer_predicts(tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "coffer_only.c", tmp_path)
    status, out = run_coffer(binary)
    assert status == 0
    text = out.decode()

    def number(pattern: str, base: int = 10) -> int:
        found = re.search(pattern + r" ([0-9a-f]+)", text)
        assert found is not None, pattern
        return int(found.group(1), base)

    limit = CofferConfig().memory_limit
    assert number("f_type", 16) == TMPFS_MAGIC
    assert number("f_bsize") == 4096 and number("f_namelen") == 255
    assert number("f_blocks") == limit // 4096
    assert number("totalram") == limit and number("mem_unit") == 1
    assert number("procs") == 1
    assert number("children utime_us") > 0  # the reaped child's loop
    assert number("children utime_us \\d+ stime_us") > 0
    assert number("self utime_us") > 0
    assert "makedev(42, 42)) = -1 EPERM" in text  # no driver for it in a coffer
    assert "makedev(8, 0)) = -1 EPERM" in text  # no block devices


# -- the lock table, directly ---------------------------------------------------------------
def test_record_locks_split_merge_and_conflict() -> None:
    ctx = FileLockContext()
    me, other = object(), object()
    assert ctx.posix_set(FileLock(me, 1, F_WRLCK, 0, 99))
    assert ctx.posix_set(FileLock(me, 1, F_WRLCK, 100, 199))  # touching: merged
    assert [(k.start, k.end) for k in ctx.posix] == [(0, 199)]
    assert ctx.posix_set(FileLock(me, 1, F_UNLCK, 50, 59))  # a hole splits it
    assert [(k.start, k.end) for k in ctx.posix] == [(0, 49), (60, 199)]
    assert ctx.posix_test(FileLock(other, 2, F_RDLCK, 50, 59)) is None
    holder = ctx.posix_test(FileLock(other, 2, F_RDLCK, 55, OFFSET_MAX))
    assert holder is not None and (holder.start, holder.pid) == (60, 1)
    assert not ctx.posix_set(FileLock(other, 2, F_RDLCK, 0, 0))  # conflict changes nothing
    assert ctx.posix_set(FileLock(me, 1, F_RDLCK, 0, 199))  # downgrade in place
    assert ctx.posix_set(FileLock(other, 2, F_RDLCK, 0, 0))  # shared with shared
    ctx.posix_remove_owner(me)
    assert [(k.owner, k.start, k.end) for k in ctx.posix] == [(other, 0, 0)]


def test_flock_conversion_drops_the_old_lock_first() -> None:
    ctx = FileLockContext()
    a, b = object(), object()
    assert ctx.flock_set(FileLock(a, 1, F_RDLCK)) and ctx.flock_set(FileLock(b, 1, F_RDLCK))
    assert not ctx.flock_set(FileLock(a, 1, F_WRLCK))  # upgrade fails ...
    assert [k.owner for k in ctx.flocks] == [b]  # ... and a lost its shared lock
    ctx.remove_owner(b)
    assert ctx.flock_set(FileLock(a, 1, F_WRLCK))


def test_every_call_of_this_family_is_registered() -> None:
    implemented = set(default_table().implemented())
    wanted = """
    chmod fchmod fchmodat fchmodat2 chown fchown lchown fchownat utimensat utimes futimesat
    utime truncate ftruncate fsync fdatasync sync syncfs sync_file_range fallocate
    fadvise64 flock mknod mknodat statfs fstatfs sysinfo getrusage times
    sched_getaffinity sched_setaffinity sched_getscheduler sched_setscheduler
    sched_getparam sched_setparam sched_get_priority_max sched_get_priority_min
    sched_yield getpriority setpriority getcpu getgroups setgroups setuid setgid
    setreuid setregid setresuid setresgid getresuid getresgid setfsuid setfsgid prctl
    sendfile copy_file_range memfd_create
    """.split()
    assert [name for name in wanted if name not in implemented] == []
