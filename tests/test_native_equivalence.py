"""Real programs in a coffer behave exactly as natively: same output, same status.

Each test runs one static binary twice, on the host and in a coffer, with the
same arguments, an empty working directory and a clean environment, and
compares stdout, stderr and the exit status byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cofferos.workloads import build, compilers_available
from tests.support import Outcome, run_in_coffer

BUSYBOX = Path("/bin/busybox")
WORKLOAD_CASES = [
    ("hello", ()),
    ("hello", ("a", "b", "c")),
    ("compute", ("100000",)),
    ("nullsys", ("1000",)),
    ("fileio", ("32",)),
    ("memtouch", ("8",)),
    ("exitcode", ("42",)),
    ("segv", ()),
]
LIBCS = ["glibc", "glibc-pie", "musl"]


def _same(native: Outcome, coffer: Outcome) -> None:
    assert coffer.stdout == native.stdout
    assert coffer.stderr == native.stderr
    assert coffer.status == native.status
    assert coffer.result is not None and not coffer.result.oopses


@pytest.mark.parametrize("libc", LIBCS)
@pytest.mark.parametrize(("name", "args"), WORKLOAD_CASES)
def test_workload_matches_native(name: str, args: tuple[str, ...], libc: str, native) -> None:
    if libc == "musl" and not compilers_available()["musl-gcc"]:
        pytest.skip("musl-gcc not installed")
    program = build(name, libc)
    _same(native(program, args), run_in_coffer(program, args))


BUSYBOX_CASES = [
    (("echo", "hello", "world"), b""),
    (("printf", "%s-%d\\n", "x", "42"), b""),
    (("wc", "-l"), b"one\ntwo\nthree\n"),
    (("sort", "-r"), b"b\na\nc\n"),
    (("uniq", "-c"), b"a\na\nb\n"),
    (("tr", "a-z", "A-Z"), b"shout\n"),
    (("cut", "-d:", "-f2"), b"a:b:c\n1:2:3\n"),
    (("md5sum",), b"the quick brown fox\n"),
    (("seq", "3", "9"), b""),
    (("head", "-n", "2"), b"1\n2\n3\n"),
    (("tail", "-n", "1"), b"1\n2\n3\n"),
    (("awk", "{ s += $1 } END { print s }"), b"1\n2\n3\n"),
    (("sed", "s/cat/dog/"), b"a cat\n"),
    (("grep", "-n", "b"), b"abc\nxyz\nbbb\n"),
    (("false",), b""),
    (("ls", "/nonexistent"), b""),
    (("basename", "/a/b/c.txt", ".txt"), b""),
    (("expr", "6", "*", "7"), b""),
]


@pytest.mark.skipif(not BUSYBOX.exists(), reason="busybox-static not installed")
@pytest.mark.parametrize(("argv", "stdin"), BUSYBOX_CASES, ids=lambda v: str(v)[:30])
def test_busybox_applet_matches_native(argv: tuple[str, ...], stdin: bytes, native) -> None:
    args = argv[1:]
    native_run = native(BUSYBOX, args, stdin=stdin, argv0=argv[0])
    coffer_run = run_in_coffer(BUSYBOX, args, stdin=stdin, argv0=argv[0])
    _same(native_run, coffer_run)


#: storm.c's loops that the isolation experiments run, with the file they read.
STORM_CASES = [("reap", "50", ()), ("memory", "20", ()),
               ("reread", "30", ("hot.bin",)), ("pagecache", "30", ("stream.bin",))]
STORM_FILE_PAGES = 32


@pytest.mark.parametrize(("kind", "count", "file"), STORM_CASES, ids=[c[0] for c in STORM_CASES])
def test_storm_loops_match_native(kind: str, count: str, file: tuple[str, ...],
                                  tmp_path: Path) -> None:
    """The noisy neighbours' new loops behave as natively: the same iterations, none
    failed, and the same status, reading a file both runs see at their cwd."""
    from tests.support import run_native

    image = tmp_path / "image"
    (image / "tmp" / "shared" / "dir1" / "dir2").mkdir(parents=True)
    for name in ("hot.bin", "stream.bin"):
        (image / name).write_bytes(bytes(i % 251 for i in range(STORM_FILE_PAGES * 4096)))
    program = build("storm")
    args = (kind, count, *file)
    native = run_native(program, args, cwd=image)
    coffer = run_in_coffer(program, args, rootfs=str(image))
    assert native.status == 0 and b"0 failed" in native.stdout, native.stdout
    _same(native, coffer)
