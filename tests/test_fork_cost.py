"""A fork's cost grows with the address space it copies (coffers/syscalls/fork.py).

``fork_work`` is a small process's fork (LEBench's); each mapping and each resident page
beyond the small process that benchmarks/forksize measured costs ``fork_mapping_work``
and ``fork_page_work`` more. tests/test_exim_work.py checks the same on a real run.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from cofferos.coffers.syscalls.fork import address_space_work
from cofferos.sim.costmodel import SMALL_PROCESS_MAPPINGS, SMALL_PROCESS_PAGES, KernelCosts
from tests.support import compile_guest, needs_gcc, run_in_coffer


def shaped(mappings: int, pages: int) -> SimpleNamespace:
    return SimpleNamespace(vmas=[None] * mappings, resident_pages=pages)


def test_a_small_process_costs_only_the_base() -> None:
    costs = KernelCosts()
    assert address_space_work(costs, shaped(SMALL_PROCESS_MAPPINGS, SMALL_PROCESS_PAGES)) == 0
    assert address_space_work(costs, shaped(3, 0)) == 0


def test_each_mapping_and_page_beyond_it_costs_its_price() -> None:
    costs = KernelCosts()
    big = shaped(SMALL_PROCESS_MAPPINGS + 100, SMALL_PROCESS_PAGES + 1_000)
    assert address_space_work(costs, big) == (100 * costs.fork_mapping_work
                                              + 1_000 * costs.fork_page_work)


FORKSIZE = Path(__file__).parent.parent / "benchmarks" / "forksize" / "forksize.c"
ROUNDS = 400  #: forksize.c's forks a run
PAGES = 1_000


@pytest.fixture(scope="module")
def forksize(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_guest(FORKSIZE, tmp_path_factory.mktemp("forksize"))


def kernel_cycles(program: Path, *args: str) -> int:
    outcome = run_in_coffer(program, list(args), page_faults=True)
    assert outcome.status == 0, outcome.stderr
    return outcome.result.kernel_cycles


@needs_gcc
def test_a_fork_pays_for_each_page_its_parent_wrote(forksize: Path) -> None:
    """forksize.c writes PAGES pages, then forks ROUNDS times: each fork copies them."""
    costs = KernelCosts()
    extra = kernel_cycles(forksize, "0", str(PAGES)) - kernel_cycles(forksize, "0", "0")
    faults = PAGES * costs.page_fault  # (the parent's writes)
    assert extra - faults == pytest.approx(ROUNDS * PAGES * costs.fork_page_work, rel=0.01)


@needs_gcc
def test_pages_unmapped_before_the_fork_are_not_copied(forksize: Path) -> None:
    costs = KernelCosts()
    extra = (kernel_cycles(forksize, "0", str(PAGES), "unmapped")
             - kernel_cycles(forksize, "0", "0") - PAGES * costs.page_fault)
    copies = ROUNDS * PAGES * costs.fork_page_work
    assert 0 <= extra < copies / 100  # (the mmap and munmap calls only)
