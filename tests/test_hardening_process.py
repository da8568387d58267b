"""Exit signals that cannot stop init (issue #13, item 5).

``hardening/orphans.c`` runs as the coffer's init (natively, as a child
subreaper, so orphans come to it in both runs). An orphan whose exit signal was
SIGTSTP is reparented with SIGCHLD (kernel/exit.c, ``reparent_leader``), and a
CLONE_PARENT child signals with its creator's own exit signal, not the one its
creator chose (kernel/fork.c, ``copy_process``); so init gets SIGCHLD, never
SIGTSTP. Init itself may not clone with CLONE_PARENT (EINVAL).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import compile_guest, needs_gcc, run_in_coffer, run_native

GUESTS = Path(__file__).parent / "hardening"


@pytest.fixture(scope="module")
def orphans(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_guest(GUESTS / "orphans.c", tmp_path_factory.mktemp("orphans"))


@needs_gcc
@pytest.mark.parametrize("mode", ["reparent", "parent"])
def test_init_gets_sigchld_not_the_signal_a_descendant_chose(orphans: Path, mode: str,
                                                             tmp_path: Path) -> None:
    native = run_native(orphans, [mode], cwd=tmp_path)
    coffer = run_in_coffer(orphans, [mode])
    assert native.status == 0, native.stderr
    assert b"SIGTSTP: 0" in native.stdout
    assert coffer.stdout.decode() == native.stdout.decode()
    assert coffer.status == 0


@needs_gcc
def test_init_cannot_make_a_sibling(orphans: Path) -> None:
    coffer = run_in_coffer(orphans, ["init"])
    assert coffer.stdout == b"clone(CLONE_PARENT) from init: -1 EINVAL\n"


@needs_gcc
def test_a_bad_tid_pointer_does_not_orphan_the_new_child(tmp_path: Path) -> None:
    """The fuzzer's deadlock: clone registered the child, then failed to store its TID
    (EFAULT) and never scheduled it, so the parent's wait4 slept forever."""
    guest = compile_guest(GUESTS / "settid.c", tmp_path)
    native = run_native(guest, [], cwd=tmp_path)
    coffer = run_in_coffer(guest, [])
    assert native.status == 0, native.stderr
    assert native.stdout.count(b"child ran: yes, exit 7") == 2
    assert coffer.stdout.decode() == native.stdout.decode()
    assert coffer.status == 0


@needs_gcc
@pytest.mark.parametrize("timed", [False, True])
def test_a_jump_to_the_last_address_is_a_segfault(tmp_path: Path, timed: bool) -> None:
    """Found by a 1,000,000-call fuzz campaign: a task at pc 0xffffffffffffffff ran no
    instruction per slice and never faulted, so the run never ended."""
    binary = compile_guest(GUESTS / "jumpout.c", tmp_path)
    native = run_native(binary, [], cwd=tmp_path)
    timing = ["--containers", "1", "--cores", "2"] if timed else []
    run = subprocess.run([sys.executable, "-m", "cofferos", "run", *timing, "--", str(binary)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert native.stdout.decode() == f"child: signal {signal.SIGSEGV}\n"
    assert run.stdout == native.stdout.decode()
    assert run.returncode == 0


@needs_gcc
def test_mremap_of_empty_ranges_is_what_linux_does(tmp_path: Path) -> None:
    """Two oopses of the 1,000,000-call campaign: a same-size mremap and a zero-length
    source each asked the engine to drop code over an empty range (UC_ERR_ARG)."""
    binary = compile_guest(GUESTS / "mremapzero.c", tmp_path)
    native = run_native(binary, [], cwd=tmp_path)
    ran = run_in_coffer(binary, [])
    assert ran.result.oopses == []
    assert (ran.status, ran.stdout) == (native.status, native.stdout)
