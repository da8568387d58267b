"""Tests of the file system call families (read_write, open, d_path, stat, namei,
readdir, fcntl, ioctl).

The main tests compile small C guests (``tests/syscalls_files/*.c``) that make each
call, error paths included, and print every result or errno name; each guest must
print exactly the same in a coffer as natively (run in a fresh empty directory,
with no environment, no controlling terminal, stdin from /dev/null), and exit the
same way. The guests leave out what differs natively for legitimate reasons
(inode numbers, timestamps, the host's directory names, hash-ordered listings).

Direct unit tests pin down the encoders (``struct stat``, ``struct statx``,
``struct linux_dirent64``) and a few behaviours no native run can show (the
coffer's descriptor limit, the table's registrations).
"""

from __future__ import annotations

import errno
import io
import os
import stat
import struct
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.fs import FsError, StatResult
from cofferos.coffers.syscalls import readdir
from cofferos.coffers.syscalls.stat import STAT, STATX_BASIC_STATS, pack_stat, pack_statx
from cofferos.coffers.syscalls.table import default_table
from tests.support import GUEST_CWD, compile_guest, needs_gcc, run_guest, run_guest_natively

GUESTS = Path(__file__).parent / "syscalls_files"




run_native = run_guest_natively
run_coffer = run_guest


@needs_gcc
@pytest.mark.parametrize("guest", ["rw", "open", "stat", "namei", "readdir", "fcntl"])
def test_guest_matches_native(guest: str, tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / f"{guest}.c", tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    native_status, native_out = run_native(binary, workdir)
    status, out, _ = run_coffer(binary)
    assert out.decode().splitlines() == native_out.decode().splitlines()
    assert status == native_status == 0


@needs_gcc
def test_descriptor_limit_is_the_coffers(tmp_path: Path) -> None:
    source = tmp_path / "emfile.c"
    source.write_text(
        '#include "check.h"\n'
        "int main(void) {\n"
        "    int n = 0;\n"
        "    while (open(\"/dev/null\", O_RDONLY) >= 0) n++;\n"
        "    printf(\"opened %d then %s\\n\", n, strerrorname_np(errno));\n"
        "    T(open(\"created\", O_CREAT | O_WRONLY, 0644));\n"
        "    T(close(3));\n"
        "    T(access(\"created\", F_OK));\n"
        "    T(fcntl(0, F_DUPFD, 8));\n"
        "    T(dup2(0, 8));\n"
        "    return 0;\n"
        "}\n")
    binary = compile_guest(source, tmp_path)
    status, out, _ = run_coffer(binary, CofferConfig(cwd=GUEST_CWD, nofile_limit=8))
    assert status == 0
    assert out.decode().splitlines() == [
        "opened 5 then EMFILE",
        "open(\"created\", O_CREAT | O_WRONLY, 0644) = -1 EMFILE",
        "close(3) = 0",
        "access(\"created\", F_OK) = -1 ENOENT",
        "fcntl(0, F_DUPFD, 8) = -1 EINVAL",
        "dup2(0, 8) = -1 EBADF",
    ]


# -- encoders -------------------------------------------------------------------------

SAMPLE = StatResult(st_dev=0x0801, st_ino=1234, st_mode=stat.S_IFREG | 0o644, st_nlink=2,
                    st_uid=1000, st_gid=100, st_rdev=os.makedev(1, 3), st_size=10_000,
                    st_blksize=4096, st_blocks=24, st_atime_ns=1_700_000_000_123_456_789,
                    st_mtime_ns=-1, st_ctime_ns=5_000_000_000)


def test_struct_stat_layout() -> None:
    raw = pack_stat(SAMPLE)
    assert len(raw) == STAT.size == 144
    dev, ino, nlink, mode, uid, gid, pad, rdev, size, blksize, blocks = struct.unpack_from(
        "<QQQIIIiQqqq", raw)
    assert (dev, ino, nlink, mode, uid, gid, pad) == (0x0801, 1234, 2, 0o100644, 1000, 100, 0)
    assert (rdev, size, blksize, blocks) == (os.makedev(1, 3), 10_000, 4096, 24)
    times = struct.unpack_from("<6q", raw, 72)
    # -1 ns is one nanosecond before the epoch: second -1, 999999999 ns, as Linux stores it
    assert times == (1_700_000_000, 123_456_789, -1, 999_999_999, 5, 0)
    assert raw[120:] == bytes(24)


def test_struct_statx_layout() -> None:
    raw = pack_statx(SAMPLE)
    assert len(raw) == 256
    mask, blksize, attributes, nlink, uid, gid, mode = struct.unpack_from("<IIQIIIH", raw)
    assert (mask, blksize, attributes) == (STATX_BASIC_STATS, 4096, 0)
    assert (nlink, uid, gid, mode) == (2, 1000, 100, 0o100644)
    ino, size, blocks = struct.unpack_from("<QQQ", raw, 32)
    assert (ino, size, blocks) == (1234, 10_000, 24)
    stamps = [struct.unpack_from("<qIi", raw, 64 + 16 * i) for i in range(4)]
    assert stamps == [(1_700_000_000, 123_456_789, 0), (0, 0, 0), (5, 0, 0),
                      (-1, 999_999_999, 0)]  # atime, btime (not reported), ctime, mtime
    assert struct.unpack_from("<IIII", raw, 128) == (1, 3, 8, 1)
    assert raw[144:] == bytes(112)


def test_dirent64_layout() -> None:
    record = readdir.dirent64(7, 3, readdir.DT_REG, b"abcde")
    # 19-byte header + 5 + NUL = 25, padded to 32
    assert len(record) == 32
    assert struct.unpack_from("<QqHB", record) == (7, 3, 32, readdir.DT_REG)
    assert record[19:25] == b"abcde\0"
    assert record[25:] == bytes(7)
    assert len(readdir.dirent64(1, 1, readdir.DT_DIR, b".")) == 24
    assert len(readdir.dirent64(1, 1, readdir.DT_DIR, b"abcd")) == 24
    assert len(readdir.dirent64(1, 1, readdir.DT_DIR, b"abcde")) == 32


def test_d_type_of_every_kind() -> None:
    kinds = {stat.S_IFDIR: readdir.DT_DIR, stat.S_IFREG: readdir.DT_REG,
             stat.S_IFLNK: readdir.DT_LNK, stat.S_IFCHR: readdir.DT_CHR,
             stat.S_IFIFO: readdir.DT_FIFO, stat.S_IFSOCK: readdir.DT_SOCK,
             stat.S_IFBLK: readdir.DT_BLK}
    for mode, expected in kinds.items():
        assert readdir.d_type(mode | 0o644) == expected


def test_fill_dirents_resumes_and_refuses_tiny_buffers() -> None:
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=io.BytesIO(),
                    stderr=io.BytesIO())
    fs = coffer.fs
    etc = fs.lookup("/etc", fs.root)
    entries = readdir.listing(etc)
    assert [name for name, _ in entries[:2]] == [".", ".."]
    assert entries[1][1] is fs.root
    data, pos = readdir.fill_dirents(entries, 0, 48)
    assert pos == 2 and len(data) == 48
    data, pos = readdir.fill_dirents(entries, pos, 4096)
    assert pos == len(entries)
    with pytest.raises(FsError) as info:
        readdir.fill_dirents(entries, 0, 23)
    assert info.value.errno == errno.EINVAL
    assert readdir.fill_dirents(entries, len(entries), 4096) == (b"", len(entries))


def test_every_family_call_is_registered() -> None:
    names = set(default_table().implemented())
    expected = {
        "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek",
        "open", "openat", "creat", "close", "access", "faccessat", "faccessat2",
        "chdir", "fchdir", "getcwd", "umask",
        "stat", "lstat", "fstat", "newfstatat", "statx", "readlink", "readlinkat",
        "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat",
        "renameat2", "link", "linkat", "symlink", "symlinkat",
        "getdents64", "fcntl", "dup", "dup2", "dup3", "ioctl",
    }
    assert expected <= names
