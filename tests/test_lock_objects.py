"""Locks on the objects the kernel touches, lock algorithms and kernel versions (issue #15).

Two containers on a shared Linux kernel contend only on the locks Linux really
shares between them: kernel-global ones (rename_lock, tasklist_lock, the mount
locks; in 2.6.35 also dcache_lock and inode_lock), never the locks of their own
directories, superblocks, sockets or address spaces. Collapse is an outcome of
the lock algorithm: the MOSBENCH-era table (ticket spinlocks) loses total
throughput as cores are added, the current one does not.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import simpy

from cofferos.coffers import locktrace
from cofferos.errors import ConfigError
from cofferos.sim.experiment import ContainerSpec, run_containers, run_mix
from cofferos.sim.kernel_locks import LockTable
from cofferos.sim.kernels import check_kernel
from cofferos.sim.lockalgo import ALGORITHMS, MUTEX, QSPINLOCK, TICKET, SimLock
from cofferos.sim.lockversions import LINUX_2_6_35, LINUX_6, VERSIONS, with_walk_modes
from cofferos.sim.machine import Machine
from cofferos.workloads import build
from cofferos.workloads.build import resolve
from tests.support import compile_guest, needs_gcc

GUEST = Path(__file__).parent / "locks" / "lockobj.c"
REPEATS = "20"
METADATA_ITERATIONS = "150"


def _shared_locks(binary: Path, op: str, kernel: str) -> set[str]:
    """Names of the lock instances both containers running ``op`` took."""
    seen: dict[str, Machine] = {}

    def prepare(machine: Machine) -> None:
        machine.note_users = True  # as the surface experiment asks
        seen["machine"] = machine

    spec = ContainerSpec(str(binary), (op, REPEATS))
    report = run_mix([spec, spec], kernel=kernel, cores=2, prepare=prepare)
    assert [c.exit_code for c in report.containers] == [0, 0], \
        [c.stderr for c in report.containers]
    assert all(c.stdout == f"{op} ok\n".encode() for c in report.containers), \
        [c.stdout for c in report.containers]
    return {re.sub(r"[#@].*", "", lock.name) for lock in seen["machine"].locks.locks.values()
            if len(lock.users) > 1}


@needs_gcc
def test_disjoint_containers_contend_only_on_the_locks_linux_shares(tmp_path: Path) -> None:
    binary = compile_guest(GUEST, tmp_path)
    base = _shared_locks(binary, "none", "linux")  # start-up and exit: the walk, tasklist
    # (and the page allocator's zone->lock, one per NUMA node, that every container's page
    # faults take; not the LRU lock, one per memory cgroup in 6.x)
    assert base == {"mount_lock", "tasklist_lock", "zone_lock"}
    extra = {op: _shared_locks(binary, op, "linux") - base
             for op in ("create", "rename", "mount", "fork", "socket")}
    assert extra == {"create": set(), "rename": {"rename_lock"}, "mount": {"namespace_sem"},
                     "fork": set(), "socket": set()}
    # fork's lock is tasklist_lock (in the base: every exit takes it too).
    assert "tasklist_lock" in _shared_locks(binary, "fork", "linux")
    # The MOSBENCH-era kernel shares its global dcache and inode locks; its global
    # vfsmount_lock only where the walks cross a mount point (lookup_mnt).
    old = _shared_locks(binary, "create", "linux:2.6.35")
    assert {"dcache_lock", "inode_lock", "lru_lock"} <= old
    assert not {"i_mutex", "d_lock", "d_count", "vfsmount_lock"} & old
    # (with a mount crossed by every create's walk; tests/test_lock_mounts.py counts them)
    assert "vfsmount_lock" in _shared_locks(binary, "cross", "linux:2.6.35")
    assert _shared_locks(binary, "create", "cofferos") == set()


@needs_gcc
@pytest.mark.parametrize("op", ["create", "rename", "fork", "socket"])  # (mount: needs root)
def test_the_guest_behaves_as_it_does_natively(tmp_path: Path, op: str) -> None:
    binary = compile_guest(GUEST, tmp_path)
    native = subprocess.run([str(binary), op, REPEATS], cwd=tmp_path, capture_output=True,
                            check=False)
    report = run_containers(str(binary), [op, REPEATS], kernel="linux", containers=1, cores=1)
    assert (report.containers[0].exit_code, report.containers[0].stdout) == \
        (native.returncode, native.stdout)


def _total(kernel: str, containers: int, directory: str = "/tmp/shared") -> float:
    run = run_containers(str(build("metadata")), [directory, METADATA_ITERATIONS],
                         kernel=kernel, containers=containers, cores=containers)
    assert all(c.exit_code == 0 for c in run.containers)
    return run.row()["throughput_per_container"] * containers


def test_ticket_locks_collapse_queued_locks_and_coffers_scale() -> None:
    old4, old16 = _total("linux:2.6.35", 4), _total("linux:2.6.35", 16)
    new4, new16 = _total("linux", 4), _total("linux", 16)
    coffer1, coffer16 = _total("cofferos", 1), _total("cofferos", 16)
    assert old16 < old4  # collapse: more cores, less total throughput
    assert new16 > 3.5 * new4  # own tmpfs, RCU-walk: near linear
    assert coffer16 > 0.9 * 16 * coffer1


def test_a_longer_path_costs_more_in_the_ref_walk_era_only() -> None:
    # DIR/dir1/dir2/file: "/tmp" walks 4 components, the deep one 12, both on tmpfs.
    deep = "/tmp/" + "/".join(f"d{i}" for i in range(8))
    shallow_old, deep_old = _total("linux:2.6.35", 2, "/tmp"), _total("linux:2.6.35", 2, deep)
    # (each component's d_lock and d_count: the calls' fixed work estimates hide part of
    # it, but not all; main's fixed PATH_COMPONENTS gave the same cost to both)
    assert deep_old < 0.995 * shallow_old  # (1.0% less: 218,581 against 220,836 ops/s)
    shallow_new, deep_new = _total("linux", 2, "/tmp"), _total("linux", 2, deep)
    assert deep_new == pytest.approx(shallow_new, rel=0.002)  # RCU-walk: no lock per component


def test_ticket_handoff_grows_with_waiters_and_queued_does_not() -> None:
    ticket, queued = ALGORITHMS[TICKET], ALGORITHMS[QSPINLOCK]
    assert ticket.handoff(300, 1) == queued.handoff(300, 1) == queued.handoff(300, 40) == 300
    assert ticket.handoff(300, 40) > 10 * ticket.handoff(300, 1)


def test_readers_share_and_a_writer_waits() -> None:
    env = simpy.Environment()
    lock = SimLock(env, "i_rwsem")
    first, second = lock.acquire(shared=True), lock.acquire(shared=True)
    writer = lock.acquire(shared=False)
    late_reader = lock.acquire(shared=True)  # FIFO: behind the waiting writer
    assert first.triggered and second.triggered and not writer.triggered
    assert not late_reader.triggered
    lock.release(shared=True)
    lock.release(shared=True)
    assert writer.triggered and not late_reader.triggered
    lock.release(shared=False)
    assert late_reader.triggered


def _two_takers(table: dict, cls: str, second: str | None = None,
                sleep_cycles: int = 1000) -> dict[str, list[float]]:
    """Containers a (core 0, taking ``cls``) and b (core 1, taking ``second``, default
    ``cls``) take their lock on one object at once, b second; each one's
    [ns spinning, ns asleep]."""
    env = simpy.Environment()
    locks = LockTable(env, shared_kernel=True, table=table, sleep_cycles=sleep_cycles)
    parent = object()
    waits = {name: [0.0, 0.0] for name in ("a", "b")}
    for core, (name, taken) in enumerate((("a", cls), ("b", second or cls))):
        env.process(locks.take(((taken, parent),), name, core, 1.0, waits[name]))
    env.run()
    return waits


def test_a_sleeping_waiter_is_not_reported_as_spinning() -> None:
    # lock_sock has no optimistic spinning in any version: its waiter sleeps
    waits = _two_takers(LINUX_6, locktrace.SOCK)
    assert waits["a"] == [0.0, 0.0]
    assert waits["b"][0] == 0.0 and waits["b"][1] > 0


def test_a_mutex_waiter_spins_while_its_owner_runs() -> None:
    """Optimistic spinning: a directory's i_rwsem (6.x) and i_mutex (4.2, 2.6.35) waiter
    spins on the running owner, and pays no context switch or wake-up; the same wait on
    a plain sleeping mutex (a version without optimistic spinning) sleeps and pays them."""
    for table in (LINUX_6, VERSIONS["4.2"], LINUX_2_6_35):
        waits = _two_takers(table, locktrace.DIR_EXCL)
        assert waits["b"][0] > 0 and waits["b"][1] == 0.0
    hold = LINUX_6[locktrace.DIR_EXCL][0].hold
    spun = _two_takers(LINUX_6, locktrace.DIR_EXCL)["b"][0]
    assert spun == pytest.approx(hold)  # b waited exactly a's hold, spinning
    plain = {**LINUX_6, locktrace.DIR_EXCL: tuple(
        replace(rule, algorithm=MUTEX) for rule in LINUX_6[locktrace.DIR_EXCL])}
    slept = _two_takers(plain, locktrace.DIR_EXCL)["b"]
    assert slept[0] == 0.0 and slept[1] == pytest.approx(hold)


def test_rwsem_writers_spin_from_3_10_and_readers_sleep() -> None:
    """mmap_lock's writers spin in 6.x; 2.6.35's mmap_sem had no optimistic spinning
    (rwsem writers spin since 3.10); a reader behind a writer sleeps in every version."""
    assert _two_takers(LINUX_6, locktrace.MMAP_WRITE)["b"][1] == 0.0
    old = _two_takers(LINUX_2_6_35, locktrace.MMAP_WRITE)["b"]
    assert old[0] == 0.0 and old[1] > 0
    reader = _two_takers(LINUX_6, locktrace.DIR_EXCL, locktrace.DIR_SHARED)["b"]
    assert reader[0] == 0.0 and reader[1] > 0


def test_spinning_waits_are_logged_as_spinning() -> None:
    env = simpy.Environment()
    locks = LockTable(env, shared_kernel=True, table=LINUX_2_6_35, sleep_cycles=1000)
    locks.wait_log = []
    parent = object()
    for core, name in enumerate(("a", "b", "c")):
        cls = locktrace.MMAP_WRITE if name == "c" else locktrace.DIR_EXCL
        env.process(locks.take(((cls, parent),), name, core, 1.0, [0.0, 0.0]))
    env.run()
    # b waited on a's i_mutex spinning; c's mmap_sem is another lock: no wait at all
    assert [(label.split("#")[0], slept) for label, _end, _ns, slept in locks.wait_log] \
        == [("i_mutex", False)]


def test_versions_are_tables_and_kernel_names_are_checked() -> None:
    assert set(VERSIONS) >= {"6.x", "2.6.35"}
    for table in VERSIONS.values():
        # every traced class has its locks in every version (the absolute walk's classes
        # as the relative walk's where a version does not set them)
        assert set(with_walk_modes(table)) == set(with_walk_modes(LINUX_6))
        for rules in table.values():
            for rule in rules:
                assert rule.algorithm in ALGORITHMS and rule.source
    assert {r.algorithm for rules in LINUX_2_6_35.values() for r in rules} >= {TICKET}
    assert check_kernel("linux:2.6.35") == "linux:2.6.35"
    for bad, message in (("linux:9.9", "unknown linux version"),
                         ("cofferos:2.6.35", "has no versions"), ("bsd", "unknown kernel")):
        with pytest.raises(ConfigError, match=message):
            check_kernel(bad)


def test_no_trace_is_kept_without_a_machine() -> None:
    assert locktrace.trace is None


def test_a_dead_objects_lock_is_not_inherited_by_a_new_one() -> None:
    class Obj:
        pass

    env = simpy.Environment()
    table = LockTable(env, shared_kernel=True, table=LINUX_6)
    rule = LINUX_6[locktrace.D_ALLOC][0]
    first = Obj()
    lock = table.instance(rule, first, "a")
    lock.last_core = 3
    assert table.instance(rule, first, "b") is lock  # one object: one lock, on linux
    key = id(first)
    del first
    second = Obj()  # (CPython often reuses the id; either way a fresh lock)
    fresh = table.instance(rule, second, "a")
    assert fresh.last_core == -1 and (id(second) != key or fresh is not lock)


def test_futex_buckets_are_the_same_every_run() -> None:
    class Task:
        class coffer:  # noqa: N801 (a stand-in for the task's coffer)
            class config:  # noqa: N801
                name = "c0"

        class process:  # noqa: N801
            tgid = 7

    assert locktrace.futex_bucket(Task, 0x1000) == locktrace.futex_bucket(Task, 0x1000)
    assert 0 <= locktrace.futex_bucket(Task, 0x1000) < locktrace.FUTEX_HASH_BUCKETS


def test_the_zone_lock_is_taken_once_per_per_cpu_batch_of_faults() -> None:
    """A page fault's zone->lock is amortized over pcp->batch pages per core (refill and
    bulk free), the LRU lock over a pagevec (add) and SWAP_CLUSTER_MAX (release_pages)."""
    env = simpy.Environment()
    locks = LockTable(env, shared_kernel=True, table=LINUX_6)
    memcg = object()
    faults = locktrace.fault_records(memcg)
    batch = LINUX_6[locktrace.PAGE_ALLOC][0].every
    taken = []
    for _fault in range(2 * batch):
        for core in (0, 1):
            due = locks.due(faults, "a", core)
            taken.append(locks.takes_any(faults, due))
            env.process(locks.take(faults, "a", core, 1.0, [0.0, 0.0], due))
    env.run()
    zone = locks.instance(LINUX_6[locktrace.PAGE_ALLOC][0], None, "a")
    lru = locks.instance(LINUX_6[locktrace.LRU_ADD][0], memcg, "a")
    # two batches on each of two cores, each refilled and freed under zone->lock
    assert zone.acquisitions == 2 * 2 * 2
    pagevec, cluster = (rule.every for rule in LINUX_6[locktrace.LRU_ADD])
    assert lru.acquisitions == 2 * (2 * batch // pagevec + 2 * batch // cluster)
    assert 0 < sum(taken) < len(taken)  # most faults take no lock at all
    # 2.6.35: one zone->lru_lock for the machine; 6.x: one per memory cgroup
    assert LINUX_2_6_35[locktrace.LRU_ADD][0].scope == "global"
    assert LINUX_6[locktrace.LRU_ADD][0].scope == "object"


def test_page_faults_take_the_zone_lock_on_the_timing_machine() -> None:
    seen: dict[str, Machine] = {}

    def prepare(machine: Machine) -> None:
        seen["m"] = machine

    report = run_mix([ContainerSpec(str(resolve("@wis")),
                                    ("page_fault2", "2", "20", "/tmp/wis"))],
                     kernel="linux", cores=2, prepare=prepare)
    assert not any(c.failed for c in report.containers)
    machine = seen["m"]
    zone = [lock for key, lock in machine.locks.locks.items() if key[0] == "zone_lock"]
    assert zone and zone[0].acquisitions > 0  # 2 x 20 faults and more: some batches full
    assert locktrace.trace is None  # (and no machine: a fault records nothing)


def test_a_huge_read_of_a_sparse_file_names_at_most_max_rw_count_of_pages() -> None:
    """A read names the page reference of each page it will copy, and a read copies at
    most MAX_RW_COUNT bytes (rw_verify_area). A sparse file may be exabytes long: the
    fuzzer's read(fd, buf, 2**62) of one made billions of records before the call ran,
    and the host ran out of memory."""
    from types import SimpleNamespace

    from cofferos.coffers.syscalls.read_write import MAX_RW_COUNT

    # (a 16 GiB file, not an exabyte one, so that a regression fails instead of
    # exhausting the machine)
    inode = SimpleNamespace(size=8 * MAX_RW_COUNT, is_reg=lambda: True)
    file = SimpleNamespace(inode=inode, pos=0)
    task = SimpleNamespace(files=SimpleNamespace(fds={3: SimpleNamespace(file=file)}))
    records = locktrace.CALL_RESOLVERS["read"](task, (0, 3, 0, 1 << 62))
    assert len(records) == MAX_RW_COUNT // 4096
    assert {name for name, _ in records} == {locktrace.PAGE_REF}
    assert len(locktrace.CALL_RESOLVERS["pread64"](task, (0, 3, 0, 1 << 40, 5))) \
        == MAX_RW_COUNT // 4096 + 1  # from byte 5: one page more


def test_writes_past_the_end_charge_and_truncates_uncharge_the_memory_cgroup() -> None:
    """A page a write adds past a file's end is charged to the writer's memory cgroup (its
    container), a page a truncate frees is uncharged; both bounded by the pages touched or
    held, so a write far past the end or a truncate of a sparse file names few records."""
    import os
    from types import SimpleNamespace

    page = locktrace.PAGE_SIZE
    inode = SimpleNamespace(size=3 * page, is_reg=lambda: True, held_bytes=lambda: 3 * page)
    file = SimpleNamespace(inode=inode, pos=0, flags=os.O_WRONLY | os.O_APPEND)
    coffer = object()
    task = SimpleNamespace(files=SimpleNamespace(fds={3: SimpleNamespace(file=file)}),
                           coffer=coffer)

    def named(call: str, regs: tuple[int, ...]) -> list[str]:
        return [cls for cls, obj in locktrace.CALL_RESOLVERS[call](task, regs)
                if obj is coffer or cls == locktrace.FILE_WRITE]

    assert named("write", (0, 3, 0, page)) == [locktrace.FILE_WRITE, locktrace.PAGE_CHARGE]
    assert named("ftruncate", (0, 3, page)) == [locktrace.FILE_WRITE] + \
        [locktrace.PAGE_UNCHARGE] * 2
    assert named("ftruncate", (0, 3, 5 * page)) == [locktrace.FILE_WRITE]  # (grows: none)
    file.flags = os.O_WRONLY
    assert named("pwrite64", (0, 3, 0, 10, page)) == [locktrace.FILE_WRITE]  # (inside)
    assert named("pwrite64", (0, 3, 0, 1, 1 << 40)).count(locktrace.PAGE_CHARGE) == 1
    inode.size = 1 << 40  # a sparse file holding one page
    inode.held_bytes = lambda: page
    assert named("ftruncate", (0, 3, 0)).count(locktrace.PAGE_UNCHARGE) == 1
    # charged once per per-CPU stock of pages; each truncated page uncharged
    for version, batch in (("4.2", 32), ("6.x", 64)):
        charge, = VERSIONS[version][locktrace.PAGE_CHARGE]
        uncharge, = VERSIONS[version][locktrace.PAGE_UNCHARGE]
        assert (charge.name, charge.every, uncharge.every) == ("page_counter", batch, 1)
        assert charge.scope == uncharge.scope == "object"  # (one per cgroup: a container)
