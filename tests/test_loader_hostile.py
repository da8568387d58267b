"""Hostile programs: every malformed file is refused in one line, or fails as on Linux.

The table of :mod:`tests.elf_variants` (50 files patched from one valid static ELF,
plus a FIFO, a directory, /dev/zero and huge sparse files) is run three ways:

* ``Coffer.spawn`` (what ``coffersim run`` does): a one-line :class:`ProgramError`,
  or, for the files Linux runs, a normal run: never a traceback or a hang;
* ``execve`` from a guest (a static probe that execve's each path and prints the
  errno or the signal) must give the table's answer, with no kernel oops;
* the same probe natively must give the table's ``linux`` column, so that every
  place where a coffer differs from Linux is one a person wrote down on purpose.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.errors import ProgramError
from tests.elf_variants import (
    EXECVE_PROBE_SOURCE,
    TINY_SOURCE,
    VARIANTS,
    build_static,
    build_variants,
)
from tests.support import needs_gcc

pytestmark = needs_gcc
BY_NAME = {v.name: v for v in VARIANTS}
CLI_TIMEOUT_S = 120
SPAWN_TIMEOUT_S = 60  #: a FIFO as the program once blocked spawn forever


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail, rather than hang, if the body takes longer than ``seconds``."""
    def expire(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
LARGE_SPARSE = 256 << 20  #: a runnable ELF followed by a hole: spawn must not read the hole


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Path]]:
    """(tiny program, execve probe, variant paths), in one directory a coffer imports."""
    root = tmp_path_factory.mktemp("hostile")
    try:
        tiny = build_static(TINY_SOURCE, root / "tiny", "-nostdlib")
        probe = build_static(EXECVE_PROBE_SOURCE, root / "probe")
    except subprocess.CalledProcessError as err:
        pytest.skip(f"cannot build static programs here: {err.stderr[-200:]!r}")
    return tiny, probe, build_variants(tiny.read_bytes(), root / "vars")


def _probe_report(stdout: bytes) -> dict[str, str]:
    lines = [line.split() for line in stdout.decode().splitlines()]
    return {Path(words[0]).name: words[1] for words in lines if len(words) == 2}


def test_the_table_is_large_and_covers_what_the_issue_lists() -> None:
    names = set(BY_NAME)
    assert len(VARIANTS) >= 40
    for wanted in ("bad-magic", "elf-class-32", "big-endian", "version-bad", "machine-arm",
                   "type-core", "phnum-zero", "phentsize-small", "phoff-past-eof",
                   "loads-overlap", "memsz-5gib", "load-at-zero", "filesz-over-memsz",
                   "offset-past-eof", "vaddr-offset-misaligned", "interp-missing",
                   "entry-outside-segments", "truncated-header", "zeros-huge-sparse",
                   "fifo", "directory", "dev-zero"):
        assert wanted in names


@pytest.mark.parametrize("name", [v.name for v in VARIANTS])
def test_spawn_refuses_in_one_line_or_runs(built: tuple[Path, Path, dict[str, Path]],
                                           name: str) -> None:
    variant, path = BY_NAME[name], built[2][name]
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(), stdout=out, stderr=io.BytesIO())
    if not variant.runs:
        with deadline(SPAWN_TIMEOUT_S), pytest.raises(ProgramError) as info:
            coffer.spawn(str(path), [name])
        message = str(info.value)
        assert message.startswith(str(path)) and "\n" not in message
        return
    with deadline(SPAWN_TIMEOUT_S):
        coffer.spawn(str(path), [name])
        result = coffer.run()
    assert not result.oopses
    kind, _, value = variant.expected.partition("=")
    if kind == "signal":
        assert result.exit_status.signal == int(value)
    else:
        assert not result.exit_status.signal and result.exit_status.code == int(value)


def test_execve_in_a_coffer_gives_linuxs_errno_or_signal(
        built: tuple[Path, Path, dict[str, Path]]) -> None:
    _tiny, probe, paths = built
    root = paths["valid"].parent.parent
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(rootfs=str(root)), stdout=out, stderr=io.BytesIO())
    with deadline(SPAWN_TIMEOUT_S):
        coffer.spawn(str(probe), ["probe", *(f"/vars/{v.name}" for v in VARIANTS)])
        result = coffer.run()
    assert result.exit_code == 0 and not result.oopses
    report = _probe_report(out.getvalue())
    assert report == {v.name: v.expected for v in VARIANTS}


def test_native_execve_gives_the_tables_linux_column(
        built: tuple[Path, Path, dict[str, Path]]) -> None:
    """Where a coffer differs from this, the table says so (``coffer=``) and why."""
    _tiny, probe, paths = built
    native = subprocess.run([str(probe), *(str(paths[v.name]) for v in VARIANTS)],
                            capture_output=True, timeout=CLI_TIMEOUT_S, check=True)
    assert _probe_report(native.stdout) == {v.name: v.linux for v in VARIANTS}


@pytest.mark.parametrize("name", ["fifo", "dev-zero", "elf-huge-sparse", "memsz-5gib"])
def test_coffersim_run_says_one_line_and_exits_2(built: tuple[Path, Path, dict[str, Path]],
                                                 name: str) -> None:
    """The FIFO used to hang forever, /dev/zero to read until MemoryError, a 5 GiB bss
    to end in an MmError traceback, a program over 1 GiB in an FsError one."""
    proc = subprocess.run([sys.executable, "-m", "cofferos", "run", "--", str(built[2][name])],
                          capture_output=True, timeout=CLI_TIMEOUT_S, check=False)
    stderr = proc.stderr.decode()
    assert proc.returncode == 2
    assert stderr.startswith("coffersim: error: ") and stderr.count("\n") == 1, stderr


def test_a_large_sparse_program_is_not_read_whole(
        built: tuple[Path, Path, dict[str, Path]], tmp_path: Path) -> None:
    """A valid program followed by a 256 MiB hole runs, and the host's peak memory
    stays far below the file's size: only the headers and the segments are read."""
    big = tmp_path / "big"
    with big.open("wb") as f:
        f.write(built[0].read_bytes())
        f.truncate(LARGE_SPARSE)
    os.chmod(big, 0o755)
    script = (
        "import io, resource, sys\n"
        "from cofferos.coffers.coffer import Coffer\n"
        "c = Coffer(stdout=io.BytesIO())\n"
        "c.spawn(sys.argv[1], ['big'])\n"
        "r = c.run()\n"
        "print(r.exit_code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    baseline = subprocess.run([sys.executable, "-c", script, str(built[0])],
                              capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=True)
    proc = subprocess.run([sys.executable, "-c", script, str(big)], capture_output=True,
                          text=True, timeout=CLI_TIMEOUT_S, check=True)
    status, peak_kib = map(int, proc.stdout.split())
    _, base_kib = map(int, baseline.stdout.split())
    assert status == 0
    assert (peak_kib - base_kib) * 1024 < LARGE_SPARSE // 4
