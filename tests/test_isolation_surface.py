"""The ``surface`` experiment: calls reachable per personality, kernel objects shared."""

from __future__ import annotations

import simpy

from cofferos.coffers import locktrace
from cofferos.sim.isolation import surface
from cofferos.sim.isolation.common import ExperimentParams
from cofferos.sim.kernel_locks import LockTable
from cofferos.sim.lockversions import LINUX_2_6_35

NS_PER_CYCLE = 1 / 3


def test_hardened_reaches_fewer_calls_than_none() -> None:
    none = surface.passing(())
    docker = surface.passing(("hardened",))
    minimal = surface.passing(("hardened:profile=minimal",))
    assert docker < none and "mount" in none and "mount" not in docker
    own = surface.implemented()
    assert len(minimal & own) < len(docker & own) <= len(none & own) == len(own)


def test_shared_kernel_shares_global_locks_and_task_table_coffers_share_none() -> None:
    linux = surface.shared_objects("linux", 2, seed=0)
    assert {"lock mount_lock@kernel", "lock tasklist_lock@kernel",
            "task table@host", "RAM"} <= set(linux)
    assert linux["lock tasklist_lock@kernel"] == ["c0", "c1"]
    # Each container's own tmpfs: no dentry or inode-list lock shared in 6.x; the
    # MOSBENCH-era kernel's global dcache_lock and inode_lock are.
    assert not any("d_lock" in name or "inode_list" in name for name in linux)
    old = surface.shared_objects("linux:2.6.35", 2, seed=0)
    assert {"lock dcache_lock@kernel", "lock inode_lock@kernel"} <= set(old)
    assert surface.shared_objects("cofferos", 2, seed=0) == {}


def test_a_lock_taken_by_two_containers_is_counted() -> None:
    env = simpy.Environment()
    shared = LockTable(env, shared_kernel=True, table=LINUX_2_6_35)
    private = LockTable(env, shared_kernel=False, table=LINUX_2_6_35)
    records = ((locktrace.D_ALLOC, object()),)
    for table in (shared, private):
        for container in ("a", "b"):
            env.process(table.take(records, container, 0, NS_PER_CYCLE, [0.0, 0.0]))
    env.run()
    dcache_lock = LINUX_2_6_35[locktrace.D_ALLOC][0]
    assert shared.instance(dcache_lock, None, "a").users == {"a", "b"}
    assert private.instance(dcache_lock, None, "a").users == {"a"}
    # The summed replay path notes users without taking the lock.
    noted = LockTable(env, shared_kernel=True, table=LINUX_2_6_35)
    calls = [(None, 4, 0, 0, records)]
    noted.note("a", calls)
    noted.note("b", calls)
    assert noted.instance(dcache_lock, None, "x").users == {"a", "b"}


def test_run_rows_finding_and_figure(tmp_path) -> None:
    result = surface.run(ExperimentParams(kernels=("linux", "cofferos"), containers=2))
    rows = {(r["kernel"], r["personalities"]): r for r in result.rows}
    assert rows[("linux", "none")]["abi_calls"] < rows[("cofferos", "none")]["abi_calls"]
    assert rows[("cofferos", "none")]["host_interface"] == 0
    assert rows[("linux", "none")]["host_interface"] == rows[("linux", "none")]["abi_calls"]
    assert rows[("cofferos", "none")]["shared_objects"] == 0
    assert rows[("linux", "none")]["shared_objects"] >= 4  # mount_lock, tasklist_lock, tasks, RAM
    assert "linux" in result.finding
    figure = tmp_path / "surface.png"
    result.draw(str(figure))
    assert figure.stat().st_size > 0
