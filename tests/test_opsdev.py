"""Tests of /dev/coffer/ops, the operation marks a workload writes, and what results makes of them.

* The device node is in every coffer's /dev, and the device alone (no Unicorn)
  records one ``(clock, label)`` per write, reads end of file and does not seek.
* A small C guest shows the same through real system calls: labels, EOF, ESPIPE,
  what fstat says.
* The ``metadata`` workload marks exactly one operation per iteration, at
  non-decreasing simulated times, and prints what it prints natively.
* :func:`cofferos.results.ops.throughput_and_latency` on synthetic marks whose
  percentiles are known.
"""

from __future__ import annotations

import doctest
import errno
import io
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import pytest

import cofferos.coffers.opsdev as opsdev
import cofferos.results.ops as results_ops
from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.fs import FileSystem, FsError
from cofferos.coffers.fs.defaults import COFFER_MAJOR, COFFER_OPS_MINOR
from cofferos.coffers.opsdev import DEFAULT_LABEL, MAX_LABEL_BYTES, OpsDeviceFile
from cofferos.results.ops import throughput_and_latency
from cofferos.workloads import build, compilers_available
from tests.support import Outcome, compile_guest, needs_gcc, run_in_coffer

OPS_PATH = "/dev/coffer/ops"
SMALL_N = 25


def run_keeping_coffer(program: str | Path, args: Sequence[str] = ()) -> tuple[Coffer, Outcome]:
    """Like :func:`tests.support.run_in_coffer`, but hand back the coffer for its stats."""
    out, err = io.BytesIO(), io.BytesIO()
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=out, stderr=err)
    coffer.spawn(str(program), [Path(program).name, *args], None)
    result = coffer.run()
    assert result.oopses == [], result.oopses[0]
    return coffer, Outcome(result.exit_code, out.getvalue(), err.getvalue(), result)


def _require(libc: str) -> None:
    if libc == "musl" and not compilers_available()["musl-gcc"]:
        pytest.skip("musl-gcc not installed")


# -- the device, without a CPU --------------------------------------------------------


def test_every_coffer_has_the_ops_device() -> None:
    fs = FileSystem()
    fs.populate_defaults()
    inode = fs.lookup(OPS_PATH, fs.root)
    assert inode.is_chr() and inode.mode & 0o777 == 0o666
    assert (os.major(inode.rdev), os.minor(inode.rdev)) == (COFFER_MAJOR, COFFER_OPS_MINOR)
    assert 240 <= COFFER_MAJOR <= 254  # Linux's local/experimental majors
    assert opsdev.is_ops_device(inode)
    assert not opsdev.is_ops_device(fs.lookup("/dev/null", fs.root))


def test_writes_record_time_and_label_reads_are_eof() -> None:
    fs = FileSystem()
    fs.populate_defaults()
    ticks = iter(range(100, 10_000, 100))
    ops: list[tuple[int, str]] = []
    device = OpsDeviceFile(fs.lookup(OPS_PATH, fs.root), os.O_RDWR, OPS_PATH,
                           lambda: next(ticks), ops)
    writes = [b"create\n", b"", b"  \n\t", b"stat", "r\u00e9name\n".encode(),
              b"x" * (MAX_LABEL_BYTES + 10)]
    assert [device.write(data) for data in writes] == [len(data) for data in writes]
    assert ops == [(100, "create"), (200, DEFAULT_LABEL), (300, DEFAULT_LABEL), (400, "stat"),
                   (500, "r\u00e9name"), (600, "x" * MAX_LABEL_BYTES)]
    assert device.read(4096) == b"" and device.read(0) == b""
    with pytest.raises(FsError) as info:
        device.seek(0, os.SEEK_SET)
    assert info.value.errno == errno.ESPIPE
    assert stat.S_ISCHR(device.stat().st_mode)


def test_docstring_examples() -> None:
    for module in (opsdev, results_ops):
        failures, tried = doctest.testmod(module)
        assert tried > 0 and failures == 0


# -- the device, through system calls -------------------------------------------------

OPS_GUEST = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static void mark(int fd, const char *label)
{
    size_t len = strlen(label);
    printf("write of %zu bytes -> %zd\n", len, write(fd, label, len));
}

int main(void)
{
    int fd = open("/dev/coffer/ops", O_RDWR);
    if (fd < 0) {
        printf("no ops device: %s\n", strerror(errno));
        return 1;
    }
    mark(fd, "create\n");
    mark(fd, "");
    mark(fd, " \n");
    mark(fd, "stat");
    char buf[16];
    printf("read -> %zd\n", read(fd, buf, sizeof buf));
    errno = 0;
    long where = (long)lseek(fd, 0, SEEK_SET);
    printf("lseek -> %ld %s\n", where, strerror(errno));
    struct stat st;
    fstat(fd, &st);
    printf("chr %d major %u minor %u\n", S_ISCHR(st.st_mode), major(st.st_rdev),
           minor(st.st_rdev));
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        mark(fd, "child\n");
        return 0;
    }
    waitpid(child, NULL, 0);
    return 0;
}
"""


@needs_gcc
def test_guest_marks_labelled_operations(tmp_path: Path) -> None:
    source = tmp_path / "opsmark.c"
    source.write_text(OPS_GUEST)
    coffer, outcome = run_keeping_coffer(compile_guest(source, tmp_path))
    assert outcome.status == 0, outcome.stdout
    assert outcome.stdout.decode().splitlines() == [
        "write of 7 bytes -> 7",
        "write of 0 bytes -> 0",
        "write of 2 bytes -> 2",
        "write of 4 bytes -> 4",
        "read -> 0",
        "lseek -> -1 Illegal seek",
        f"chr 1 major {COFFER_MAJOR} minor {COFFER_OPS_MINOR}",
        "write of 6 bytes -> 6",
    ]
    labels = [label for _, label in coffer.stats.ops]
    assert labels == ["create", DEFAULT_LABEL, DEFAULT_LABEL, "stat", "child"]
    times = [time for time, _ in coffer.stats.ops]
    assert times == sorted(times) and 0 < times[0]
    assert times[-1] <= outcome.result.simulated_ns  # type: ignore[union-attr]


# -- the metadata workload ------------------------------------------------------------


@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_metadata_marks_one_op_per_iteration(libc: str) -> None:
    _require(libc)
    coffer, outcome = run_keeping_coffer(build("metadata", libc), ["/tmp/shared", str(SMALL_N)])
    assert outcome.status == 0, outcome.stderr
    ops = coffer.stats.ops
    assert len(ops) == SMALL_N
    assert {label for _, label in ops} == {"op"}
    times = [time for time, _ in ops]
    assert all(a <= b for a, b in zip(times, times[1:], strict=False))
    end = outcome.result.simulated_ns  # type: ignore[union-attr]
    assert 0 < times[0] and times[-1] <= end
    summary = throughput_and_latency(ops, 0, end)
    assert summary["total"] == SMALL_N and summary["ops_per_second"] > 0
    assert summary["by_label"]["op"]["total"] == SMALL_N
    # Everything was unlinked; only the (empty) directories stay.
    leaf = coffer.fs.lookup("/tmp/shared/dir1/dir2", coffer.fs.root)
    assert leaf.is_dir() and list(leaf.entries()) == []


@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_metadata_matches_native(libc: str, native, tmp_path: Path) -> None:
    _require(libc)
    program = build("metadata", libc)
    native_run = native(program, [str(tmp_path / "shared"), str(SMALL_N)])
    coffer_run = run_in_coffer(program, ["/tmp/shared", str(SMALL_N)])
    assert native_run.status == 0, native_run.stderr
    assert coffer_run.stdout == native_run.stdout
    assert coffer_run.stderr == native_run.stderr
    assert coffer_run.status == native_run.status
    assert coffer_run.result is not None and not coffer_run.result.oopses
    assert native_run.stdout == (
        f"metadata: {SMALL_N} iterations of create/write/open/read/stat/unlink, "
        f"{64 * SMALL_N} bytes read back intact\n").encode()


def test_metadata_creates_a_missing_directory_tree_in_the_coffer() -> None:
    coffer, outcome = run_keeping_coffer(build("metadata"), ["/home/a/b", "3"])
    assert outcome.status == 0, outcome.stderr
    assert coffer.fs.lookup("/home/a/b/dir1/dir2", coffer.fs.root).is_dir()
    assert len(coffer.stats.ops) == 3


# -- throughput and latency -----------------------------------------------------------


def test_percentiles_of_known_latencies() -> None:
    # Operation i (1..100) ends i us after the one before it: latencies 1, 2, ... 100 us.
    ops, now = [], 0
    for i in range(1, 101):
        now += i * 1_000
        ops.append((now, "even" if i % 2 == 0 else "odd"))
    end = now
    summary = throughput_and_latency(ops, 0, end)
    assert summary["total"] == 100
    assert summary["seconds"] == pytest.approx(end / 1e9)
    assert summary["ops_per_second"] == pytest.approx(100 / (end / 1e9))
    assert summary["latency_us"]["p50"] == pytest.approx(50.5)
    assert summary["latency_us"]["p99"] == pytest.approx(99.01)
    odd, even = summary["by_label"]["odd"], summary["by_label"]["even"]
    assert odd["total"] == even["total"] == 50
    assert odd["latency_us"]["p50"] == pytest.approx(50.0)  # 1, 3, ... 99
    assert even["latency_us"]["p50"] == pytest.approx(51.0)  # 2, 4, ... 100
    assert even["latency_us"]["p99"] == pytest.approx(99.02)
    assert odd["ops_per_second"] == pytest.approx(50 / (end / 1e9))


def test_first_latency_counts_from_the_window_start_and_outsiders_are_dropped() -> None:
    ops = [(500, "warmup"), (2_000, "op"), (1_500, "op"), (9_000, "late")]
    summary = throughput_and_latency(ops, 1_000, 2_000)
    assert summary["total"] == 2 and set(summary["by_label"]) == {"op"}
    # In time order: 1500 (500 ns after the start), then 2000 (500 ns later).
    assert summary["latency_us"] == {"p50": 0.5, "p99": 0.5}
    assert summary["ops_per_second"] == pytest.approx(2 / 1e-6)


def test_no_operations_and_empty_windows() -> None:
    summary = throughput_and_latency([], 0, 1_000_000_000)
    assert summary["total"] == 0 and summary["ops_per_second"] == 0.0
    assert summary["latency_us"] == {"p50": None, "p99": None}
    assert summary["by_label"] == {}
    with pytest.raises(ValueError, match="empty measurement window"):
        throughput_and_latency([(1, "op")], 5, 5)
