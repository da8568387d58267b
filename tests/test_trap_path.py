"""The system call trap's fast paths keep the semantics (issue #17).

The trap reads a call's registers and writes its result in C
(:mod:`cofferos.isa.syscalltrap`), with a ctypes trap where no C compiler is; the
kernel's small copies store straight into the guest's host memory
(:meth:`cofferos.isa.blockmap.BlockMap.user_view`), and read(2) and write(2) keep a
buffer's view between calls (:meth:`cofferos.isa.blockhost.HostAccess.kept_view`). A
guest whose code is replaced by read(2) must run the new code, one that takes signals
as calls return must find each call's result after its handler, and one whose buffers'
pages change between calls must meet each change, as natively; the two traps must
give a program the same results, signals included.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cofferos.coffers.coffer import PAGE_FAULT_EVENT, Coffer, CofferConfig
from cofferos.isa import cpu as cpu_module
from tests.support import assert_guest_matches_native, compile_guest, needs_gcc
from tests.test_syscalls_misc import GUESTS, run_coffer, run_native

BENCH_GUESTS = Path(__file__).parent.parent / "benchmarks" / "guests"
RW_PAIRS = "300"


@needs_gcc
@pytest.mark.parametrize("guest, expected", [
    ("recode", b"before 42, after 7\n"),
    # The result is left for the hook to write; a signal frame saves RAX before that.
    ("sigresult", b"kill: 0, handled 1\nwrite: 5, rt_sigprocmask: 0, handled 2\n"
                  b"kill + close(bad): -1 (errno EBADF), handled 3\n"),
])
def test_guest_runs_as_natively(guest: str, expected: bytes, tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / f"{guest}.c", tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    native_status, native_out = run_native(binary, workdir)
    status, out = run_coffer(binary)
    assert native_out == expected
    assert (status, out) == (native_status, native_out)


def _run(binary: Path, args: list[str]) -> tuple[object, ...]:
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(cwd="/tmp"), stdin=io.BytesIO(), stdout=out,
                    stderr=io.BytesIO())
    coffer.spawn(str(binary), [binary.name, *args], [])
    result = coffer.run()
    assert result.oopses == []
    return (result.exit_code, out.getvalue(), result.syscalls, result.instructions,
            result.kernel_cycles, result.simulated_ns)


def _records(binary: Path, args: list[str], plainly: bool) -> list[tuple[int, int, int]]:
    """(number, cycles at the call, kernel cycles) of every call and page fault a
    timing machine's recorder would get, the coffer run on its own with a recorder."""
    coffer = Coffer(CofferConfig(cwd="/tmp", page_faults=True), stdin=io.BytesIO(),
                    stdout=io.BytesIO(), stderr=io.BytesIO())
    coffer.spawn(str(binary), [binary.name, *args], [])
    records: list[tuple[object, int, int, int, tuple[object, ...]]] = []
    coffer.dispatcher.recorder = records
    coffer.dispatcher.record_plainly = plainly
    coffer.run()
    return [(nr, at, kernel) for _task, nr, at, kernel, _locks in records]


@needs_gcc
def test_each_call_is_recorded_at_the_same_cycles_by_every_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plain path records a call at the cycles the native trap copied before the
    kernel ran (or the ctypes trap read); _observed reads the counter after the call:
    the same figures, call for call. The page faults the C hook logged come before
    the call where it saw them (the native trap's second entry, or the ctypes trap's
    look at the log)."""
    binary = compile_guest(BENCH_GUESTS / "rwloop.c", tmp_path)
    plain = _records(binary, ["pipe", RW_PAIRS], plainly=True)
    assert len(plain) > int(RW_PAIRS) and len({at for _nr, at, _kernel in plain}) > 1
    assert any(nr == PAGE_FAULT_EVENT for nr, _at, _kernel in plain)
    assert _records(binary, ["pipe", RW_PAIRS], plainly=False) == plain
    monkeypatch.setattr(cpu_module, "native_hook", lambda: None)
    assert _records(binary, ["pipe", RW_PAIRS], plainly=True) == plain


@needs_gcc
@pytest.mark.parametrize("guest, args", [("rwloop", ["pipe", RW_PAIRS]),
                                         ("rwloop", ["file", RW_PAIRS]),
                                         ("resethand", []), ("async_pipe", [])])
def test_native_and_ctypes_traps_agree(guest: str, args: list[str], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    source = BENCH_GUESTS / "rwloop.c" if guest == "rwloop" else GUESTS / f"{guest}.c"
    binary = compile_guest(source, tmp_path)
    native = _run(binary, args)
    assert cpu_module.native_hook() is not None  # gcc is here: the C trap was built
    monkeypatch.setattr(cpu_module, "native_hook", lambda: None)
    assert _run(binary, args) == native


@needs_gcc
def test_a_kept_buffer_meets_each_change_of_its_pages(tmp_path: Path) -> None:
    """The buffers of earlier reads and writes made read-only, PROT_NONE, unmapped,
    mapped again and executable (``keptview.c``): each call after a change answers as
    natively (EFAULT, or the bytes of the new pages), and code read in runs."""
    assert_guest_matches_native(GUESTS / "keptview.c", tmp_path, succeeds=True)
