"""Host memory of sparse files on the timing machine (issue #13: fuzz seeds 5 and 6).

Since files became sparse (a 64 GiB file of holes holds nothing), a read of one may
ask for 2 GiB of bytes that are not there. The timing machine's lock trace named
the page reference of every page of the range before the call ran, and the lock
table kept one lock per page named, for the rest of the run: ``coffersim fuzz
--calls 100000 --seed 5`` peaked at 2,396 MiB (186 MiB before sparse files), each
of its three reads of 2 GiB of holes adding about 650 MiB for good. A read now names
only the pages that hold data (a hole is copied from no page, as shmem_file_read_iter
zeroes the buffer), and only as far as the user's buffer takes the copy.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from cofferos.coffers import locktrace
from cofferos.coffers.fs.filedata import SparseData
from tests.support import compile_guest, needs_gcc

GUEST = Path(__file__).parent / "hardening" / "hostmem.c"
PAGE = 4096
GIB = 1 << 30
#: The simulator's peak around ``hostmem sparseread`` on the timing machine: 65 MiB
#: measured; 1,249 MiB when each page of its 2 GiB reads was named.
PEAK_LIMIT_KIB = 400 * 1024
MEASURE = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


@needs_gcc
def test_reading_gigabytes_of_holes_on_the_timing_machine_takes_no_memory(
        tmp_path: Path) -> None:
    binary = compile_guest(GUEST, tmp_path)
    peak = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, "-m", "cofferos", "run",
         "--kernel", "cofferos", "--cores", "2", "--cwd", "/tmp", "--", str(binary),
         "sparseread"], capture_output=True, text=True, check=True).stdout
    assert int(peak) < PEAK_LIMIT_KIB


def _pages_named(data: SparseData, size: int, reach: int | None = None) -> list[int]:
    """The pages read(3, buf, ``size``) at offset 0 of a file holding ``data`` names,
    its buffer reachable for ``reach`` bytes (all of it if None)."""
    inode = SimpleNamespace(size=len(data), is_reg=lambda: True, data_after=data.data_after)
    file = SimpleNamespace(inode=inode, pos=0)
    memory_map = SimpleNamespace(
        reachable=lambda _address, n, writing: n if reach is None else min(n, reach))
    task = SimpleNamespace(files=SimpleNamespace(fds={3: SimpleNamespace(file=file)}),
                           cpu=SimpleNamespace(memory_map=memory_map))
    records = locktrace.CALL_RESOLVERS["read"](task, (0, 3, 0x1000, size))
    assert {cls for cls, _key in records} <= {locktrace.PAGE_REF}
    by_key = {locktrace._page_key(inode, page): page for page in range(GIB // PAGE + 1)}
    return [by_key[key] for _cls, key in records]  # type: ignore[index]


def _sparse_file() -> SparseData:
    """64 GiB of holes but for pages 3 and 4 and the page at 1 GiB."""
    data = SparseData()
    data.write(3 * PAGE + 5, b"x" * PAGE)
    data.write(GIB, b"y")
    data.resize(64 * GIB)
    return data


def test_a_read_names_only_the_pages_that_hold_data() -> None:
    assert _pages_named(_sparse_file(), 2 * GIB) == [3, 4, GIB // PAGE]
    whole = SparseData(b"z" * (3 * PAGE + 1))
    assert _pages_named(whole, 2 * GIB) == [0, 1, 2, 3]


def test_a_read_names_pages_only_as_far_as_the_buffer_takes_the_copy() -> None:
    data = _sparse_file()
    assert _pages_named(data, 2 * GIB, reach=3 * PAGE) == [3]  # the copy faults in page 3
    assert _pages_named(data, 2 * GIB, reach=4 * PAGE) == [3, 4]
    assert _pages_named(data, 2 * GIB, reach=0) == []  # it faults before any data
    whole = SparseData(b"z" * (8 * PAGE))
    assert _pages_named(whole, 8 * PAGE, reach=0) == [0]  # the page whose copy faults
    assert _pages_named(whole, 8 * PAGE, reach=PAGE) == [0, 1]


def test_truncating_or_punching_a_mapped_file_gives_its_charge_back_at_once() -> None:
    """A mapped file's pages are charged to the memory limit as they are touched; a
    truncation or a punched hole frees them and gives their charge back then, not when
    the last mapping goes (a coffer that truncated a mapped file once found its memory
    limit spent on pages that were gone). Bytes write(2) stored are the disk quota's."""
    from cofferos.coffers.mm import MemoryAccount
    from cofferos.coffers.shmem import FAULT_CHUNK, ShmemContents, ShmemObject

    account = MemoryAccount(64 * FAULT_CHUNK)
    shm = ShmemObject("file", 0, account, by_range=True)
    store = ShmemContents(shm, bytearray())
    store.resize(8 * FAULT_CHUNK)
    store[0:5] = b"hello"  # write(2): present, not charged
    assert shm.fault_in(3 * FAULT_CHUNK + 5) and account.used_bytes == FAULT_CHUNK
    assert not shm.holes(3 * FAULT_CHUNK, 4 * FAULT_CHUNK)
    del store[2 * FAULT_CHUNK + 7:]  # ftruncate
    assert account.used_bytes == 0
    store.resize(8 * FAULT_CHUNK)
    assert shm.holes(3 * FAULT_CHUNK, 4 * FAULT_CHUNK) == [(3 * FAULT_CHUNK, 4 * FAULT_CHUNK)]
    assert shm.fault_in(3 * FAULT_CHUNK) and account.used_bytes == FAULT_CHUNK  # again
    store.punch(3 * FAULT_CHUNK + PAGE, 4 * FAULT_CHUNK)  # all but the chunk's first page
    assert account.used_bytes == PAGE
    assert store[0:5] == b"hello" and store[3 * FAULT_CHUNK + PAGE:3 * FAULT_CHUNK + PAGE + 1] \
        == b"\0"
    del shm, store
    assert account.used_bytes == 0
