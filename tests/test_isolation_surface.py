"""The ``surface`` experiment: calls reachable per personality, kernel objects shared."""

from __future__ import annotations

import simpy

from cofferos.sim.isolation import surface
from cofferos.sim.isolation.common import ExperimentParams
from cofferos.sim.locks import CALL_LOCKS, LockTable

NS_PER_CYCLE = 1 / 3


def test_hardened_reaches_fewer_calls_than_none() -> None:
    none = surface.passing(())
    docker = surface.passing(("hardened",))
    minimal = surface.passing(("hardened:profile=minimal",))
    assert docker < none and "mount" in none and "mount" not in docker
    own = surface.implemented()
    assert len(minimal & own) < len(docker & own) <= len(none & own) == len(own)


def test_shared_kernel_shares_locks_and_task_table_coffers_share_none() -> None:
    linux = surface.shared_objects("linux", 2, seed=0)
    assert {"lock dcache@kernel", "lock tasklist@kernel", "lock mount@kernel",
            "task table@host", "RAM"} <= set(linux)
    assert linux["lock dcache@kernel"] == ["c0", "c1"]
    assert surface.shared_objects("cofferos", 2, seed=0) == {}


def test_a_lock_taken_by_two_containers_is_counted() -> None:
    env = simpy.Environment()
    shared, private = LockTable(env, shared_kernel=True), LockTable(env, shared_kernel=False)
    for table in (shared, private):
        for container in ("a", "b"):
            env.process(table.take(CALL_LOCKS["stat"], container, 0, NS_PER_CYCLE, [0.0]))
    env.run()
    assert shared.lock("dcache", "a").users == {"a", "b"}
    assert private.lock("dcache", "a").users == {"a"}
    # The summed replay path notes users without taking the lock.
    noted = LockTable(env, shared_kernel=True)
    calls = [(None, nr, 0, 0) for nr in (4,)]  # newfstatat's old number 4: stat
    noted.note("a", calls, [CALL_LOCKS["stat"]] * 5)
    noted.note("b", calls, [CALL_LOCKS["stat"]] * 5)
    assert noted.lock("mount", "x").users == {"a", "b"}


def test_run_rows_finding_and_figure(tmp_path) -> None:
    result = surface.run(ExperimentParams(kernels=("linux", "cofferos"), containers=2))
    rows = {(r["kernel"], r["personalities"]): r for r in result.rows}
    assert rows[("linux", "none")]["abi_calls"] < rows[("cofferos", "none")]["abi_calls"]
    assert rows[("cofferos", "none")]["host_interface"] == 0
    assert rows[("linux", "none")]["host_interface"] == rows[("linux", "none")]["abi_calls"]
    assert rows[("cofferos", "none")]["shared_objects"] == 0
    assert rows[("linux", "none")]["shared_objects"] >= 5
    assert "linux" in result.finding
    figure = tmp_path / "surface.png"
    result.draw(str(figure))
    assert figure.stat().st_size > 0
