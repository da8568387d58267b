"""What a fork costs a coffer's memory limit: what Linux's memory cgroup charges.

A memory cgroup charges the pages a process holds: after fork, parent and child
share their private pages copy-on-write, charged once, and each copy is charged
when a store makes it. ``forkmem/forkmany.c`` is a python3-sized process (24 MiB
written, 64 MiB reserved PROT_NONE) that forks children which live together; it
must run as natively (the coffer once refused the 41st of 400 children with
ENOMEM, having charged each child everything its parent had mapped). A guest that
copies past the limit is killed by the kernel model's OOM killer, so the limit
still bounds what a coffer holds of the host. The unit tests follow the account
through fork, stores on both sides, munmap, exit and exec.
"""

from __future__ import annotations

import gc
import io
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.mm import ENGINE_BYTES, PAGE_SIZE
from tests.support import compile_guest, needs_gcc, run_in_coffer, run_native

GUESTS = Path(__file__).parent / "forkmem"
RW = 3  # PROT_READ | PROT_WRITE
PAGES = 256


@pytest.fixture(scope="module")
def forkmany(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_guest(GUESTS / "forkmany.c", tmp_path_factory.mktemp("forkmem"))


@needs_gcc
def test_400_children_of_a_python_sized_process_match_native(forkmany: Path) -> None:
    args = ["400", "24", "0"]
    native = run_native(forkmany, args)
    assert native.stdout == (b"forked 400, 400 ready together\n"
                             b"exited 400, killed 0, failed 0\nparent's memory intact\n")
    coffer = run_in_coffer(forkmany, args)
    assert (coffer.status, coffer.stdout) == (native.status, native.stdout)


@needs_gcc
def test_copies_past_the_memory_limit_are_oom_killed(forkmany: Path) -> None:
    limit = 256 << 20
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(memory_limit=limit), stdin=io.BytesIO(), stdout=out,
                    stderr=io.BytesIO())
    coffer.spawn(str(forkmany), ["forkmany", "20", "24", "24"], None)
    peak = 0
    settle = coffer.scheduler._charge_copies

    def charge_copies(task: object) -> None:  # the account as each slice leaves it
        nonlocal peak
        settle(task)  # type: ignore[arg-type]
        peak = max(peak, coffer.memory.used_bytes)

    coffer.scheduler._charge_copies = charge_copies  # type: ignore[method-assign]
    assert coffer.run().exit_code == 0
    lines = out.getvalue().decode().splitlines()
    assert lines[0] == "forked 20, 20 ready together"
    exited, killed = (int(word.rstrip(",")) for word in lines[1].split()[1:4:2])
    # 20 children copying 24 MiB each do not fit in 256 MiB: some die of SIGKILL,
    # each within one slice of its last charge (a slice copies at most its 24 MiB).
    assert killed > 0 and exited + killed == 20 and "failed 0" in lines[1]
    assert peak <= limit + (24 << 20)
    assert lines[2] == "parent's memory intact"


def _space(coffer: Coffer):  # type: ignore[no-untyped-def]
    return coffer.new_cpu()[1]


def test_the_account_follows_fork_copies_unmap_and_exit() -> None:
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=io.BytesIO(),
                    stderr=io.BytesIO())
    account = coffer.memory
    parent = _space(coffer)
    start = parent.map_anywhere(PAGES * PAGE_SIZE, RW)
    parent.pages.poke(start, b"\1" * PAGES * PAGE_SIZE)
    before = account.used_bytes
    child = _space(coffer)
    parent.copy_into(child)
    # The child costs its engine and nothing more: every page is shared, charged once.
    assert account.used_bytes == before + ENGINE_BYTES
    child.pages.poke(start, b"\2" * 10 * PAGE_SIZE)  # the kernel's stores copy too
    child.settle_cow()
    assert account.used_bytes == before + ENGINE_BYTES + 10 * PAGE_SIZE
    parent.pages.poke(start, b"\3" * 4 * PAGE_SIZE)
    parent.settle_cow()
    assert account.used_bytes == before + ENGINE_BYTES + 14 * PAGE_SIZE
    assert child.pages.peek(start + 10 * PAGE_SIZE, 1) == b"\1"
    child.unmap(start, 20 * PAGE_SIZE)  # its 10 copies go; the shared pages stay held
    assert account.used_bytes == before + ENGINE_BYTES + 4 * PAGE_SIZE
    child.release()
    child.pages.reset()
    parent.release()
    parent.pages.reset()
    gc.collect()
    assert account.used_bytes == 0  # the frozen files gave their charge back


def test_a_fork_past_what_the_parent_mapped_needs_no_room() -> None:
    """Only the engine's megabyte must fit: a parent that has mapped most of the limit
    may still fork, as under Linux's memory cgroup (not its strict overcommit)."""
    coffer = Coffer(CofferConfig(memory_limit=8 << 20), stdin=io.BytesIO(),
                    stdout=io.BytesIO(), stderr=io.BytesIO())
    parent = _space(coffer)
    parent.map_anywhere(5 << 20, RW)
    child = _space(coffer)
    parent.copy_into(child)
    assert coffer.memory.used_bytes == (5 << 20) + 2 * ENGINE_BYTES


@needs_gcc
def test_a_fork_the_host_cannot_map_is_enomem(forkmany: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The host allows a process 65,530 mappings (vm.max_map_count) in all coffers
    together; a fork that would pass them fails with ENOMEM, and the run goes on."""
    from cofferos.isa.blockmap import BlockMap

    real, children = BlockMap.clone_private, []

    def clone_private(self: BlockMap, child: BlockMap, address: int, length: int) -> None:
        if child not in children:
            children.append(child)
        if len(children) > 1:  # the first fork maps, the next ones cannot
            raise OSError(12, "host mmap over guest memory failed: Cannot allocate memory")
        real(self, child, address, length)

    monkeypatch.setattr(BlockMap, "clone_private", clone_private)
    outcome = run_in_coffer(forkmany, ["3", "1", "0"])
    assert outcome.stdout == (b"fork 1: Cannot allocate memory\nforked 1, 1 ready together\n"
                              b"exited 1, killed 0, failed 0\nparent's memory intact\n")
    assert outcome.result is not None and outcome.result.exit_code == 0
