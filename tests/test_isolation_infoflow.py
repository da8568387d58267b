"""The ``infoflow`` experiment: channels follow from where kernel state lives.

Container A runs quiet, then busy; container B observes. On a shared kernel
(``linux``) B sees A's tasks, RAM and page cache; with a kernel per container
(``cofferos``, ``vm``, ``sandbox``) nothing of kernel state flows. A detector
test puts two coffers in one kernel domain on purpose and must find a channel.
"""

from __future__ import annotations

import pytest

from cofferos.coffers.domain import KernelDomain
from cofferos.sim import experiment
from cofferos.sim.isolation import infoflow
from cofferos.sim.isolation.common import ALL_KERNELS, ExperimentParams

#: Short runs: A holds for 3 ms, B observes after 1 ms with 50 stat calls.
SMALL = {"delay_us": 1000, "hold_us": 3000, "stat_loops": 50}


def kernel_channels(result, kernel: str) -> set[str]:
    """The channels kernel values or work carried (not the scheduler's placement)."""
    return {row["channel"] for row in result.rows
            if row["kernel"] == kernel and row["via"] == infoflow.STATE}


@pytest.fixture(scope="module")
def result():
    return infoflow.run(ExperimentParams(kernels=ALL_KERNELS, containers=2, options=SMALL))


def test_shared_kernel_leaks_load_memory_and_tasks(result) -> None:
    found = kernel_channels(result, "linux")
    assert {"loadavg", "meminfo.MemFree", "sysinfo.procs", "sysinfo.freeram"} <= found


def test_global_fork_count_leaks_only_on_shared_kernel(result) -> None:
    """/proc/stat ``processes`` counts the whole kernel's forks (no PID namespace splits
    it): B sees A's children on linux, and only its own elsewhere."""
    assert "stat.processes" in kernel_channels(result, "linux")
    rows = {row["kernel"]: row for row in result.rows if row["channel"] == "stat.processes"}
    assert int(rows["linux"]["run2"]) > int(rows["linux"]["run1"])  # A's forks counted
    assert "stat.processes" not in kernel_channels(result, "cofferos")


def test_page_cache_timing_channel_only_on_shared_kernel(result) -> None:
    assert "pagecache.read_ns" in kernel_channels(result, "linux")
    assert "pagecache.read_ns" not in kernel_channels(result, "cofferos")
    rows = {row["kernel"]: row for row in result.rows if row["channel"] == "pagecache.read_ns"}
    assert int(rows["linux"]["run1"]) > int(rows["linux"]["run2"])  # A warmed B's cache


@pytest.mark.parametrize("kernel", ["cofferos", "vm", "sandbox"])
def test_no_kernel_state_channel_with_a_kernel_per_container(result, kernel: str) -> None:
    assert kernel_channels(result, kernel) == set()
    summary = next(r for r in result.summary if r["kernel"] == kernel)
    # what remains can only be the scheduler's, and it counts as a kernel channel
    assert summary["kernel_channels"] == summary["scheduler_channels"]
    assert summary["observables"] > 10


def _observation(stat_ns: str, cycles: int = 1000) -> infoflow.Observation:
    return infoflow.Observation({"clock.stat_loop_ns": stat_ns, "loadavg": "0.00"}, [],
                                kernel_cycles=cycles, lock_wait_ns=0.0)


def test_the_scheduler_channel_is_a_kernel_channel() -> None:
    """A timing that differs while the kernel did the same work for B: the CPU scheduler
    placed A's task on B's core. The scheduler is kernel state: a kernel channel, and
    it fails the isolation check."""
    from cofferos.sim.isolation.common import ExperimentResult

    rows = infoflow._channels(_observation("5000"), _observation("5001"))
    assert rows == [{"channel": "clock.stat_loop_ns", "kind": infoflow.KERNEL,
                     "via": infoflow.SCHEDULER, "run1": "5000", "run2": "5001"}]
    summary = [{"kernel": "cofferos", "kernel_channels": 1, "scheduler_channels": 1}]
    result = ExperimentResult("infoflow", [{"kernel": "cofferos", **rows[0]}], {}, "",
                              summary=summary)
    assert infoflow.isolation_checks(result) == {("cofferos", "none"): [("infoflow", False)]}
    # kernel work that differs makes it a channel via kernel state
    state = infoflow._channels(_observation("5000"), _observation("5001", cycles=2000))
    assert state[0]["via"] == infoflow.STATE


def test_finding_and_figure(result, tmp_path) -> None:
    assert "linux" in result.finding and "loadavg" in result.finding
    assert "cofferos 0" in result.finding
    figure = tmp_path / "infoflow.png"
    result.draw(str(figure))
    assert figure.stat().st_size > 0


def test_detector_finds_a_channel_between_coffers_in_one_domain(monkeypatch) -> None:
    """Two coffers deliberately placed in one kernel domain: the loadavg channel appears."""
    def one_domain(configs, kernel, machine):
        shared = KernelDomain(name="forced", threads_max=machine.threads_max)
        return [shared] * len(configs), None

    monkeypatch.setattr(experiment, "place", one_domain)
    forced = infoflow.run(ExperimentParams(kernels=("cofferos",), containers=2, options=SMALL))
    assert {"loadavg", "sysinfo.procs"} <= kernel_channels(forced, "cofferos")


def test_the_figure_of_a_run_without_channels(tmp_path) -> None:
    """No channel found (cofferos alone at 2 containers on 2 cores): the matrix has one
    empty row, labelled, and the figure is drawn (it was a matplotlib ValueError: one
    tick label for no tick)."""
    out = tmp_path / "infoflow.png"
    infoflow._draw({"cofferos": []}, str(out))
    assert out.read_bytes()[:4] == b"\x89PNG"
