"""Page-fault accounting in compiled code: the kernel hears of each page's first use once.

A timing run counts a guest's first touch of each mapped page as a page fault
(charged, and replayed in simulated time). The compiled TLB-fill hook
(isa/native/tlbhook.c, ``tlb_fill_track_hook``) keeps a byte per page and calls
Python only on a page's first use, where a Python callback on every TLB miss
(every refill after each mmap, munmap or mprotect flushed the TLB) cost a
memory-bound program twice its functional time. The Python path remains where no
C compiler is at hand; both must count the same faults at the same cycles.
"""

from __future__ import annotations

import pytest

from cofferos.coffers.coffer import Coffer
from cofferos.isa import cpu as cpu_module
from cofferos.isa import touchlog
from cofferos.isa.costs import BlockCoster
from cofferos.isa.cpu import Cpu
from cofferos.sim.experiment import ContainerSpec, RunReport, run_mix
from cofferos.workloads import build

PAGE = 4096
CODE, DATA = 0x400000, 0x600000
RWX, RW = 7, 3
STORE_AT = bytes.fromhex("48b8") + DATA.to_bytes(8, "little") + bytes.fromhex("c600010f05")


def _cpu() -> Cpu:
    cpu = Cpu(BlockCoster(), on_syscall=Cpu.stop, track_pages=True)
    if not cpu.counts_first_touches:
        pytest.skip("no C compiler: page faults go through the Python per-miss callback")
    return cpu


def _store(cpu: Cpu) -> None:
    cpu.write(CODE, STORE_AT)
    cpu.uc.ctl_remove_cache(CODE, CODE + PAGE)
    cpu.pc = CODE
    cpu.run()
    assert cpu.fault is None


def test_a_page_is_first_touched_once_until_it_is_mapped_anew() -> None:
    cpu = _cpu()
    touched: list[int] = []
    cpu.on_first_touch = lambda _cpu, page: touched.append(page)  # type: ignore[assignment,func-returns-value]
    cpu.map(CODE, PAGE, RWX)
    cpu.map(DATA, PAGE, RW)
    _store(cpu)
    cpu.memory_map.flush_tlb()  # every page misses again: not a first use
    _store(cpu)
    assert touched.count(DATA) == 1 and touched.count(CODE) == 1
    cpu.unmap(DATA, PAGE)
    cpu.map(DATA, PAGE, RW)  # fresh zero memory: its first use faults again
    _store(cpu)
    assert touched.count(DATA) == 2 and touched.count(CODE) == 1


def _figures(report: RunReport) -> tuple[object, ...]:
    return (report.simulated_seconds, report.breakdown,
            [(c.cycles, c.calls, c.instructions, c.stdout, c.exit_code)
             for c in report.containers])


@pytest.mark.parametrize(("workload", "args"), [("memtouch", ("16",)), ("forkexec", ()),
                                                ("threads", ("4", "100"))])
def test_the_compiled_and_the_python_hook_count_the_same_faults(
        workload: str, args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ContainerSpec(str(build(workload)), args)
    compiled = run_mix([spec] * 2, kernel="linux", cores=2)
    monkeypatch.setattr(cpu_module, "_tlb_track_hook", lambda: None)  # the Python callback
    python = run_mix([spec] * 2, kernel="linux", cores=2)
    assert all(c.exit_code == 0 for c in compiled.containers)
    assert _figures(compiled) == _figures(python)
    assert compiled.machine.times["c0"].kernel > 0


@pytest.mark.parametrize("entries", [touchlog.LOG_ENTRIES, 3])  # 3: the log fills often
@pytest.mark.parametrize(("workload", "args"), [("memtouch", ("8",)), ("forkexec", ()),
                                                ("threads", ("4", "100")),
                                                ("bystander", ("2", "2"))])
def test_faults_taken_from_the_log_in_batches_change_no_figure(
        workload: str, args: tuple[str, ...], entries: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The C hook's log of faults (isa/touchlog.py), taken at the next trap, RDTSC
    (bystander times itself), full log or engine stop, against a callback per fault:
    the same simulated times, breakdown, cycles and output, bit for bit."""
    if not _cpu().counts_first_touches:
        return
    spec = ContainerSpec(str(build(workload)), args)
    monkeypatch.setattr(touchlog, "LOG_ENTRIES", entries)
    batched = run_mix([spec] * 2, kernel="linux", cores=2)
    monkeypatch.setattr(Coffer, "log_touches", False)
    one_by_one = run_mix([spec] * 2, kernel="linux", cores=2)
    assert all(c.exit_code == 0 for c in batched.containers)
    assert _figures(batched) == _figures(one_by_one)
    assert batched.machine.times["c0"].kernel > 0
