"""Sparse, page-granular file data (coffers/fs/filedata.py), as tmpfs keeps it.

A file written far past its end, or punched, holds only the pages written: its
holes cost no host memory and no disk quota, ``st_blocks`` counts the pages held,
SEEK_DATA and SEEK_HOLE find the holes, and the quota still refuses (ENOSPC) what
would not fit. ``tests/shmem/sparse.c`` checks the same from a guest against its
native run.
"""

from __future__ import annotations

import errno
import os
import tracemalloc

import pytest

from cofferos.coffers.fs import FileSystem, FsError, Inode
from cofferos.coffers.fs.filedata import HOLE_MIN, PAGE_SIZE, SparseData
from cofferos.coffers.mm import MemoryAccount

GIB = 1 << 30
TIB = 1 << 40
SECTOR = 512


def make_file(fs: FileSystem, path: str) -> Inode:
    return fs.open(path, fs.root, os.O_CREAT | os.O_WRONLY, 0o644)


@pytest.fixture
def fs() -> FileSystem:
    filesystem = FileSystem()
    filesystem.populate_defaults()
    return filesystem


def test_a_byte_far_out_holds_one_page_of_memory_and_quota(fs: FileSystem) -> None:
    """Once a file was dense and 1 GiB was its limit (EFBIG): now a byte at 1 TiB is
    one page, charged one page, and the host's memory does not grow by the hole."""
    fs.sb.space = MemoryAccount(64 << 20)
    inode = make_file(fs, "/tmp/far")
    inode.write(0, b"head")
    tracemalloc.start()
    inode.write(TIB, b"x")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20
    st = inode.stat()
    assert st.st_size == TIB + 1
    assert st.st_blocks == 2 * PAGE_SIZE // SECTOR  # the head's page and the tail's
    assert fs.sb.space.used_bytes == 2 * PAGE_SIZE
    assert inode.read(TIB - 2, 4) == b"\0\0x"
    assert inode.read(0, 6) == b"head\0\0"


def test_the_quota_counts_written_pages_and_refuses_past_it(fs: FileSystem) -> None:
    fs.sb.space = MemoryAccount(4 * PAGE_SIZE)
    inode = make_file(fs, "/tmp/q")
    for gib in range(1, 5):
        inode.write(gib * GIB, b"y" * 10)  # four pages, far apart
    assert fs.sb.space.used_bytes == 4 * PAGE_SIZE
    with pytest.raises(FsError) as info:
        inode.write(5 * GIB, b"z")
    assert info.value.errno == errno.ENOSPC
    inode.write(4 * GIB + 100, b"same page")  # a held page costs nothing more
    assert fs.sb.space.used_bytes == 4 * PAGE_SIZE
    inode.truncate(2 * GIB + 1)  # two pages past the end go
    assert fs.sb.space.used_bytes == 2 * PAGE_SIZE
    assert inode.read(2 * GIB, 16) == b"y"


def test_punching_gives_whole_pages_back(fs: FileSystem) -> None:
    fs.sb.space = MemoryAccount(64 << 20)
    inode = make_file(fs, "/tmp/p")
    inode.write(0, b"a" * (2 * HOLE_MIN))
    assert fs.sb.space.used_bytes == 2 * HOLE_MIN
    inode.punch_hole(100, HOLE_MIN + 100)
    assert fs.sb.space.used_bytes == 2 * HOLE_MIN - HOLE_MIN + PAGE_SIZE
    assert inode.read(98, 4) == b"aa\0\0"
    assert inode.read(HOLE_MIN + 98, 4) == b"\0\0aa"
    assert inode.stat().st_size == 2 * HOLE_MIN


def test_data_after_finds_runs_of_pages() -> None:
    data = SparseData()
    data.write(3 * PAGE_SIZE + 5, b"x" * PAGE_SIZE)  # pages 3 and 4
    data.write(10 * PAGE_SIZE, b"y")
    assert data.data_after(0) == (3 * PAGE_SIZE, 5 * PAGE_SIZE)
    assert data.data_after(4 * PAGE_SIZE) == (4 * PAGE_SIZE, 5 * PAGE_SIZE)
    assert data.data_after(5 * PAGE_SIZE) == (10 * PAGE_SIZE, 10 * PAGE_SIZE + 1)
    assert data.data_after(11 * PAGE_SIZE) is None
    assert [(offset, len(run)) for offset, run in data.runs()] == [
        (3 * PAGE_SIZE, 2 * PAGE_SIZE), (10 * PAGE_SIZE, 1)]
    del data[3 * PAGE_SIZE + 10:]
    assert data.read(3 * PAGE_SIZE, 3 * PAGE_SIZE + 20) == bytes(5) + b"x" * 5 + bytes(10)
    assert list(data.pages) == [3]
