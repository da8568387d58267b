"""Many containers on one machine: shared engine pools and containers started late.

A run of many containers (:func:`cofferos.sim.experiment.run_mix`) gives its
coffers one engine pool and spawns each container whose program an earlier one
already started only when it first gets a core (:meth:`Machine.defer_start`).
These check that this changes nothing in the run (every figure equal to the run
that spawns every container first) and that a waiting or ended container holds
no engine.
"""

from __future__ import annotations

import io

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.domain import KernelDomain
from cofferos.coffers.engines import EnginePool
from cofferos.sim.experiment import ContainerSpec, RunReport, run_mix
from cofferos.sim.machine import Machine, MachineConfig
from cofferos.workloads import build

HELLO_OUTPUT = b"hello from a coffer\nargc=1\n"


def _figures(report: RunReport) -> tuple[object, ...]:
    """Everything a run reports that depends on simulated time or the guests."""
    return (report.simulated_seconds, report.breakdown,
            [(c.name, c.exit_code, c.ops, c.seconds, c.cycles, c.calls, c.instructions,
              c.stdout, c.stderr, c.end_reason, c.cut_off) for c in report.containers])


def _both(workload: str, args: tuple[str, ...], kernel: str, containers: int, cores: int,
          machine: MachineConfig | None = None) -> tuple[RunReport, RunReport]:
    spec = ContainerSpec(str(build(workload)), args)
    return tuple(run_mix([spec] * containers, kernel=kernel, cores=cores, machine=machine,
                         defer_starts=defer) for defer in (False, True))  # type: ignore[return-value]


@pytest.mark.parametrize("kernel", ["linux", "cofferos", "vm"])
def test_starting_containers_when_they_first_run_changes_nothing(kernel: str) -> None:
    """More containers than cores, so that later ones start while earlier ones replay:
    on a shared kernel (linux) a container's replay waits for locks, and its engine,
    wiped at its exit, is meanwhile run by the next container (the replay once read
    that engine's count after the wait: another container's cycles)."""
    eager, deferred = _both("hello", (), kernel, 10, 3)
    assert all(c.stdout == HELLO_OUTPUT for c in deferred.containers)
    assert _figures(deferred) == _figures(eager)


@pytest.mark.parametrize(("workload", "args"), [("forkexec", ()), ("threads", ("4", "200")),
                                                ("metadata", ("/tmp/shared", "30"))])
def test_forks_threads_and_shared_locks_are_the_same_started_late(
        workload: str, args: tuple[str, ...]) -> None:
    eager, deferred = _both(workload, args, "linux", 5, 2)
    assert all(c.exit_code == 0 for c in deferred.containers)
    assert _figures(deferred) == _figures(eager)


def test_a_container_the_time_limit_stops_before_it_started_ends_as_a_started_one() -> None:
    eager, deferred = _both("hello", (), "linux", 12, 2, MachineConfig(until_ns=150_000))
    assert deferred.containers[-1].cut_off and deferred.containers[-1].exit_code == 137
    assert _figures(deferred) == _figures(eager)


def _hello_coffers(count: int, pool: EnginePool,
                   domain: KernelDomain) -> tuple[list[Coffer], list[io.BytesIO]]:
    coffers, outputs = [], []
    for index in range(count):
        out = io.BytesIO()
        coffer = Coffer(CofferConfig(name=f"c{index}", page_faults=True), stdin=io.BytesIO(),
                        stdout=out, stderr=io.BytesIO(), domain=domain)
        coffer.engines = pool
        coffers.append(coffer)
        outputs.append(out)
    return coffers, outputs


def test_a_waiting_container_holds_no_engine_and_an_ended_one_hands_it_on() -> None:
    program = str(build("hello"))
    pool, domain = EnginePool(), KernelDomain(name="host")
    coffers, outputs = _hello_coffers(30, pool, domain)
    coffers[0].spawn(program, ["hello"])
    machine = Machine(MachineConfig(cores=2, kernel="linux"), coffers)
    for coffer in coffers[1:]:
        machine.defer_start(coffer, lambda c=coffer: c.spawn(program, ["hello"]))
    waiting = coffers[1]
    assert waiting.init is None and not waiting.tasks  # no task, so no engine, no program
    assert domain.live_tasks() == 30  # but its kernel counts its init as live already
    assert pool.made == 1
    machine.run()
    assert all(c.result().exit_code == 0 for c in coffers)
    assert all(out.getvalue() == HELLO_OUTPUT for out in outputs)
    # Two cores: at most a few engines at once, handed from each ended container to the next.
    assert pool.made <= 4 and pool.reused >= 26
    assert domain.live_tasks() == 0


def test_a_coffer_with_personalities_is_never_started_late() -> None:
    coffer = Coffer(CofferConfig(personalities=("linux",)))
    machine = Machine(MachineConfig(cores=1), [coffer])
    with pytest.raises(ValueError, match="starts eagerly"):
        machine.defer_start(coffer, lambda: None)


def test_an_engine_from_a_shared_pool_answers_to_its_new_coffer() -> None:
    """Wiped at one coffer's exit, taken by another: its trap, clock and TLB hook are
    the new coffer's (a guest's calls served by the old kernel would be a leak)."""
    program = str(build("hello"))
    pool = EnginePool()
    (first, second), (_, out) = _hello_coffers(2, pool, KernelDomain(name="host"))
    first.spawn(program, ["hello"])
    first.run()
    assert len(pool) == 1
    second.spawn(program, ["hello"])
    assert len(pool) == 0 and pool.reused == 1
    second.run()
    assert out.getvalue() == HELLO_OUTPUT
    assert second.stats.calls == first.stats.calls and second.stats.page_faults > 0


def test_containers_of_one_program_cost_its_blocks_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Block costs depend only on the program file and the cost model: a run's coffers
    share them (each had disassembled and costed every block of the same program)."""
    from cofferos.isa.costs import BlockCoster

    costed: list[int] = []
    cost = BlockCoster.cost
    monkeypatch.setattr(BlockCoster, "cost",
                        lambda self, *args: costed.append(1) or cost(self, *args))
    spec = ContainerSpec(str(build("hello")))
    one = run_mix([spec], kernel="linux", cores=2)
    alone = len(costed)
    many = run_mix([spec] * 6, kernel="linux", cores=2)
    assert alone > 0 and len(costed) - alone <= alone  # not six times over
    assert many.containers[5].cycles == one.containers[0].cycles


def test_an_ended_process_engine_is_wiped_at_its_exit() -> None:
    """Its memory is given back at the exit, by the wipe (the one end of an engine's
    life), so an engine waiting in the pool holds no guest memory; the next coffer
    takes it and loads its program anew."""
    program = str(build("hello"))
    pool = EnginePool()
    first, second = (Coffer(CofferConfig(name=name), stdin=io.BytesIO(), stdout=io.BytesIO(),
                            stderr=io.BytesIO()) for name in ("first", "second"))
    for coffer in (first, second):
        coffer.engines = pool
    first.spawn(program, ["hello"])
    assert first.block_space.used_bytes > 0
    first.run()
    assert first.block_space.used_bytes == 0
    (engine,) = pool._free[first.engine_kind]  # noqa: SLF001
    assert not engine.memory_map.blocks  # wiped: its host blocks are back
    second.spawn(program, ["hello"])
    assert pool.reused == 1
    assert [task.cpu for task in second.tasks.values()] == [engine]
    assert second.run().exit_code == 0
