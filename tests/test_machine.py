"""The timing machine: determinism, blocking and timers, and the structural outcomes.

These assert what follows from structure, not tuned numbers: a shared kernel's
locks are contended by many containers and per-coffer locks are not; compute
is untouched by the kernel architecture; interception and exits cost what the
mechanism costs; the same configuration gives the same result.
"""

from __future__ import annotations

import io
import time

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.sim.experiment import run_containers
from cofferos.sim.machine import Machine, MachineConfig
from cofferos.workloads import build
from tests.rootfs import BUSYBOX, busybox_rootfs

METADATA_ARGS = ["/tmp/shared", "150"]


def _row(workload: str, args: list[str], kernel: str, containers: int, cores: int,
         op: str | None = None) -> dict[str, float]:
    run = run_containers(str(build(workload)), args, kernel=kernel, containers=containers,
                         cores=cores, op_syscall=op)
    assert all(c.exit_code == 0 for c in run.containers), [c.stderr for c in run.containers]
    return run.row()


def test_same_configuration_same_result() -> None:
    first = _row("metadata", METADATA_ARGS, "linux", 4, 4)
    second = _row("metadata", METADATA_ARGS, "linux", 4, 4)
    for key in ("throughput_per_container", "p99_us", "cpu_lock_wait", "simulated_seconds"):
        assert first[key] == second[key], key


def test_shared_kernel_locks_collapse_and_coffers_do_not() -> None:
    # Past about a dozen cores the MOSBENCH-era kernel's global dcache_lock and
    # inode_lock (ticket spinlocks) collapse (sim/lockversions.py).
    linux_one = _row("metadata", METADATA_ARGS, "linux:2.6.35", 1, 16)
    linux_many = _row("metadata", METADATA_ARGS, "linux:2.6.35", 16, 16)
    coffer_one = _row("metadata", METADATA_ARGS, "cofferos", 1, 16)
    coffer_many = _row("metadata", METADATA_ARGS, "cofferos", 16, 16)
    assert linux_many["cpu_lock_wait"] > 0.2
    assert linux_many["throughput_per_container"] < 0.8 * linux_one["throughput_per_container"]
    assert coffer_many["cpu_lock_wait"] == 0.0
    assert coffer_many["throughput_per_container"] >= 0.9 * coffer_one["throughput_per_container"]
    assert linux_many["p99_us"] > coffer_many["p99_us"]


def test_compute_bound_work_is_the_same_under_every_kernel() -> None:
    rows = {k: _row("compute", ["200000"], k, 2, 2) for k in ("linux", "cofferos", "vm",
                                                              "sandbox")}
    base = rows["linux"]["throughput_per_container"]
    for kernel, row in rows.items():
        assert row["throughput_per_container"] == pytest.approx(base, rel=0.05), kernel


def test_interception_and_exits_cost_what_their_mechanisms_cost() -> None:
    rows = {k: _row("nullsys", ["3000"], k, 1, 1, op="getppid") for k in ("linux", "cofferos",
                                                                          "sandbox")}
    assert rows["sandbox"]["throughput_per_container"] < rows["linux"][
        "throughput_per_container"] / 5
    busy = 1 - rows["sandbox"]["cpu_idle"]  # (the sandbox's start-up is idle time)
    assert rows["sandbox"]["cpu_virtualization"] / busy > 0.5
    # tmpfs files stay inside the guest kernel: a VM pays no exit for them, only for its
    # console (one summary) and its 2-D page walks (device exits: tests/test_device_io.py).
    io_rows = {k: _row("fileio", ["16"], k, 1, 1) for k in ("linux", "vm")}
    assert io_rows["vm"]["throughput_per_container"] == pytest.approx(
        io_rows["linux"]["throughput_per_container"], rel=0.1)


def test_sleep_and_timers_advance_simulated_time_not_host_time() -> None:
    if not BUSYBOX.exists():
        pytest.skip("busybox-static not installed")
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=out, stderr=io.BytesIO())
    coffer.spawn(str(BUSYBOX), ["sh", "-c", "sleep 2; echo slept"])
    started = time.perf_counter()
    result = Machine(MachineConfig(cores=2, kernel="linux"), [coffer]).run()
    assert out.getvalue() == b"slept\n"
    assert result.elapsed_ns >= 2e9
    assert time.perf_counter() - started < 2.0


def test_threads_and_pipelines_run_on_several_cores(tmp_path) -> None:
    if not BUSYBOX.exists():
        pytest.skip("busybox-static not installed")
    root = busybox_rootfs(tmp_path)
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(rootfs=str(root), cwd="/tmp"), stdin=io.BytesIO(),
                    stdout=out, stderr=io.BytesIO())
    coffer.spawn(str(BUSYBOX), ["/bin/sh", "-c", "seq 1 500 | sort -rn | head -n 2"])
    threads_out = io.BytesIO()
    threaded = Coffer(CofferConfig(name="t"), stdin=io.BytesIO(), stdout=threads_out,
                      stderr=io.BytesIO())
    threaded.spawn(str(build("threads")), ["threads"])
    result = Machine(MachineConfig(cores=4, kernel="cofferos"), [coffer, threaded]).run()
    assert out.getvalue() == b"500\n499\n"
    assert threaded.result().exit_code == 0 and threads_out.getvalue()
    assert result.breakdown()["user"] > 0


def test_a_time_limit_counts_only_the_work_done_before_it() -> None:
    """``until_ns`` cuts the run: throughput counts the operations inside the window
    (not those the functional run did past it), and a container the limit stopped is
    marked cut off, not failed."""
    program = str(build("metadata"))
    full = run_containers(program, kernel="linux", containers=2, cores=2)
    limit_ns = 200_000
    cut = run_containers(program, kernel="linux", containers=2, cores=2,
                         machine=MachineConfig(until_ns=limit_ns))
    assert cut.simulated_seconds * 1e9 == pytest.approx(limit_ns)
    for whole, part in zip(full.containers, cut.containers, strict=True):
        assert part.cut_off and not part.failed and part.exit_code == 137
        assert 0 < part.ops < whole.ops
        assert part.throughput == pytest.approx(part.ops / part.seconds)
        assert part.throughput <= whole.throughput * 1.05  # no marks from past the limit
    row = cut.row()
    assert row["failed_containers"] == 0 and row["cut_off_containers"] == 2
    assert full.row()["cut_off_containers"] == 0


@pytest.mark.parametrize("kernel", ["cofferos", "linux"])
def test_a_worker_thread_ending_does_not_end_the_container(kernel: str) -> None:
    """@threads alone on the machine: its workers exit while main still joins them.
    The run once stopped there as a false deadlock (exit 137, no output): a thread of
    init ending was taken for init ending, with the other threads' cores still held."""
    functional = io.BytesIO()
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=functional,
                    stderr=io.BytesIO())
    coffer.spawn(str(build("threads")), ["threads", "2", "200"])
    assert coffer.run().exit_code == 0
    run = run_containers(str(build("threads")), ["2", "200"], kernel=kernel, containers=2,
                         cores=2)
    for container in run.containers:
        assert container.exit_code == 0
        assert container.stdout == functional.getvalue()


def test_the_live_task_count_follows_births_and_deaths() -> None:
    """The machine asks each slice whether a coffer has more than one live task; the
    count it reads is kept by the tasks themselves, not walked over every zombie."""
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=out, stderr=io.BytesIO())
    coffer.spawn(str(build("threads")), ["threads", "2", "20"])
    assert coffer.live_task_count == 1
    seen: list[tuple[int, int]] = []
    step = coffer.scheduler.step

    def counted_step() -> bool:
        seen.append((coffer.live_task_count,
                     sum(1 for task in coffer.tasks.values() if task.alive)))
        return step()

    coffer.scheduler.step = counted_step  # type: ignore[method-assign]
    assert coffer.run().exit_code == 0
    assert all(counted == walked for counted, walked in seen), seen
    assert max(counted for counted, _ in seen) == 3  # main and its two workers
    assert coffer.live_task_count == 0
