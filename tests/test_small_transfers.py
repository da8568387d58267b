"""Small read(2) and write(2) on a pipe and a tmpfs file (issue #17): the transfers
stored straight into, or taken straight from, the guest's pages give the guest its
native output and charge what the general path charges: each call's cycles, the VFS
work for a file, and the copy of the bytes moved."""

from __future__ import annotations

from pathlib import Path

import pytest

from cofferos.coffers.syscalls.uaccess import TRANSFER_CHUNK
from cofferos.isa.useraccess import SCALAR_CHECK_BYTES
from cofferos.sim.costmodel import KernelCosts
from tests.support import compile_guest, needs_gcc, run_in_coffer, run_native

RWLOOP = Path(__file__).parent.parent / "benchmarks" / "guests" / "rwloop.c"
CHUNK = 16  #: bytes per read and per write in rwloop.c
FEW, MORE = 10, 30  #: write+read pairs of two runs: their difference cancels start-up


@pytest.fixture(scope="module")
def rwloop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_guest(RWLOOP, tmp_path_factory.mktemp("rwloop"))


def _kernel_cycles(program: Path, mode: str, pairs: int) -> int:
    outcome = run_in_coffer(program, [mode, str(pairs)])
    assert outcome.status == 0, outcome.stderr
    assert outcome.result is not None
    return outcome.result.kernel_cycles


@needs_gcc
@pytest.mark.parametrize("mode", ["pipe", "file"])
def test_small_transfers_match_native(rwloop: Path, mode: str) -> None:
    ours = run_in_coffer(rwloop, [mode, str(MORE)])
    theirs = run_native(rwloop, [mode, str(MORE)])
    assert (ours.status, ours.stdout) == (theirs.status, theirs.stdout) == (
        0, f"rwloop: {MORE} pairs\n".encode())


@needs_gcc
@pytest.mark.parametrize("mode", ["pipe", "file"])
def test_small_transfers_charge_the_calls_the_vfs_and_the_copies(rwloop: Path,
                                                                 mode: str) -> None:
    costs = KernelCosts()
    per_pair = (2 * costs.entry_exit + costs.work("read") + costs.work("write")
                + 2 * costs.copy(CHUNK))
    if mode == "file":  # a regular file goes through the VFS and page cache
        per_pair += 2 * costs.file_io_work
    added = _kernel_cycles(rwloop, mode, MORE) - _kernel_cycles(rwloop, mode, FEW)
    assert costs.copy(CHUNK) > 0  # else the copies would not show in the sum
    assert added == (MORE - FEW) * per_pair



def test_a_direct_copy_is_never_more_than_a_chunk() -> None:
    """read(2) and write(2) copy straight to or from the guest only the few pages that
    ``BlockMap.user_view`` gives: never more than the chunk the general path moves."""
    assert 0 < SCALAR_CHECK_BYTES <= TRANSFER_CHUNK
